// An event id that comes back on a record of another event type (a bug upstream, or a forged record) is not a
// duplicate: the record is refused as poison, parked in the dead-letter topic and never handled, and the inbox
// keeps the first event's row as it was. A true duplicate (the same id and the same type) is still acknowledged
// without effect. Each way a record reaches a handler is checked: alone, together with others in one
// transaction, and by a consumer whose effect leaves Postgres.
import { type SQL, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import type { TypedEnvelope } from "../../events/index.ts";
import { createLogger } from "../../observability/logger.ts";
import { type DeadLetterTap, tapDeadLetters } from "../../test/consumers/deadLetterTap.ts";
import { uniqueConsumerName } from "../../test/consumers/effects.ts";
import {
  type StartedConsumer,
  startTestConsumer,
  useEffectsDatabase,
} from "../../test/consumers/inProcess.ts";
import { metricValue } from "../../test/consumers/metrics.ts";
import {
  eventRecord,
  onPartition,
  patientCreatedRecord,
  publish,
  type TestRecord,
} from "../../test/consumers/records.ts";
import { eventually, kafkaBrokers } from "../../test/fixtures.ts";
import type { ConsumerDefinition } from "./consumerDefinition.ts";

const db = useEffectsDatabase();

const PARTITION = 1;

/** The record of another event type about the same patient, carrying `original`'s event id. */
function reusingIdOf(original: TestRecord, type: "patient.updated" | "patient.deleted"): TestRecord {
  const patientId = (original.data as { patientId: string }).patientId;
  const other = onPartition(eventRecord(type, { patientId }), PARTITION);
  const envelope = JSON.parse(other.message.value);
  return {
    ...other,
    eventId: original.eventId,
    message: {
      ...other.message,
      value: JSON.stringify({ ...envelope, eventId: original.eventId }),
      headers: { ...other.message.headers, eventId: original.eventId },
    },
  };
}

/**
 * A consumer of three patient-events types whose effect is a row per handled event in consumer_test_effects,
 * and which remembers every event its handler was given.
 */
function recordingConsumer(kind: "transactional" | "external-effect") {
  const name = uniqueConsumerName(`id-reused-${kind}`);
  const handled: Array<{ eventId: string; eventType: string }> = [];
  const effect = async (
    event: TypedEnvelope,
    execute: (query: SQL) => Promise<unknown>,
    record: { partition: number; offset: string },
  ) => {
    handled.push({ eventId: event.eventId, eventType: event.eventType });
    await execute(sql`
      INSERT INTO consumer_test_effects (consumer, event_id, event_type, kafka_partition, kafka_offset)
      VALUES (${name}, ${event.eventId}, ${event.eventType}, ${record.partition}, ${record.offset})`);
  };
  const definition: ConsumerDefinition =
    kind === "transactional"
      ? {
          kind,
          name,
          topics: ["patient-events"],
          handlers: {
            "patient.created": (event, { tx, record }) => effect(event, (query) => tx.execute(query), record),
            "patient.updated": (event, { tx, record }) => effect(event, (query) => tx.execute(query), record),
            "patient.deleted": (event, { tx, record }) => effect(event, (query) => tx.execute(query), record),
          },
        }
      : {
          kind,
          name,
          topics: ["patient-events"],
          handlers: {
            "patient.created": (event, { db, record }) => effect(event, (query) => db.execute(query), record),
            "patient.updated": (event, { db, record }) => effect(event, (query) => db.execute(query), record),
            "patient.deleted": (event, { db, record }) => effect(event, (query) => db.execute(query), record),
          },
        };
  return { definition, handled };
}

interface Run {
  started: StartedConsumer;
  handled: Array<{ eventId: string; eventType: string }>;
  logLines: string[];
  deadLetters: DeadLetterTap;
}

async function run(kind: "transactional" | "external-effect", test: (run: Run) => Promise<void>) {
  const { definition, handled } = recordingConsumer(kind);
  const logLines: string[] = [];
  const deadLetters = await tapDeadLetters(kafkaBrokers(), "patient-events");
  const started = await startTestConsumer(definition, {
    db,
    kafkaBrokers: kafkaBrokers(),
    name: definition.name,
    log: createLogger({ level: "debug", destination: { write: (line: string) => logLines.push(line) } }),
  });
  try {
    await test({ started, handled, logLines, deadLetters });
  } finally {
    await started.stop();
  }
}

async function inboxRow(consumer: string, eventId: string) {
  const { rows } = await db.$client.query(
    `SELECT event_type, topic, kafka_partition, kafka_offset::text, processed_at
       FROM consumer_inbox WHERE consumer = $1 AND event_id = $2`,
    [consumer, eventId],
  );
  return rows;
}

async function effectTypes(consumer: string, eventId: string): Promise<string[]> {
  const { rows } = await db.$client.query<{ event_type: string }>(
    "SELECT event_type FROM consumer_test_effects WHERE consumer = $1 AND event_id = $2 ORDER BY seq",
    [consumer, eventId],
  );
  return rows.map((row) => row.event_type);
}

async function hasEffect(consumer: string, eventId: string): Promise<boolean> {
  return (await effectTypes(consumer, eventId)).length > 0;
}

/** The dead letters the run's consumer parked for the event id (other consumers share the topic). */
async function parkedFor({ deadLetters, started }: Run, eventId: string) {
  return (await deadLetters.parkedBy(started.name)).filter(({ letter }) => letter.eventId === eventId);
}

/** `original`'s event, id and type unchanged, with another timestamp: a copy no relay sends. */
function alteredCopyOf(original: TestRecord): TestRecord {
  const envelope = JSON.parse(original.message.value);
  return {
    ...original,
    message: {
      ...original.message,
      value: JSON.stringify({
        ...envelope,
        timestamp: new Date(Date.parse(envelope.timestamp) + 1).toISOString(),
      }),
    },
  };
}

/** What every test asserts once its records are through: the first event alone had an effect. */
async function expectRefused(
  current: Run,
  created: TestRecord,
  reused: readonly TestRecord[],
  differs: "event-type" | "value" = "event-type",
) {
  const { started, handled, logLines } = current;
  expect(handled.filter(({ eventId }) => eventId === created.eventId)).toEqual([
    { eventId: created.eventId, eventType: "patient.created" },
  ]);
  expect(await effectTypes(started.name, created.eventId)).toEqual(["patient.created"]);

  // Byte for byte what was published, with the headers that say why, and nothing else parked for the id (the
  // true duplicate was not).
  const parked = await parkedFor(current, created.eventId);
  expect(parked.map(({ message }) => message.value?.toString())).toEqual(reused.map((r) => r.message.value));
  expect(parked.map(({ message }) => message.key?.toString())).toEqual(reused.map((r) => r.message.key));
  for (const [index, { letter }] of parked.entries()) {
    const type = JSON.parse((reused[index] as TestRecord).message.value).eventType;
    expect(letter).toMatchObject({
      eventId: created.eventId,
      eventType: type,
      reason: "poison",
      error: "event-id-reused",
      errorMessage:
        differs === "event-type"
          ? `event id already processed as patient.created; this record is ${type}`
          : "event id already processed as patient.created with another value; this record's value differs",
      attempts: 0,
      original: { topic: "patient-events", partition: PARTITION },
    });
  }
  expect(
    await metricValue(started.registry, "consumer_records_dead_lettered_total", {
      consumer: started.name,
      topic: "patient-events",
      reason: "poison",
    }),
  ).toBeGreaterThanOrEqual(reused.length);

  // The refusal is logged with ids and types, and without the record's personal data.
  const refusals = logLines
    .map((line) => JSON.parse(line))
    .filter((line) => line.eventId === created.eventId && line.processedAs !== undefined);
  expect(refusals.map(({ eventType, processedAs }) => [eventType, processedAs])).toEqual(
    reused.map((record) => [JSON.parse(record.message.value).eventType, "patient.created"]),
  );
  const personal = "ada@example.org";
  expect(logLines.filter((line) => line.includes(personal))).toEqual([]);
}

describe("a record reusing an event id processed as another event type", () => {
  it("alone, is parked in the dead-letter topic unhandled, the inbox row kept, and a true duplicate still acknowledged", async () => {
    await run("transactional", async (current) => {
      const { started } = current;
      const created = onPartition(patientCreatedRecord(), PARTITION);
      const reused = reusingIdOf(created, "patient.updated");
      const later = onPartition(patientCreatedRecord(), PARTITION);

      // One at a time, each alone in its fetch, so each is handled alone.
      await publish(kafkaBrokers(), [created], db);
      await eventually(() => hasEffect(started.name, created.eventId));
      const row = await inboxRow(started.name, created.eventId);
      expect(row).toMatchObject([{ event_type: "patient.created", topic: "patient-events" }]);
      await publish(kafkaBrokers(), [reused], db);
      await eventually(async () => (await parkedFor(current, created.eventId)).length > 0);
      await publish(kafkaBrokers(), [created], db);
      await publish(kafkaBrokers(), [later], db);
      await eventually(() => hasEffect(started.name, later.eventId));

      await expectRefused(current, created, [reused]);
      expect(await inboxRow(started.name, created.eventId)).toEqual(row);
      expect(
        await metricValue(started.registry, "consumer_records_duplicate_total", {
          event_type: "patient.created",
        }),
      ).toBeGreaterThanOrEqual(1);
    });
  });

  it("handled together with others in one transaction, is parked whether the first event came in the same batch or before it", async () => {
    await run("transactional", async (current) => {
      const { started } = current;
      const created = onPartition(patientCreatedRecord(), PARTITION);
      const updated = reusingIdOf(created, "patient.updated");
      const deleted = reusingIdOf(created, "patient.deleted");
      const [between, after] = [1, 2].map(() => onPartition(patientCreatedRecord(), PARTITION)) as [
        TestRecord,
        TestRecord,
      ];

      // One produce request each: the records are one batch in the log, fetched at once. First the id's two
      // types in one batch, with a true duplicate after them; then another type again, the first now stored.
      await publish(kafkaBrokers(), [created, updated, created, between], db);
      await eventually(() => hasEffect(started.name, between.eventId));
      const row = await inboxRow(started.name, created.eventId);
      expect(row).toMatchObject([{ event_type: "patient.created", topic: "patient-events" }]);
      await publish(kafkaBrokers(), [deleted, after], db);
      await eventually(() => hasEffect(started.name, after.eventId));

      await expectRefused(current, created, [updated, deleted]);
      expect(await inboxRow(started.name, created.eventId)).toEqual(row);
      expect(await effectTypes(started.name, between.eventId)).toEqual(["patient.created"]);
    });
  });

  it("with an external effect, is refused before the effect, and a true duplicate still acknowledged", async () => {
    await run("external-effect", async (current) => {
      const { started } = current;
      const created = onPartition(patientCreatedRecord(), PARTITION);
      const reused = reusingIdOf(created, "patient.updated");
      const later = onPartition(patientCreatedRecord(), PARTITION);

      await publish(kafkaBrokers(), [created], db);
      await eventually(async () => (await inboxRow(started.name, created.eventId)).length === 1);
      const row = await inboxRow(started.name, created.eventId);
      await publish(kafkaBrokers(), [reused, created, later], db);
      await eventually(async () => (await inboxRow(started.name, later.eventId)).length === 1);

      await expectRefused(current, created, [reused]);
      expect(await inboxRow(started.name, created.eventId)).toEqual(row);
    });
  });
});

describe("a record reusing an event id with the same event type and another value", () => {
  it("alone or handled together with others, is parked unhandled, and the true duplicate still acknowledged", async () => {
    await run("transactional", async (current) => {
      const { started } = current;
      const created = onPartition(patientCreatedRecord(), PARTITION);
      const [first, second] = [alteredCopyOf(created), alteredCopyOf(alteredCopyOf(created))];
      const [alone, after] = [1, 2].map(() => onPartition(patientCreatedRecord(), PARTITION)) as [
        TestRecord,
        TestRecord,
      ];

      // In one batch with the event itself, then alone once the event's row is stored.
      await publish(kafkaBrokers(), [created, first, created, alone], db);
      await eventually(() => hasEffect(started.name, alone.eventId));
      const row = await inboxRow(started.name, created.eventId);
      await publish(kafkaBrokers(), [second], db);
      await eventually(async () => (await parkedFor(current, created.eventId)).length === 2);
      await publish(kafkaBrokers(), [after], db);
      await eventually(() => hasEffect(started.name, after.eventId));

      await expectRefused(current, created, [first, second], "value");
      expect(await inboxRow(started.name, created.eventId)).toEqual(row);
    });
  });

  it("with an external effect, is refused before the effect", async () => {
    await run("external-effect", async (current) => {
      const { started } = current;
      const created = onPartition(patientCreatedRecord(), PARTITION);
      const altered = alteredCopyOf(created);
      const later = onPartition(patientCreatedRecord(), PARTITION);

      await publish(kafkaBrokers(), [created], db);
      await eventually(async () => (await inboxRow(started.name, created.eventId)).length === 1);
      await publish(kafkaBrokers(), [altered, created, later], db);
      await eventually(async () => (await inboxRow(started.name, later.eventId)).length === 1);

      await expectRefused(current, created, [altered], "value");
    });
  });
});
