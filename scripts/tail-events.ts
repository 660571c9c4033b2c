// `npm run events:tail -- <topic> [--from-beginning] [--decrypt]`: prints each record of a topic as it arrives
// (partition, offset, key, headers, value), to watch the pipeline work. The value is printed as Kafka holds
// it, personal fields sealed; `--decrypt` prints it opened as a consumer with access reads it (it needs the
// database with the patients' keys and the master keys, like the platform). Every record it opens is an access
// to a patient's data, recorded as an audit.operator.decrypted event before the record is printed.
import { randomUUID } from "node:crypto";
import { parseCommand } from "../cli/command.ts";
import { operatorName } from "../cli/operator.ts";
import { printable } from "../cli/printable.ts";
import { loadEnv } from "../config/env.ts";
import { createDatabase, type Database, writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { PatientKeyring } from "../db/patientKeys.ts";
import { type Envelope, type EventData, eventMetadata, topics } from "../events/index.ts";
import { createConsumer, createKafka } from "../kafka/client.ts";
import { decryptEvent } from "../phi/decryptEvent.ts";
import { loadMasterKeys, type MasterKeys } from "../phi/masterKeys.ts";
import { keyOwner, sealedPaths } from "../phi/personalFields.ts";
import { databaseUrlOf, kafkaBrokersOf } from "../stack/index.ts";

const { positionals, values, refuse } = parseCommand({
  usage: `usage: npm run events:tail -- [<topic>] [--from-beginning] [--decrypt]
  prints each record of a topic (default patient-events) as it arrives, until Ctrl-C
  <topic>            one of ${topics.map((known) => known.name).join(", ")}
  --from-beginning   from the oldest record the topic holds, not only new ones
  --decrypt          with the personal fields opened, as a consumer with access reads them; each record
                     opened is first recorded as an audit.operator.decrypted event (README: "Operators who
                     open sealed fields")`,
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
const brokers = kafkaBrokersOf(env);

/** What --decrypt opens records with, and records each opening with. */
interface Opener {
  db: Database;
  keys: PatientKeyring;
  masterKeys: MasterKeys;
  operator: string;
  /** The correlation id of every audit.operator.decrypted event of this run. */
  runId: string;
}
const opener: Opener | null = values.decrypt
  ? await (async () => {
      const db = createDatabase(await databaseUrlOf(env, (line) => console.error(line)), {
        max: 1,
        applicationName: "events-tail",
      });
      const masterKeys = loadMasterKeys();
      // Before the first record: without the patients' keys no record opens, and a tail that went on would show
      // every record sealed, under a banner saying it opens them.
      await db.$client.query("SELECT 1 FROM patient_keys LIMIT 0").catch(async (error: Error) => {
        await db.$client.end().catch(() => {});
        console.error(
          `events:tail --decrypt: the patients' keys cannot be read from DATABASE_URL (${error.message}); nothing shown`,
        );
        process.exit(1);
      });
      const keys = new PatientKeyring(db, masterKeys);
      return { db, keys, masterKeys, operator: operatorName(), runId: randomUUID() };
    })()
  : null;

type OpenedRecord = EventData<"audit.operator.decrypted">["record"];

/**
 * Appends the audit.operator.decrypted event of one opened record and commits it: the record may be shown
 * only after this returns. Names the patient, the record and the fields' paths, never their values.
 */
async function recordOpening(
  { db, masterKeys, operator, runId }: Opener,
  opening: { patientId: string; record: OpenedRecord; fields: string[] },
): Promise<string> {
  const [appended] = await writeTransaction(db, (tx) =>
    appendEvents(
      tx,
      { source: "events-tail", metadata: eventMetadata({ correlationId: runId }), masterKeys },
      [{ type: "audit.operator.decrypted", data: { operator, tool: "events:tail", ...opening } }],
    ),
  );
  return (appended as { eventId: string }).eventId;
}

/**
 * The value as Kafka holds it, or opened, shown escaped where it could act on the terminal (cli/printable.ts: a
 * control character, a bidirectional override reordering a name into another's); escaped, a JSON value stays
 * the same JSON. An erased patient's fields stay sealed, and the line says why; so do
 * a record's whose opening could not be recorded (fail closed: no access goes unrecorded). A record with
 * nothing sealed in it opens nothing, and is not recorded.
 */
async function shown(value: string, origin: Omit<OpenedRecord, "eventId" | "eventType">): Promise<string> {
  if (!opener) return printable(value);
  let sealed: Envelope;
  let opened: unknown;
  try {
    sealed = JSON.parse(value);
    opened = await decryptEvent(sealed, opener.keys);
  } catch (error) {
    return `${printable(value)}\n  (not decrypted: ${printable((error as Error).message)})`;
  }
  const patientId = keyOwner(sealed.data);
  const fields = sealedPaths(sealed.eventType, sealed.data, sealed.metadata);
  if (patientId !== null && fields.length > 0) {
    try {
      const record = { ...origin, eventId: sealed.eventId, eventType: sealed.eventType };
      const eventId = await recordOpening(opener, { patientId, record, fields });
      console.error(`recorded as audit.operator.decrypted ${eventId} (operator ${opener.operator})`);
    } catch (error) {
      return `${printable(value)}\n  (not decrypted: the access could not be recorded as audit.operator.decrypted: ${printable((error as Error).message)})`;
    }
  }
  return printable(JSON.stringify(opened));
}
const consumer = createConsumer(createKafka({ brokers, clientId: "events-tail" }), {
  groupId: `events-tail-${randomUUID()}`,
});
// A new group with no committed offsets starts at the end of each partition, as that end stands at its first
// fetch: once that fetch has returned, every record produced is shown.
const ready = consumer.on(consumer.events.FETCH, () => {
  ready();
  console.error(
    `tailing ${topic} on ${brokers.join(",")}${opener ? `, opened records recorded as audit.operator.decrypted (operator ${opener.operator}, correlation id ${opener.runId})` : ""} (Ctrl-C to stop)`,
  );
});
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: values["from-beginning"] });
await consumer.run({
  eachMessage: async ({ partition, message }) => {
    const headers = Object.fromEntries(
      Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]),
    );
    // Opened (and its opening recorded) before either line is printed, so that the two stay together.
    const value = await shown(message.value?.toString() ?? "", { topic, partition, offset: message.offset });
    console.log(
      printable(JSON.stringify({ partition, offset: message.offset, key: message.key?.toString(), headers })),
    );
    console.log(`  ${value}`);
  },
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () =>
    consumer
      .disconnect()
      .then(() => opener?.db.$client.end())
      .then(() => process.exit(0)),
  );
}
