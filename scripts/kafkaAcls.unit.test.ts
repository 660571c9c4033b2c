// Who may write what: only the relay, Connect and the operators' tools may write an event topic; the
// consumers read them and write only their dead-letter topics; nobody gets ALTER on the cluster or a wildcard.
// And the principals come from KAFKA_ACL_*_PRINCIPAL, each bad one refused naming its variable.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../config/env.ts";
import { parsePrincipals } from "../kafka/acls.ts";
import { configProblems } from "../test/configProblems.ts";
import { type AclPrincipals, loadAclPrincipals, platformAclResources, platformAcls } from "./kafkaAcls.ts";

const principals: AclPrincipals = {
  relay: ["User:relay"],
  connect: ["User:CN=connect,O=Example"],
  consumers: ["User:consumers"],
  operators: ["User:operator"],
};
const resources = platformAclResources({});
const plan = platformAcls(principals, resources);

const grantsOf = (principal: string) =>
  plan
    .filter((acl) => acl.principal === principal)
    .map(
      (acl) =>
        `${acl.operation} ${acl.resourceType} ${acl.resourceName}${acl.pattern === "PREFIXED" ? "*" : ""}`,
    );

describe("the platform's ACLs", () => {
  it("let only the relay, Connect and the operators write an event topic", () => {
    const writers = new Set(
      plan
        .filter((acl) => acl.operation === "WRITE" && resources.eventTopics.includes(acl.resourceName))
        .map((acl) => acl.principal),
    );
    expect([...writers].sort()).toEqual(["User:CN=connect,O=Example", "User:operator", "User:relay"]);
  });

  it("give the relay WRITE, DESCRIBE and DESCRIBE_CONFIGS on each event topic and its transactional ids, no more", () => {
    expect(grantsOf("User:relay").sort()).toEqual(
      [
        ...resources.eventTopics.flatMap((topic) => [
          `WRITE TOPIC ${topic}`,
          `DESCRIBE TOPIC ${topic}`,
          `DESCRIBE_CONFIGS TOPIC ${topic}`,
        ]),
        "WRITE TRANSACTIONAL_ID outbox-relay-*",
        "DESCRIBE TRANSACTIONAL_ID outbox-relay-*",
      ].sort(),
    );
  });

  it("let the consumers read the event topics in their own groups and write only the dead-letter topics", () => {
    const grants = grantsOf("User:consumers");
    expect(grants).toContain("READ TOPIC patient-events");
    expect(grants).toContain("READ GROUP patient-directory");
    expect(grants).toContain("WRITE TOPIC patient-events.dlq");
    expect(grants.filter((grant) => grant.startsWith("WRITE "))).toEqual(
      resources.deadLetterTopics.map((topic) => `WRITE TOPIC ${topic}`),
    );
    expect(grants.some((grant) => grant.includes("TRANSACTIONAL_ID"))).toBe(false);
  });

  it("give Connect its state topics, its group and the transactional ids of exactly-once source support", () => {
    const grants = grantsOf("User:CN=connect,O=Example");
    expect(grants).toEqual(
      expect.arrayContaining([
        "WRITE TOPIC patient-events",
        "WRITE TOPIC __debezium-heartbeat.*",
        "READ TOPIC connect-offsets",
        "CREATE TOPIC connect-configs",
        "READ GROUP healthcare-connect",
        "WRITE TRANSACTIONAL_ID connect-cluster-healthcare-connect",
        "WRITE TRANSACTIONAL_ID healthcare-connect-*",
      ]),
    );
    expect(grants.some((grant) => grant.endsWith(".dlq"))).toBe(false);
  });

  it("grant nobody anything on the cluster, IDEMPOTENT_WRITE, DELETE or a wildcard", () => {
    expect(plan.filter((acl) => acl.resourceType === "CLUSTER")).toEqual([]);
    expect(plan.filter((acl) => acl.operation === "IDEMPOTENT_WRITE" || acl.operation === "DELETE")).toEqual(
      [],
    );
    expect(plan.filter((acl) => acl.resourceName === "" || acl.resourceName === "*")).toEqual([]);
  });

  it("grant a role with no principal nothing", () => {
    const relayOnly = platformAcls(
      { relay: ["User:relay"], connect: [], consumers: [], operators: [] },
      resources,
    );
    expect(new Set(relayOnly.map((acl) => acl.role))).toEqual(new Set(["relay"]));
  });
});

describe("KAFKA_ACL_*_PRINCIPAL", () => {
  it("takes User:<name>, a distinguished name with its commas, several separated by ;", () => {
    expect(
      loadAclPrincipals({
        KAFKA_ACL_RELAY_PRINCIPAL: "User:outbox-relay",
        KAFKA_ACL_CONSUMER_PRINCIPAL: " User:CN=consumers,O=Example ; User:consumers-2 ",
      }),
    ).toEqual({
      relay: ["User:outbox-relay"],
      connect: [],
      consumers: ["User:CN=consumers,O=Example", "User:consumers-2"],
      operators: [],
    });
  });

  it("refuses each bad one, naming its variable", () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadAclPrincipals(env);
        return [];
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).problems;
      }
    };
    expect(problems({})[0]).toMatch(/^KAFKA_ACL_RELAY_PRINCIPAL, .*: none is set/);
    expect(problems({ KAFKA_ACL_RELAY_PRINCIPAL: "outbox-relay" })).toEqual([
      'KAFKA_ACL_RELAY_PRINCIPAL="outbox-relay": not a principal; expected User:<name>, a SASL user name or a ' +
        "certificate's distinguished name (User:CN=outbox-relay)",
    ]);
    expect(problems({ KAFKA_ACL_OPERATOR_PRINCIPAL: "User:*" })[0]).toMatch(
      /^KAFKA_ACL_OPERATOR_PRINCIPAL="User:\*": User:\* is every principal/,
    );
    expect(problems({ KAFKA_ACL_CONNECT_PRINCIPAL: "User:a;;User:b" })[0]).toMatch(
      /^KAFKA_ACL_CONNECT_PRINCIPAL: an empty entry \(entry 2/,
    );
    expect(
      problems({ KAFKA_ACL_RELAY_PRINCIPAL: "User:shared", KAFKA_ACL_CONSUMER_PRINCIPAL: "User:shared" }),
    ).toEqual([
      "KAFKA_ACL_CONSUMER_PRINCIPAL: User:shared is also in KAFKA_ACL_RELAY_PRINCIPAL; give each role a " +
        "principal of its own, or one role's credential carries the other's rights",
    ]);
  });

  it("refuses a principal listed twice in one role, naming the variable, the principal and where", () => {
    expect(
      parsePrincipals("KAFKA_ACL_CONSUMER_PRINCIPAL", "User:consumers;User:consumers-2; User:consumers"),
    ).toEqual({
      problem:
        "KAFKA_ACL_CONSUMER_PRINCIPAL: User:consumers is listed more than once (entry 3 of the ;-separated list)",
    });
    expect(
      configProblems(loadAclPrincipals, {
        KAFKA_ACL_RELAY_PRINCIPAL: "User:outbox-relay",
        KAFKA_ACL_OPERATOR_PRINCIPAL: "User:CN=ops,O=Example;User:CN=ops,O=Example",
      }),
    ).toEqual([
      "KAFKA_ACL_OPERATOR_PRINCIPAL: User:CN=ops,O=Example is listed more than once (entry 2 of the ;-separated list)",
    ]);
    // Kafka compares principals as written: User:Ops is another principal than User:ops.
    expect(parsePrincipals("V", "User:ops;User:Ops")).toEqual({ principals: ["User:ops", "User:Ops"] });
  });

  it("refuses a name with a control character or a blank at its ends", () => {
    expect(parsePrincipals("V", "User:a\tb")).toEqual({
      problem: 'V="User:a\\tb": the name holds a control character (a tab, a line break)',
    });
    expect(parsePrincipals("V", "User: a")).toEqual({
      problem: 'V="User: a": the name starts or ends with a blank',
    });
  });
});
