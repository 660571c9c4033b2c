// Who may do what on the platform's Kafka: the least-privilege ACLs of each principal (the polling relay, Kafka
// Connect, the consumers, the operators' tools), as `npm run topics -- acls` applies them. It lives here because
// it names what several layers own: the catalog's topics, the relay's transactional ids, the consumers' groups,
// Connect's group and state topics, Debezium's heartbeat topics.
import { ConfigError } from "../config/env.ts";
import { consumerNames } from "../consumers/config.ts";
import { REDRIVE_GROUP } from "../consumers/deadLetters/deadLetterQueue.ts";
import { RELAY_TRANSACTIONAL_ID_PREFIX } from "../db/outbox/relayTransactionalId.ts";
import { HEARTBEAT_TOPICS_PREFIX } from "../debezium/connectorConfig.ts";
import { isTopicName, topics } from "../events/catalog.ts";
import {
  type AclBinding,
  type AclOperation,
  type AclPattern,
  type AclResourceType,
  parsePrincipals,
} from "../kafka/acls.ts";
import { connectClusterFromEnv, connectGroupNames } from "../stack/connect.ts";

/** The roles, each with the variable that names its principals. */
export const ACL_ROLES = {
  relay: "KAFKA_ACL_RELAY_PRINCIPAL",
  connect: "KAFKA_ACL_CONNECT_PRINCIPAL",
  consumers: "KAFKA_ACL_CONSUMER_PRINCIPAL",
  operators: "KAFKA_ACL_OPERATOR_PRINCIPAL",
} as const;
export type AclRole = keyof typeof ACL_ROLES;

export const ACL_VARIABLES = Object.values(ACL_ROLES);

/** Each role's principals; a role whose variable is unset gets no ACLs. */
export type AclPrincipals = Record<AclRole, string[]>;

/**
 * The principals from KAFKA_ACL_*_PRINCIPAL. Refuses, one problem per variable: a value that is not a
 * `User:<name>` list, none set at all, and one principal in two roles (a consumer's credential that is also
 * the relay's could write the event topics, which is what the ACLs are there to prevent).
 */
export function loadAclPrincipals(env: NodeJS.ProcessEnv = process.env): AclPrincipals {
  const problems: string[] = [];
  const principals: AclPrincipals = { relay: [], connect: [], consumers: [], operators: [] };
  for (const [role, variable] of Object.entries(ACL_ROLES) as Array<[AclRole, string]>) {
    const value = env[variable];
    if (value === undefined || value === "") continue;
    const parsed = parsePrincipals(variable, value);
    if ("problem" in parsed) problems.push(parsed.problem);
    else principals[role] = parsed.principals;
  }
  if (problems.length === 0 && Object.values(principals).every((list) => list.length === 0)) {
    problems.push(
      `${ACL_VARIABLES.join(", ")}: none is set; set the principal (User:<name>) of each role to grant it its ACLs`,
    );
  }
  const roleOf = new Map<string, AclRole>();
  for (const [role, list] of Object.entries(principals) as Array<[AclRole, string[]]>) {
    for (const principal of list) {
      const other = roleOf.get(principal);
      if (other !== undefined) {
        problems.push(
          `${ACL_ROLES[role]}: ${principal} is also in ${ACL_ROLES[other]}; give each role a principal of its ` +
            "own, or one role's credential carries the other's rights",
        );
      }
      roleOf.set(principal, role);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return principals;
}

/** The names the ACLs are about, each from the module that owns it. */
export interface AclResources {
  eventTopics: readonly string[];
  deadLetterTopics: readonly string[];
  /** Every relay stream's transactional id starts with it (db/outbox/relayTransactionalId.ts). */
  relayTransactionalIdPrefix: string;
  /** One consumer group per consumer, named after it (consumers/config.ts). */
  consumerGroups: readonly string[];
  /** The dead-letter re-drive cursor's group (consumers/deadLetters/deadLetterQueue.ts). */
  redriveGroup: string;
  /** The throwaway groups the operators' readers join: kafka/readTopicRange.ts, scripts/tail-events.ts. */
  readerGroupPrefixes: readonly string[];
  connect: {
    group: string;
    stateTopics: readonly string[];
    /** Debezium's heartbeat topics (debezium/connectorConfig.ts). */
    heartbeatTopicsPrefix: string;
  };
}

/** The platform's own names; Connect's are those of the project's worker group (CONNECT_PORT). */
export function platformAclResources(env: NodeJS.ProcessEnv = process.env): AclResources {
  const { group, config, offset, status } = connectGroupNames(connectClusterFromEnv(env));
  return {
    eventTopics: topics.filter((topic) => isTopicName(topic.name)).map((topic) => topic.name),
    deadLetterTopics: topics.filter((topic) => !isTopicName(topic.name)).map((topic) => topic.name),
    relayTransactionalIdPrefix: RELAY_TRANSACTIONAL_ID_PREFIX,
    consumerGroups: consumerNames,
    redriveGroup: REDRIVE_GROUP,
    readerGroupPrefixes: ["topic-reader-", "events-tail-"],
    connect: { group, stateTopics: [config, offset, status], heartbeatTopicsPrefix: HEARTBEAT_TOPICS_PREFIX },
  };
}

/** One line of the plan: a grant and why the role needs it. */
export interface PlannedAcl extends AclBinding {
  role: AclRole;
}

/**
 * Every binding each role needs, and nothing more. DESCRIBE is listed beside READ and WRITE, as Kafka's own
 * `kafka-acls --producer` and `--consumer` do, although they imply it. No role gets IDEMPOTENT_WRITE on the
 * cluster: since Kafka 3.0 (KIP-679) WRITE on a topic or a transactional id is what an idempotent producer needs.
 * No role gets ALTER on the cluster either: that lets its holder grant itself anything, so applying ACLs and
 * moving replicas stay with the cluster's administrator (a super user).
 */
export function platformAcls(principals: AclPrincipals, resources: AclResources): PlannedAcl[] {
  const plan: PlannedAcl[] = [];
  const grant = (
    role: AclRole,
    resourceType: AclResourceType,
    pattern: AclPattern,
    names: readonly string[],
    operations: readonly AclOperation[],
  ) => {
    for (const principal of principals[role])
      for (const resourceName of names)
        for (const operation of operations)
          plan.push({ role, principal, operation, resourceType, resourceName, pattern });
  };
  const { eventTopics, deadLetterTopics, connect } = resources;

  // The polling relay publishes in transactions under its stream's id, after reading each topic's
  // max.message.bytes (relay/topicLimits.ts).
  grant("relay", "TOPIC", "LITERAL", eventTopics, ["WRITE", "DESCRIBE", "DESCRIBE_CONFIGS"]);
  grant(
    "relay",
    "TRANSACTIONAL_ID",
    "PREFIXED",
    [resources.relayTransactionalIdPrefix],
    ["WRITE", "DESCRIBE"],
  );

  // Kafka Connect with Debezium: the event topics and the heartbeat topics through the connector's
  // exactly-once producer; its own state topics (created by the worker on its first start) and group; the
  // transactional ids of exactly-once source support (KIP-618): the leader's `connect-cluster-<group>` for the
  // config topic, and `<group>-<connector>-<task>` for each task, which the leader also fences.
  grant("connect", "TOPIC", "LITERAL", eventTopics, ["WRITE", "DESCRIBE"]);
  grant("connect", "TOPIC", "PREFIXED", [connect.heartbeatTopicsPrefix], ["WRITE", "DESCRIBE"]);
  grant("connect", "TOPIC", "LITERAL", connect.stateTopics, [
    "READ",
    "WRITE",
    "DESCRIBE",
    "CREATE",
    "DESCRIBE_CONFIGS",
  ]);
  grant("connect", "GROUP", "LITERAL", [connect.group], ["READ"]);
  grant(
    "connect",
    "TRANSACTIONAL_ID",
    "LITERAL",
    [`connect-cluster-${connect.group}`],
    ["WRITE", "DESCRIBE"],
  );
  grant("connect", "TRANSACTIONAL_ID", "PREFIXED", [`${connect.group}-`], ["WRITE", "DESCRIBE"]);

  // The consumers read the event topics in their own groups and park what they cannot process in the
  // dead-letter topics (an idempotent producer: WRITE on those topics is all it needs).
  grant("consumers", "TOPIC", "LITERAL", eventTopics, ["READ", "DESCRIBE"]);
  grant("consumers", "GROUP", "LITERAL", resources.consumerGroups, ["READ"]);
  grant("consumers", "TOPIC", "LITERAL", deadLetterTopics, ["WRITE", "DESCRIBE"]);

  // The operators' tools: `npm run topics` (create, add partitions, reset configs; not replica moves, which
  // need ALTER on the cluster), `replay` and `dlq -- redrive` (publish to the event topics), `dlq` and
  // `events:tail` (read in throwaway groups; the re-drive cursor's group), `relay:switch` and `relay:rebase`
  // (publish under the relay's transactional id, fencing it), and registering the Debezium connector
  // (creates its heartbeat topic).
  grant("operators", "TOPIC", "LITERAL", eventTopics, [
    "READ",
    "WRITE",
    "DESCRIBE",
    "CREATE",
    "ALTER",
    "DESCRIBE_CONFIGS",
    "ALTER_CONFIGS",
  ]);
  grant("operators", "TOPIC", "LITERAL", deadLetterTopics, [
    "READ",
    "DESCRIBE",
    "CREATE",
    "ALTER",
    "DESCRIBE_CONFIGS",
    "ALTER_CONFIGS",
  ]);
  grant(
    "operators",
    "TOPIC",
    "PREFIXED",
    [connect.heartbeatTopicsPrefix],
    ["DESCRIBE", "CREATE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS"],
  );
  grant("operators", "GROUP", "LITERAL", [resources.redriveGroup], ["READ"]);
  grant("operators", "GROUP", "PREFIXED", resources.readerGroupPrefixes, ["READ"]);
  grant(
    "operators",
    "TRANSACTIONAL_ID",
    "PREFIXED",
    [resources.relayTransactionalIdPrefix],
    ["WRITE", "DESCRIBE"],
  );
  return plan;
}
