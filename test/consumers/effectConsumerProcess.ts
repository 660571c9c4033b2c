// A consumer process for the tests that kill consumers: the effect consumer of effects.ts, in a process of
// its own. DIE_AFTER_EFFECT_OF=<eventId> makes it SIGKILL itself right after that event's effect commits,
// before its offset is committed: the worst moment for a crash.
import { Registry } from "prom-client";
import type { TransactionalConsumer } from "../../consumers/runtime/consumerDefinition.ts";
import { EventConsumer } from "../../consumers/runtime/eventConsumer.ts";
import { createDatabase } from "../../db/client.ts";
import { PatientKeyring } from "../../db/patientKeys.ts";
import { createLogger } from "../../observability/logger.ts";
import { loadMasterKeys } from "../../phi/masterKeys.ts";
import { effectConsumer } from "./effects.ts";

const required = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const name = required("CONSUMER_NAME");
const dieAfterEffectOf = process.env.DIE_AFTER_EFFECT_OF;
const db = createDatabase(required("DATABASE_URL"), { applicationName: name });
const log = createLogger({ level: "info", name });

let dieAtOffset: string | null = null;
const effects = effectConsumer(name);
const recordEffect = effects.handlers["patient.created"];
const definition: TransactionalConsumer = {
  ...effects,
  handlers: {
    "patient.created": async (event, context) => {
      await recordEffect?.(event, context);
      if (event.eventId === dieAfterEffectOf) {
        dieAtOffset = `${context.record.partition}/${context.record.offset}`;
      }
    },
  },
};
const consumer = new EventConsumer({
  definition,
  db,
  kafkaBrokers: required("KAFKA_BROKERS").split(","),
  log,
  registry: new Registry(),
  keys: new PatientKeyring(db, loadMasterKeys()),
  sessionTimeoutMs: 6_000,
  fetchWaitMs: 100,
  afterEffectCommitted: ({ partition, offset }) => {
    if (dieAtOffset === `${partition}/${offset}`) process.kill(process.pid, "SIGKILL");
  },
});

await consumer.start();
await consumer.ready;
log.info("consumer process ready");

process.once("SIGTERM", async () => {
  await consumer.stop();
  await db.$client.end();
  process.exit(0);
});
