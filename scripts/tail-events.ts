// `npm run events:tail -- <topic> [--from-beginning] [--decrypt]`: prints each record of a topic as it arrives
// (partition, offset, key, headers, value), to watch the pipeline work. The value is printed as Kafka holds
// it, personal fields sealed; `--decrypt` prints it opened as a consumer with access reads it (it needs the
// database with the patients' keys and the master keys, like the platform).
import { randomUUID } from "node:crypto";
import { parseCommand } from "../cli/command.ts";
import { loadEnv } from "../config/env.ts";
import { createDatabase } from "../db/client.ts";
import { PatientKeyring } from "../db/patientKeys.ts";
import { topics } from "../events/catalog.ts";
import { createKafka } from "../kafka/client.ts";
import { decryptEvent } from "../phi/decryptEvent.ts";
import { loadMasterKeys } from "../phi/masterKeys.ts";
import { startPostgres } from "../stack/postgres.ts";

const { positionals, values, refuse } = parseCommand({
  usage: `usage: npm run events:tail -- [<topic>] [--from-beginning] [--decrypt]
  prints each record of a topic (default patient-events) as it arrives, until Ctrl-C
  <topic>            one of ${topics.map((known) => known.name).join(", ")}
  --from-beginning   from the oldest record the topic holds, not only new ones
  --decrypt          with the personal fields opened, as a consumer with access reads them`,
  options: {
    "from-beginning": { type: "boolean", default: false },
    decrypt: { type: "boolean", default: false },
  },
  allowPositionals: true,
});
const [topic = "patient-events", ...extra] = positionals;
if (!topics.some((known) => known.name === topic)) refuse(`unknown topic ${JSON.stringify(topic)}`);
if (extra.length > 0) refuse(`one topic at a time: ${extra.join(" ")}`);
const env = loadEnv();
const brokers = env.KAFKA_BROKERS ?? ["localhost:9092"];
const keys = values.decrypt
  ? new PatientKeyring(
      createDatabase(env.DATABASE_URL ?? (await startPostgres((line) => console.error(line))).databaseUrl, {
        max: 1,
        applicationName: "events-tail",
      }),
      loadMasterKeys(),
    )
  : null;

/** The value as Kafka holds it, or opened; an erased patient's fields stay sealed, and the line says why. */
async function shown(value: string): Promise<string> {
  if (!keys) return value;
  try {
    return JSON.stringify(await decryptEvent(JSON.parse(value), keys));
  } catch (error) {
    return `${value}\n  (not decrypted: ${(error as Error).message})`;
  }
}
const consumer = createKafka({ brokers, clientId: "events-tail" }).consumer({
  groupId: `events-tail-${randomUUID()}`,
});
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: values["from-beginning"] });
await consumer.run({
  eachMessage: async ({ partition, message }) => {
    const headers = Object.fromEntries(
      Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]),
    );
    console.log(JSON.stringify({ partition, offset: message.offset, key: message.key?.toString(), headers }));
    console.log(`  ${await shown(message.value?.toString() ?? "")}`);
  },
});
console.error(`tailing ${topic} on ${brokers.join(",")} (Ctrl-C to stop)`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => consumer.disconnect().then(() => process.exit(0)));
}
