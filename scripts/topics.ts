// `npm run topics`: brings the broker's topics in line with the catalog (events/apply-topics.ts).
// `npm run topics -- acls`: grants each principal of the platform its least-privilege ACLs (scripts/kafkaAcls.ts)
// and lists what it created and kept; `--prune` also removes the stale ones on the same resources.
import { confirm, parseCommand, refuseUnconfirmable } from "../cli/command.ts";
import { reportFailure } from "../cli/failure.ts";
import { textTable } from "../cli/textTable.ts";
import { loadEnv } from "../config/env.ts";
import { applyTopics, formatSummary } from "../events/apply-topics.ts";
import {
  type AclBinding,
  type AclsOutcome,
  applyAcls,
  describeBinding,
  type HeldAcl,
} from "../kafka/acls.ts";
import { type Admin, createKafka } from "../kafka/client.ts";
import { kafkaBrokersOf } from "../stack/index.ts";
import {
  ACL_ROLES,
  type AclPrincipals,
  type AclRole,
  loadAclPrincipals,
  type PlannedAcl,
  platformAclResources,
  platformAcls,
} from "./kafkaAcls.ts";

const { positionals, values, refuse } = parseCommand({
  usage: `usage: npm run topics
       npm run topics -- acls [--dry-run] [--prune [--yes]]
  (no sub-command)  creates the catalog's missing topics on KAFKA_BROKERS (default localhost:9092), adds
            missing partitions and resets drifted configs; on three or more brokers gives every topic 3 replicas
            and min.insync.replicas=2 (KAFKA_REPLICATION_FACTOR, KAFKA_MIN_INSYNC_REPLICAS), adding replicas by
            reassignment; never deletes anything
  acls      grants each role's principal (KAFKA_ACL_RELAY_PRINCIPAL, KAFKA_ACL_CONNECT_PRINCIPAL,
            KAFKA_ACL_CONSUMER_PRINCIPAL, KAFKA_ACL_OPERATOR_PRINCIPAL: User:<name>, several separated by ;) its
            least-privilege ACLs and lists each one as created or kept; run it as the cluster's administrator.
            --dry-run: only list what would change (with --prune, what it would delete too). --prune: also
            delete the ALLOW ACLs on the same resources that the list does not hold, whatever their operation
            (ALL among them) or host (a replaced principal, a dropped permission); lists them and asks first
            (--yes, -y: do not ask, needed when not run from a terminal). Without --prune nothing is deleted`,
  allowPositionals: true,
  options: {
    "dry-run": { type: "boolean", default: false },
    prune: { type: "boolean", default: false },
    yes: { type: "boolean", short: "y", default: false },
  },
  subcommands: { acls: ["dry-run", "prune", "yes"] },
});
const [command, ...rest] = positionals;
if (command !== undefined && command !== "acls") refuse(`unknown sub-command ${command}; acls or none`);
if (rest.length > 0) refuse(`unexpected argument ${rest[0]}`);
if (command === undefined) {
  const given = (["dry-run", "prune", "yes"] as const).find((name) => values[name]);
  if (given) refuse(`--${given} is an option of acls (npm run topics -- acls --${given})`);
}
if (values.yes && !values.prune) refuse("--yes goes with --prune: nothing else asks");
if (values.yes && values["dry-run"])
  refuse("--yes goes with --prune alone: --dry-run changes nothing, and asks nothing");

const env = loadEnv();
// Before anything reaches Kafka: a bad principal is refused, naming its variable.
const principals = command === "acls" ? loadAclPrincipals() : undefined;
// What --prune deletes is listed before it is asked about (applyPlatformAcls): a script is refused here, first.
const pruneQuestion = "Delete the ALLOW ACLs listed above as to delete";
if (principals && values.prune && !values["dry-run"])
  await refuseUnconfirmable(
    "Delete the ALLOW ACLs --prune finds to delete (--prune --dry-run lists them)",
    values.yes,
  );

const admin = createKafka({ brokers: kafkaBrokersOf(env), clientId: "apply-topics" }).admin();
try {
  await admin.connect();
  if (principals) await applyPlatformAcls(admin, principals);
  else {
    // Changes are in the table; only warnings are worth printing as they happen.
    const summary = await applyTopics(admin, {
      log: { info: () => {}, warn: (message) => console.warn(message) },
    });
    console.log(formatSummary(summary));
  }
} catch (error) {
  process.exitCode = reportFailure(error, principals ? "topics acls" : "topics");
} finally {
  await admin.disconnect();
}

async function applyPlatformAcls(admin: Admin, principals: AclPrincipals): Promise<void> {
  const plan = platformAcls(principals, platformAclResources());
  // Pruning deletes for good: what it would delete is listed, then asked about.
  if (values.prune && !values["dry-run"] && !values.yes) {
    const preview = await applyAcls(admin, plan, { prune: true, dryRun: true });
    console.log(formatAcls(plan, preview, principals, true));
    if (preview.deleted.length > 0) await confirm(pruneQuestion, values.yes);
  }
  const outcome = await applyAcls(admin, plan, { prune: values.prune, dryRun: values["dry-run"] });
  console.log(formatAcls(plan, outcome, principals, values["dry-run"]));
}

/** One line per binding: its role, principal, operation, resource and what was done. */
function formatAcls(
  plan: readonly PlannedAcl[],
  outcome: AclsOutcome,
  principals: AclPrincipals,
  dryRun: boolean,
): string {
  const key = (binding: AclBinding) => describeBinding(binding);
  const created = new Set(outcome.created.map(key));
  const verb = (done: string, would: string) => (dryRun ? would : done);
  const cells = (acl: AclBinding | HeldAcl) => [
    acl.principal,
    acl.operation,
    acl.resourceType,
    (acl.pattern === "PREFIXED" ? `${acl.resourceName}*` : acl.resourceName) +
      ("host" in acl && acl.host !== "*" ? ` (from ${acl.host} only)` : ""),
  ];
  const rows = [
    ...plan.map((acl) => [
      acl.role,
      ...cells(acl),
      created.has(key(acl)) ? verb("created", "to create") : "kept",
    ]),
    ...outcome.deleted.map((acl) => ["", ...cells(acl), verb("deleted", "to delete")]),
  ];
  const unset = (Object.entries(ACL_ROLES) as Array<[AclRole, string]>)
    .filter(([role]) => principals[role].length === 0)
    .map(([, variable]) => `${variable} is unset: no ACLs for that role`);
  const totals =
    `${outcome.created.length} ${verb("created", "to create")}, ${outcome.kept.length} kept, ` +
    `${outcome.deleted.length} ${verb("deleted", "to delete")}`;
  return [
    ...textTable(["role", "principal", "operation", "resource", "name", "outcome"], rows),
    "",
    ...unset,
    totals,
  ].join("\n");
}
