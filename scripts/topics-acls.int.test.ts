// `npm run topics -- acls` on a broker that checks ACLs (StandardAuthorizer; test/secureKafka.ts): each
// principal gets exactly its grants and a second run changes nothing; the relay's principal publishes and a
// consumer's reads; a consumer's principal, or one granted nothing, cannot write an event topic, nor take the
// relay's transactional id: the broker refuses, and nothing lands on the topic.
import { randomUUID } from "node:crypto";
import kafkajs from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeAllowed, describeBinding, type HeldAcl } from "../kafka/acls.ts";
import {
  type Admin,
  createConsumer,
  createIdempotentProducer,
  createKafka,
  createTransactionalProducer,
} from "../kafka/client.ts";
import { spawnScript } from "../test/childProcess.ts";
import { createPatients, eventually, testDatabase } from "../test/fixtures.ts";
import { expectExactlyOnce } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import {
  type AclUser,
  aclPrincipals,
  aclPrincipalVariables,
  aclUserSecurity,
  applyCatalogTopics,
  principalOf,
  runTopicsAsAdministrator,
  saslBrokers,
  saslSecurity,
  securityVariables,
  startSecureKafka,
  superUserAdmin,
} from "../test/secureKafka.ts";
import { platformAclResources, platformAcls } from "./kafkaAcls.ts";

const db = testDatabase();
// The cluster's administrator: a super user. Made once the broker's CA exists.
let admin: Admin;

beforeAll(async () => {
  await startSecureKafka();
  await applyCatalogTopics();
  admin = superUserAdmin("test-acls-admin");
  await admin.connect();
}, 240_000);
afterAll(async () => {
  await admin.disconnect();
  await db.$client.end();
});

const plan = platformAcls(aclPrincipals, platformAclResources());
const planned = new Set(plan.map(describeBinding));

/** The ALLOW bindings the broker holds for the four roles' principals, as `kafka-acls --list` says them. */
async function brokerBindings(): Promise<string[]> {
  const ours = new Set(Object.values(aclPrincipals).flat());
  return (await describeAllowed(admin))
    .filter((binding: HeldAcl) => ours.has(binding.principal))
    .map(describeBinding)
    .sort();
}

const kafkaOf = (user: AclUser) =>
  createKafka({
    brokers: saslBrokers,
    clientId: `test-acls-${user}`,
    security: aclUserSecurity(user),
    retries: 1,
  });

/** Kafka's error names anywhere in `error`'s chain (kafkajs wraps a refusal in retry and aggregate errors). */
function kafkaErrorTypes(error: unknown): string[] {
  const types: string[] = [];
  const visit = (value: unknown, depth: number) => {
    if (value === null || typeof value !== "object" || depth > 8) return;
    const { type, cause, originalError, errors } = value as Record<string, unknown>;
    if (typeof type === "string") types.push(type);
    for (const next of [cause, originalError, ...(Array.isArray(errors) ? errors : [])])
      visit(next, depth + 1);
  };
  visit(error, 0);
  return types;
}

const { READ, WRITE } = kafkajs.AclOperationTypes;

/** A binding on a literal topic, from any host, as kafkajs' createAcls takes it. */
function kafkajsAcl(acl: {
  principal: string;
  resourceName: string;
  operation: number;
  deny?: boolean;
  host?: string;
}) {
  return {
    resourceType: kafkajs.AclResourceTypes.TOPIC,
    resourceName: acl.resourceName,
    resourcePatternType: kafkajs.ResourcePatternTypes.LITERAL,
    principal: acl.principal,
    host: acl.host ?? "*",
    operation: acl.operation,
    permissionType: acl.deny ? kafkajs.AclPermissionTypes.DENY : kafkajs.AclPermissionTypes.ALLOW,
  };
}

async function patientEventsEnd(): Promise<string[]> {
  return (await admin.fetchTopicOffsets("patient-events"))
    .sort((a, b) => a.partition - b.partition)
    .map(({ partition, high }) => `${partition}:${high}`);
}

describe("npm run topics -- acls", () => {
  it("grants each role's principal exactly its ACLs, and a second run creates nothing and lists all as kept", async () => {
    const before = await brokerBindings();
    const first = await runTopicsAsAdministrator(["acls"], aclPrincipalVariables);
    expect(first.code, first.output).toBe(0);
    const toCreate = [...planned].filter((binding) => !before.includes(binding)).length;
    expect(first.output).toContain(`${toCreate} created, ${planned.size - toCreate} kept, 0 deleted`);
    expect(await brokerBindings()).toEqual([...planned].sort());

    const second = await runTopicsAsAdministrator(["acls"], aclPrincipalVariables);
    expect(second.code, second.output).toBe(0);
    expect(second.output).toContain(`0 created, ${planned.size} kept, 0 deleted`);
    expect(second.output).not.toMatch(/\bcreated\s*$/m);
    expect(await brokerBindings()).toEqual([...planned].sort());
  });

  it.each([
    [
      "a principal not in User:<name> form",
      { KAFKA_ACL_CONSUMER_PRINCIPAL: "consumer-principal" },
      'KAFKA_ACL_CONSUMER_PRINCIPAL="consumer-principal": not a principal',
    ],
    [
      "one principal in two roles",
      { KAFKA_ACL_RELAY_PRINCIPAL: principalOf("consumer") },
      `KAFKA_ACL_CONSUMER_PRINCIPAL: ${principalOf("consumer")} is also in KAFKA_ACL_RELAY_PRINCIPAL`,
    ],
  ])("refuses %s, naming the variable, and changes no ACL", async (_, variables, problem) => {
    const before = await brokerBindings();
    const refused = await runTopicsAsAdministrator(["acls"], { ...aclPrincipalVariables, ...variables });
    expect(refused.code, refused.output).toBe(1);
    expect(refused.output).toContain(problem);
    expect(await brokerBindings()).toEqual(before);
  });
  it("--dry-run lists what it would create and changes nothing", async () => {
    const before = await brokerBindings();
    const extra = { KAFKA_ACL_OPERATOR_PRINCIPAL: `${principalOf("operator")};User:second-operator` };
    const dry = await runTopicsAsAdministrator(["acls", "--dry-run"], { ...aclPrincipalVariables, ...extra });
    expect(dry.code, dry.output).toBe(0);
    expect(dry.output).toMatch(/User:second-operator\s+READ\s+TOPIC\s+patient-events\s+to create/);
    expect(dry.output).toMatch(/ to create, \d+ kept, 0 to delete/);
    expect(await brokerBindings()).toEqual(before);
    expect((await describeAllowed(admin)).some((acl) => acl.principal === "User:second-operator")).toBe(
      false,
    );
  });

  it("deletes nothing it did not create unless --prune; then only the stale ALLOW bindings on its resources", async () => {
    const applied = await runTopicsAsAdministrator(["acls"], aclPrincipalVariables);
    expect(applied.code, applied.output).toBe(0);
    // A relay principal since replaced, on one of the platform's resources; and someone else's binding on a topic
    // of their own, and a DENY on an event topic, which pruning must leave alone.
    const stale = { principal: "User:old-relay", resourceName: "patient-events" };
    // And grants the project never writes, which prune must see all the same: ALL (every operation), and one
    // bound to a host; a stranger's too. Left, any of them let a principal write an event topic.
    const ALL = kafkajs.AclOperationTypes.ALL;
    await admin.createAcls({
      acl: [
        kafkajsAcl({ principal: stale.principal, resourceName: stale.resourceName, operation: WRITE }),
        kafkajsAcl({ principal: stale.principal, resourceName: stale.resourceName, operation: ALL }),
        kafkajsAcl({ ...stale, operation: WRITE, host: "127.0.0.1" }),
        kafkajsAcl({ principal: "User:stranger", resourceName: "audit-events", operation: ALL }),
        kafkajsAcl({
          principal: "User:stranger",
          resourceName: "audit-events",
          operation: WRITE,
          host: "127.0.0.1",
        }),
        kafkajsAcl({ principal: "User:monitor", resourceName: "monitoring-topic", operation: READ }),
        kafkajsAcl({
          principal: "User:old-relay",
          resourceName: "audit-events",
          operation: WRITE,
          deny: true,
        }),
      ],
    });
    const staleKey = `${stale.principal} WRITE TOPIC ${stale.resourceName}`;
    const listed = async () => (await describeAllowed(admin)).map(describeBinding);
    await eventually(async () => (await listed()).includes(staleKey), 30_000);

    const kept = await runTopicsAsAdministrator(["acls"], aclPrincipalVariables);
    expect(kept.code, kept.output).toBe(0);
    expect(kept.output).toContain(`0 created, ${planned.size} kept, 0 deleted`);
    expect(await listed()).toContain(staleKey);

    const refused = await runTopicsAsAdministrator(["acls", "--prune"], aclPrincipalVariables);
    expect(refused.code, "pruning without --yes and no terminal").toBe(2);
    // Refused before anything is listed: the question names none as listed.
    expect(refused.output).toContain(
      "Delete the ALLOW ACLs --prune finds to delete (--prune --dry-run lists them): not confirmed",
    );
    expect(await listed()).toContain(staleKey);

    const strays = [
      /User:old-relay\s+WRITE\s+TOPIC\s+patient-events\s+/,
      /User:old-relay\s+ALL\s+TOPIC\s+patient-events\s+/,
      /User:old-relay\s+WRITE\s+TOPIC\s+patient-events \(from 127\.0\.0\.1 only\)\s+/,
      /User:stranger\s+ALL\s+TOPIC\s+audit-events\s+/,
      /User:stranger\s+WRITE\s+TOPIC\s+audit-events \(from 127\.0\.0\.1 only\)\s+/,
    ];
    const before = await listed();
    const dry = await runTopicsAsAdministrator(["acls", "--prune", "--dry-run"], aclPrincipalVariables);
    expect(dry.code, dry.output).toBe(0);
    expect(dry.output).toContain(`0 to create, ${planned.size} kept, 5 to delete`);
    for (const stray of strays) expect(dry.output).toMatch(new RegExp(`${stray.source}to delete`));
    expect((await listed()).sort()).toEqual(before.sort());

    const pruned = await runTopicsAsAdministrator(["acls", "--prune", "--yes"], aclPrincipalVariables);
    expect(pruned.code, pruned.output).toBe(0);
    expect(pruned.output).toContain(`0 created, ${planned.size} kept, 5 deleted`);
    for (const stray of strays) expect(pruned.output).toMatch(new RegExp(`${stray.source}deleted`));
    const after = await listed();
    expect(after).not.toContain(staleKey);
    expect(after.filter((binding) => /^User:(old-relay|stranger) /.test(binding))).toEqual([]);
    expect(after).toContain("User:monitor READ TOPIC monitoring-topic");
    const denied = await admin.describeAcls({
      resourceType: kafkajs.AclResourceTypes.TOPIC,
      resourceName: "audit-events",
      resourcePatternType: kafkajs.ResourcePatternTypes.LITERAL,
      principal: "User:old-relay",
      operation: kafkajs.AclOperationTypes.ANY,
      permissionType: kafkajs.AclPermissionTypes.DENY,
    });
    expect(denied.resources.flatMap((resource) => resource.acls)).toHaveLength(1);
    expect(await brokerBindings()).toEqual([...planned].sort());
  });
});

describe("with the ACLs applied", () => {
  beforeAll(async () => {
    const applied = await runTopicsAsAdministrator(["acls"], aclPrincipalVariables);
    expect(applied.code, applied.output).toBe(0);
  });

  it("the relay's principal publishes each committed event, and a consumer's principal reads it in its group", async () => {
    const tap = await tapTopic(saslBrokers, "patient-events", saslSecurity("scram-sha-512"));
    const relay = spawnScript("relay/main.ts", {
      env: {
        PORT: "0",
        LOG_LEVEL: "info",
        KAFKA_BROKERS: saslBrokers.join(","),
        ...securityVariables(aclUserSecurity("relay")),
      },
    });
    let eventIds: string[] = [];
    try {
      eventIds = await createPatients(db, 3);
      expectExactlyOnce(await tap.collect({ done: containsAll(eventIds), timeoutMs: 90_000 }), eventIds);
    } finally {
      relay.child.kill("SIGTERM");
      await relay.exited;
    }

    // The patient directory's group, as the consumers process joins it (consumers/config.ts).
    const consumer = createConsumer(kafkaOf("consumer"), { groupId: "patient-directory" });
    const seen = new Set<string>();
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: "patient-events", fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ message }) => {
          const eventId = message.headers?.eventId?.toString();
          if (eventId) seen.add(eventId);
        },
      });
      await eventually(async () => eventIds.every((eventId) => seen.has(eventId)), 60_000);
    } finally {
      await consumer.disconnect();
    }
  });

  it("the operators' principal brings the topics in line and lists the dead letters", async () => {
    const asOperator = {
      KAFKA_BROKERS: saslBrokers.join(","),
      ...securityVariables(aclUserSecurity("operator")),
    };
    const topics = spawnScript("scripts/topics.ts", { env: asOperator });
    expect(await topics.exited, topics.output()).toBe(0);
    expect(topics.output()).toMatch(/0 created, 0 updated, \d+ unchanged/);
    const dlq = spawnScript("consumers/dlq.ts", { args: ["list"], env: asOperator });
    expect(await dlq.exited, dlq.output()).toBe(0);
  });

  it.each([
    ["a consumer's principal", "consumer"],
    ["a principal granted nothing", "stranger"],
  ] as const)("%s cannot write an event topic: the broker refuses it and nothing lands", async (_, user) => {
    const tap = await tapTopic(saslBrokers, "patient-events", saslSecurity("scram-sha-512"));
    const endBefore = await patientEventsEnd();
    const forged = { eventId: randomUUID(), patientId: randomUUID() };
    const producer = createIdempotentProducer(kafkaOf(user));
    const sent = (async () => {
      await producer.connect();
      await producer.send({
        topic: "patient-events",
        acks: -1,
        messages: [
          {
            key: forged.patientId,
            value: JSON.stringify({ eventId: forged.eventId, eventType: "patient.consent.changed" }),
            headers: { eventId: forged.eventId, eventType: "patient.consent.changed" },
          },
        ],
      });
    })();
    const error = await sent.then(
      () => undefined,
      (refusal: unknown) => refusal,
    );
    await producer.disconnect().catch(() => {});
    expect(error, "the broker took the forged record").toBeDefined();
    // The consumer's principal may write (its dead-letter topics), so its producer starts and the send itself
    // is refused; one granted nothing is refused the topic's metadata or a producer id at all.
    const types = kafkaErrorTypes(error);
    if (user === "consumer") expect(types).toContain("TOPIC_AUTHORIZATION_FAILED");
    else
      expect(
        types.some((type) => /_AUTHORIZATION_FAILED$/.test(type)),
        String(types),
      ).toBe(true);

    expect(await patientEventsEnd()).toEqual(endBefore);
    const landed = (await tap.read()).filter(({ message }) => message.key?.toString() === forged.patientId);
    expect(landed).toEqual([]);
  });

  it("a consumer's principal cannot take the relay's transactional id: the relay holding it is not fenced", async () => {
    const transactionalId = `outbox-relay-polling-${randomUUID()}`;
    const tap = await tapTopic(saslBrokers, "patient-events", saslSecurity("scram-sha-512"));
    const relay = createTransactionalProducer(kafkaOf("relay"), transactionalId);
    await relay.connect();
    try {
      const usurper = createTransactionalProducer(kafkaOf("consumer"), transactionalId);
      // kafkajs reports the broker's TRANSACTIONAL_ID_AUTHORIZATION_FAILED (to FindCoordinator) as a coordinator
      // it could not find; the producer names the id and the grant instead. That the relay goes on below shows
      // the id was never taken over.
      const refusal = await usurper.connect().then(
        () => undefined,
        (error: unknown) => error,
      );
      await usurper.disconnect().catch(() => {});
      expect(refusal, "the consumer's principal took over the relay's transactional id").toBeInstanceOf(
        Error,
      );
      expect((refusal as Error).message).toContain(
        `transactional id ${transactionalId}: this principal is not authorized to use it`,
      );

      const eventId = randomUUID();
      await relay.transaction(async (transaction) => {
        await transaction.sendBatch({
          acks: -1,
          topicMessages: [
            {
              topic: "patient-events",
              messages: [{ key: randomUUID(), value: JSON.stringify({ eventId }), headers: { eventId } }],
            },
          ],
        });
      });
      const records = await tap.collect({ done: containsAll([eventId]), timeoutMs: 30_000 });
      expect(records.filter((record) => record.eventId === eventId)).toHaveLength(1);
    } finally {
      await relay.disconnect();
    }
  });
});
