// `npm run replay -- <filters> [--to-topic <topic>] [--rate <n>] [--dry-run | --yes]`: republishes part of the
// outbox history to Kafka, each record the one the relay sent (relay/replay/). The rule that decides when a
// replay may run beside the live relay is in relay/replay/replayRule.ts and README's "Replaying history".
import os from "node:os";
import { confirm, parseCommand } from "../cli/command.ts";
import { reportFailure } from "../cli/failure.ts";
import { operatorName } from "../cli/operator.ts";
import { type Progress, startProgress } from "../cli/progress.ts";
import { loadEnv } from "../config/env.ts";
import { createDatabase } from "../db/client.ts";
import { createIdempotentProducer, createKafka } from "../kafka/client.ts";
import { loadMasterKeys } from "../phi/masterKeys.ts";
import { ReplayArgumentError, replayOptions, replayRequest } from "../relay/replay/replayArguments.ts";
import {
  planReplay,
  type ReplayPlan,
  ReplayStopped,
  recordReplay,
  replayHistory,
} from "../relay/replay/replayHistory.ts";
import { databaseUrlOf, kafkaBrokersOf } from "../stack/index.ts";

const { values, refuse } = parseCommand({
  usage: `usage: npm run replay -- <filters> [--to-topic <topic>] [--rate <n>] [--dry-run | --yes]
  republishes outbox events to Kafka, byte for byte as the relay published them (same event ids, keys,
  value bytes and headers), in the relay's order; the filters combine, at least one is needed:
  --topic <topic>              the events of one topic (patient-events, ...)
  --from-position <n>          outbox positions from n (included) ...
  --to-position <n>            ... up to n (included)
  --since <instant>            created at or after, e.g. 2026-01-15T00:00:00Z ...
  --until <instant>            ... and before
  --aggregate <type>:<id>      one aggregate's events, e.g. patient:5f0c3c8e-1d2b-4c6a-9e7f-0a1b2c3d4e5f
  --event-type <type>          one event type, e.g. patient.updated
  --correlation-id <uuid>      the events of one request
  --to-topic <topic>           send every event there (an existing topic, not another live one) instead of
                               to its own topic; to its own topic only what the relay has already published
  --rate <n>                   at most n events per second
  --dry-run                    count what would be replayed, per topic; publish nothing
  --yes, -y                    do not ask for confirmation (needed when not run from a terminal)
  Each run is recorded as an audit.history.replayed event. README: "Replaying history".`,
  options: replayOptions,
});
if (values.yes && values["dry-run"]) refuse("--yes goes with a real run: a dry run asks nothing");
const request = (() => {
  try {
    return replayRequest(values);
  } catch (error) {
    if (!(error instanceof ReplayArgumentError)) throw error;
    return refuse(error.message);
  }
})();

const env = loadEnv();
// Read before anything else for a real run, so that a bad PHI_MASTER_KEYS stops it before it plans; a dry
// run writes nothing and needs none.
const masterKeys = values["dry-run"] ? null : loadMasterKeys();
const databaseUrl = await databaseUrlOf(env, (line) => console.error(line));
const db = createDatabase(databaseUrl, { max: 2, applicationName: "replay" });
const kafka = createKafka({ brokers: kafkaBrokersOf(env), clientId: "replay-command" });
const admin = kafka.admin();
const producer = createIdempotentProducer(kafka, env.KAFKA_COMPRESSION);
const client = await db.$client.connect();
let progress: Progress | undefined;
/** The signal that stopped the replay, if one did. */
let stopSignal: "SIGINT" | "SIGTERM" | undefined;
try {
  await admin.connect();
  const planning = await planReplay(client, admin, request);
  if (planning.outcome === "refused") {
    console.error(`replay refused: ${planning.reason}`);
    console.error("nothing published");
    process.exitCode = 1;
  } else {
    const { plan } = planning;
    printPlan(plan);
    if (values["dry-run"]) console.log("dry run: nothing published");
    else {
      await confirm(
        `Republish ${plan.events} events to ${plan.ownTopic ? "their own topics" : plan.request.toTopic}`,
        values.yes ?? false,
      );
      const operator = operatorName();
      const eventId = await recordReplay(db, plan, {
        name: operator,
        context: { masterKeys: masterKeys ?? loadMasterKeys() },
      });
      console.log(`recorded as audit.history.replayed ${eventId} (operator ${operator})`);
      await producer.connect();
      progress = startProgress({ label: "replay", total: plan.events });
      // Ctrl-C stops the replay between two sends and says how far it got; a second one ends the process at once.
      const stop = new AbortController();
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        process.once(signal, () => {
          stopSignal = signal;
          stop.abort();
        });
      }
      const outcome = await replayHistory(client, producer, admin, plan, { progress, signal: stop.signal });
      progress.finish("published");
      console.log(
        `replayed ${outcome.published} events to ${plan.ownTopic ? "their own topics" : plan.request.toTopic}` +
          (outcome.lastSent
            ? ` (last: tx ${outcome.lastSent.txId}, position ${outcome.lastSent.position})`
            : ""),
      );
    }
  }
} catch (error) {
  progress?.finish("stopped");
  process.exitCode = reportFailure(error, "replay");
  // As a shell reports a process a signal ended: 130 for Ctrl-C.
  if (error instanceof ReplayStopped && stopSignal) process.exitCode = 128 + os.constants.signals[stopSignal];
} finally {
  client.release();
  await producer.disconnect().catch(() => {});
  await admin.disconnect().catch(() => {});
  await db.$client.end();
}

function printPlan(plan: ReplayPlan): void {
  const bound = plan.ownTopic
    ? `the relay's checkpoint (tx ${plan.through.txId}, position ${plan.through.position})`
    : `the snapshot horizon (transactions below ${BigInt(plan.through.txId) + 1n})`;
  console.log(`replay of ${plan.events} events, read up to ${bound}`);
  console.log(`  to: ${plan.ownTopic ? "each event's own topic" : plan.request.toTopic}`);
  const width = Math.max(5, ...plan.selection.map((topic) => topic.topic.length));
  console.log(`  ${"topic".padEnd(width)}  events`);
  for (const topic of plan.selection) console.log(`  ${topic.topic.padEnd(width)}  ${topic.events}`);
  console.log(`  ${"total".padEnd(width)}  ${plan.events}`);
  if (plan.archived)
    console.log(
      `  the history through position ${plan.archived.through.position} is archived (${plan.archived.fileName}): not in the outbox, not replayed`,
    );
}
