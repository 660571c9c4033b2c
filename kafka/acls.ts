// Kafka ACLs as the project states them (a principal ALLOWed one operation on one resource, from any host), and
// applying a set of them to a broker: the missing ones created, the present ones kept, nothing removed unless
// the caller asks for it. What each principal of the platform gets is decided in scripts/kafkaAcls.ts.
import { setTimeout as sleep } from "node:timers/promises";
import kafkajs from "kafkajs";
import type { Admin } from "./client.ts";

// kafkajs is CommonJS whose exports Node cannot list past its first computed one: its enums come off the default.
const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;

export const ACL_RESOURCE_TYPES = ["TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID"] as const;
export type AclResourceType = (typeof ACL_RESOURCE_TYPES)[number];

export const ACL_OPERATIONS = [
  "READ",
  "WRITE",
  "CREATE",
  "DELETE",
  "ALTER",
  "DESCRIBE",
  "DESCRIBE_CONFIGS",
  "ALTER_CONFIGS",
  "IDEMPOTENT_WRITE",
] as const;
export type AclOperation = (typeof ACL_OPERATIONS)[number];

/** LITERAL names one resource; PREFIXED every resource whose name starts with it. */
export type AclPattern = "LITERAL" | "PREFIXED";

/** One ALLOW rule from any host: `principal` may `operation` on the resource. */
export interface AclBinding {
  principal: string;
  operation: AclOperation;
  resourceType: AclResourceType;
  /** `kafka-cluster` for the CLUSTER resource, as Kafka names it. */
  resourceName: string;
  pattern: AclPattern;
}

export const CLUSTER_RESOURCE = "kafka-cluster";

/**
 * Kafka's principal form, `User:<name>`: a SASL user name, or a certificate's distinguished name under mutual
 * TLS (`User:CN=outbox-relay,O=Example`, with its commas). A list is separated by `;`, as Kafka's own
 * super.users is, since a distinguished name holds commas. Returns the principals, each listed once, or a
 * problem naming `variable` (never the whole value when it is not a principal list at all).
 */
export function parsePrincipals(
  variable: string,
  value: string,
): { principals: string[] } | { problem: string } {
  const entries = value.split(";").map((entry) => entry.trim());
  if (entries.every((entry) => entry === "")) {
    return { problem: `${variable}: empty; expected a principal such as User:outbox-relay` };
  }
  const principals: string[] = [];
  for (const [index, entry] of entries.entries()) {
    const where = entries.length > 1 ? ` (entry ${index + 1} of the ;-separated list)` : "";
    if (entry === "") return { problem: `${variable}: an empty entry${where}; separate principals by one ;` };
    const match = /^User:(.+)$/.exec(entry);
    if (match === null) {
      return {
        problem:
          `${variable}=${JSON.stringify(entry)}${where}: not a principal; expected User:<name>, a SASL user ` +
          "name or a certificate's distinguished name (User:CN=outbox-relay)",
      };
    }
    const name = match[1] as string;
    const wrong =
      name !== name.trim()
        ? "the name starts or ends with a blank"
        : /\p{Cc}/u.test(name)
          ? "the name holds a control character (a tab, a line break)"
          : name === "*"
            ? "User:* is every principal, the opposite of what an ACL here is for: name the principal"
            : undefined;
    if (wrong) return { problem: `${variable}=${JSON.stringify(entry)}${where}: ${wrong}` };
    // Dropped, a repeat would hide the principal meant in its place: the role's ACLs would leave it out.
    if (principals.includes(entry))
      return { problem: `${variable}: ${entry} is listed more than once${where}` };
    principals.push(entry);
  }
  return { principals };
}

/**
 * One binding as `kafka-acls --list` would say it: `User:relay WRITE TOPIC patient-events`, and `from <host>`
 * after one bound to a host.
 */
export function describeBinding(binding: AclBinding | HeldAcl): string {
  const name = binding.pattern === "PREFIXED" ? `${binding.resourceName}*` : binding.resourceName;
  const from = "host" in binding && binding.host !== "*" ? ` from ${binding.host}` : "";
  return `${binding.principal} ${binding.operation} ${binding.resourceType} ${name}${from}`;
}

const bindingKey = (binding: AclBinding | HeldAcl) =>
  [binding.principal, binding.operation, binding.resourceType, binding.resourceName, binding.pattern].join(
    "\u0000",
  );

export interface ApplyAclsOptions {
  /**
   * Also delete the ALLOW bindings on the resources `wanted` names (the same resource type, name and pattern)
   * that `wanted` does not hold: a principal that was replaced, a permission no longer granted. Without it,
   * nothing is deleted. DENY bindings are never deleted: removing one would widen access.
   */
  prune?: boolean;
  /** Reports what would change and changes nothing. */
  dryRun?: boolean;
  /** How long to wait for created or deleted bindings to show in the broker's answers. */
  timeoutMs?: number;
}

/**
 * An ALLOW binding as the broker holds it: any operation (ALL, which grants every one, among them), from any
 * host (`*`) or from one. The project writes only its own operations from any host; pruning must see the rest.
 */
export interface HeldAcl extends Omit<AclBinding, "operation"> {
  operation: string;
  host: string;
}

export interface AclsOutcome {
  created: AclBinding[];
  kept: AclBinding[];
  /** Deleted with `prune` (or found to delete, with `prune` and `dryRun`). */
  deleted: HeldAcl[];
}

/**
 * Brings the broker's ALLOW bindings in line with `wanted`: creates the missing ones and keeps the present
 * ones; with `prune`, deletes the stale ones on the same resources. Returns once the broker's answers show the
 * result, so the caller can rely on it at once.
 */
export async function applyAcls(
  admin: Admin,
  wanted: readonly AclBinding[],
  options: ApplyAclsOptions = {},
): Promise<AclsOutcome> {
  const unique = [...new Map(wanted.map((binding) => [bindingKey(binding), binding])).values()];
  const held = await describeAllowed(admin);
  // What the list can hold: its operations, from any host. A binding from one host grants less than the list's.
  const present = held.filter(isOurKind);
  const presentKeys = new Set(present.map(bindingKey));
  const wantedKeys = new Set(unique.map(bindingKey));
  const created = unique.filter((binding) => !presentKeys.has(bindingKey(binding)));
  const kept = unique.filter((binding) => presentKeys.has(bindingKey(binding)));
  const resourceKey = (binding: AclBinding | HeldAcl) =>
    [binding.resourceType, binding.resourceName, binding.pattern].join("\u0000");
  const covered = new Set(unique.map(resourceKey));
  // Every ALLOW binding on those resources the list does not hold, whatever its operation or host: an ALL, or
  // one from a single host, grants a replaced principal as much (a tombstone on audit-events, say).
  const deleted = options.prune
    ? held.filter(
        (binding) =>
          covered.has(resourceKey(binding)) && !(isOurKind(binding) && wantedKeys.has(bindingKey(binding))),
      )
    : [];
  if (options.dryRun) return { created, kept, deleted };

  if (created.length > 0) await admin.createAcls({ acl: created.map(toKafkajs) });
  if (deleted.length > 0) await admin.deleteAcls({ filters: deleted.map(toKafkajs) });
  await untilAnswered(admin, wantedKeys, new Set(deleted.map(heldKey)), options.timeoutMs ?? 30_000);
  return { created, kept, deleted };
}

/** A binding the project's lists can hold: one of its operations, from any host. */
function isOurKind(binding: HeldAcl): binding is AclBinding & HeldAcl {
  return binding.host === "*" && ACL_OPERATIONS.includes(binding.operation as AclOperation);
}

const heldKey = (binding: HeldAcl) => [bindingKey(binding), binding.host].join("\u0000");

/** Every ALLOW binding the broker holds on the resource types the project grants on, from any host or one. */
export async function describeAllowed(admin: Admin): Promise<HeldAcl[]> {
  const { resources } = await admin.describeAcls({
    resourceType: AclResourceTypes.ANY,
    resourcePatternType: ResourcePatternTypes.ANY,
    operation: AclOperationTypes.ANY,
    permissionType: AclPermissionTypes.ALLOW,
  });
  const bindings: HeldAcl[] = [];
  for (const resource of resources) {
    const resourceType = nameOf(AclResourceTypes, resource.resourceType);
    const pattern = nameOf(ResourcePatternTypes, resource.resourcePatternType);
    // Another kind of resource (a delegation token) is none the project grants on.
    if (!ACL_RESOURCE_TYPES.includes(resourceType as AclResourceType)) continue;
    if (pattern !== "LITERAL" && pattern !== "PREFIXED") continue;
    for (const acl of resource.acls) {
      bindings.push({
        principal: acl.principal,
        operation: nameOf(AclOperationTypes, acl.operation),
        resourceType: resourceType as AclResourceType,
        resourceName: resource.resourceName,
        pattern,
        host: acl.host,
      });
    }
  }
  return bindings;
}

/**
 * Under KRaft a created binding reaches the authorizer through the metadata log: waits until the broker lists
 * every wanted binding and none of the deleted ones.
 */
async function untilAnswered(
  admin: Admin,
  wanted: ReadonlySet<string>,
  deleted: ReadonlySet<string>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const held = await describeAllowed(admin);
    const present = new Set(held.filter(isOurKind).map(bindingKey));
    const stillHeld = new Set(held.map(heldKey));
    const missing = [...wanted].filter((key) => !present.has(key)).length;
    const left = [...deleted].filter((key) => stillHeld.has(key)).length;
    if (missing === 0 && left === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `the broker still lists ${missing} binding(s) as missing and ${left} as present after ${timeoutMs} ms: ` +
          "run the command again to see where it stands",
      );
    }
    await sleep(200);
  }
}

function toKafkajs(binding: AclBinding | HeldAcl) {
  return {
    resourceType: AclResourceTypes[binding.resourceType],
    resourceName: binding.resourceName,
    resourcePatternType: ResourcePatternTypes[binding.pattern],
    principal: binding.principal,
    host: "host" in binding ? binding.host : "*",
    operation: AclOperationTypes[binding.operation as keyof typeof AclOperationTypes],
    permissionType: AclPermissionTypes.ALLOW,
  };
}

function nameOf(table: object, code: number): string {
  return Object.entries(table).find(([, value]) => value === code)?.[0] ?? String(code);
}
