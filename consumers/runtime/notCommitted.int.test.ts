// A consumer applies only committed events: a record whose value is not the payload of the outbox row with its
// event id (a record someone with produce access wrote: a fabricated event, or a real event's id with another
// value read before the real record) is refused as poison, `not-committed`: parked in the dead-letter topic
// byte for byte, never handled, nothing recorded in the inbox, and its partition moves on; it is counted as such
// (consumer_records_not_committed_total, a critical alert's), from a series there at 0 since the consumer started.
// Each way a record reaches a handler is checked: alone, together with others in one transaction, and by a
// consumer whose effect leaves Postgres.
import { type SQL, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import type { TypedEnvelope } from "../../events/index.ts";
import { createLogger } from "../../observability/logger.ts";
import { commitToOutbox } from "../../test/consumers/committedRecords.ts";
import { type DeadLetterTap, tapDeadLetters } from "../../test/consumers/deadLetterTap.ts";
import { uniqueConsumerName } from "../../test/consumers/effects.ts";
import {
  type StartedConsumer,
  startTestConsumer,
  useEffectsDatabase,
} from "../../test/consumers/inProcess.ts";
import { metricValue } from "../../test/consumers/metrics.ts";
import {
  onPartition,
  patientCreatedRecord,
  publish,
  publishUncommitted,
  sealPlainPersonalData,
  type TestRecord,
} from "../../test/consumers/records.ts";
import { eventually, kafkaBrokers } from "../../test/fixtures.ts";
import type { ConsumerDefinition } from "./consumerDefinition.ts";
import { DEAD_LETTER_HEADERS } from "./deadLetters.ts";
import { valueDigest } from "./inbox.ts";

const db = useEffectsDatabase();

const PARTITION = 2;

/** A consumer of patient.created whose effect is a row per handled event in consumer_test_effects. */
function effectConsumer(kind: "transactional" | "external-effect"): ConsumerDefinition {
  const name = uniqueConsumerName(`not-committed-${kind}`);
  const effect = async (event: TypedEnvelope, execute: (query: SQL) => Promise<unknown>, offset: string) => {
    await execute(sql`
      INSERT INTO consumer_test_effects (consumer, event_id, event_type, kafka_partition, kafka_offset)
      VALUES (${name}, ${event.eventId}, ${event.eventType}, ${PARTITION}, ${offset})`);
  };
  return kind === "transactional"
    ? {
        kind,
        name,
        topics: ["patient-events"],
        handlers: {
          "patient.created": (event, { tx, record }) =>
            effect(event, (query) => tx.execute(query), record.offset),
        },
      }
    : {
        kind,
        name,
        topics: ["patient-events"],
        handlers: {
          "patient.created": (event, { db, record }) =>
            effect(event, (query) => db.execute(query), record.offset),
        },
      };
}

interface Run {
  started: StartedConsumer;
  logLines: string[];
  deadLetters: DeadLetterTap;
}

async function run(kind: "transactional" | "external-effect", test: (run: Run) => Promise<void>) {
  const definition = effectConsumer(kind);
  const logLines: string[] = [];
  const deadLetters = await tapDeadLetters(kafkaBrokers(), "patient-events");
  const started = await startTestConsumer(definition, {
    db,
    kafkaBrokers: kafkaBrokers(),
    name: definition.name,
    log: createLogger({ level: "debug", destination: { write: (line: string) => logLines.push(line) } }),
  });
  try {
    // There before any refusal, so that Prometheus sees the first one as an increase; the dead letters too.
    expect(await notCommittedSeries(started)).toEqual([{ topic: "patient-events" }]);
    for (const reason of ["poison", "attempts-exhausted"]) {
      const labels = { consumer: started.name, topic: "patient-events", reason };
      expect(await metricSeries(started.registry, "consumer_records_dead_lettered_total", labels)).toEqual([
        0,
      ]);
    }
    await test({ started, logLines, deadLetters });
  } finally {
    await started.stop();
  }
}

/** The values of the metric's series with these labels (none when it has no such series). */
async function metricSeries(
  registry: StartedConsumer["registry"],
  name: string,
  labels: Record<string, string>,
) {
  const { values } = (await registry.getSingleMetric(name)?.get()) ?? { values: [] };
  return values
    .filter((value) => Object.entries(labels).every(([label, wanted]) => value.labels[label] === wanted))
    .map(({ value }) => value);
}

/** The topics of the consumer's consumer_records_not_committed_total series. */
async function notCommittedSeries({ registry, name }: StartedConsumer): Promise<Array<{ topic: unknown }>> {
  const { values } = (await registry.getSingleMetric("consumer_records_not_committed_total")?.get()) ?? {
    values: [],
  };
  return values
    .filter(({ labels }) => labels.consumer === name)
    .map(({ labels }) => ({ topic: labels.topic }));
}

/** How many records the consumer refused as not committed, by its counter. */
function notCommittedCount({ registry, name }: StartedConsumer): Promise<number> {
  return metricValue(registry, "consumer_records_not_committed_total", {
    consumer: name,
    topic: "patient-events",
  });
}

/**
 * The counter says what the dead-letter topic holds: each `not-committed` letter this consumer parked (at least
 * `atLeast`, other checkouts' forgeries on the shared broker besides) counted once, and nothing else counted.
 */
async function expectCountedAsParked({ deadLetters, started }: Run, atLeast: number): Promise<void> {
  let counts = { parked: 0, counted: 0 };
  const agree = async () => {
    const letters = await deadLetters.parkedBy(started.name);
    counts = {
      parked: letters.filter(({ letter }) => letter.error === "not-committed").length,
      counted: await notCommittedCount(started),
    };
    return counts.parked >= atLeast && counts.counted === counts.parked;
  };
  await eventually(agree).catch(() => {
    throw new Error(`not-committed letters parked ${counts.parked}, counted ${counts.counted}`);
  });
}

/** The consumer's effects of the event: the offsets of the records it handled it from. */
async function effectOffsets(consumer: string, eventId: string): Promise<string[]> {
  const { rows } = await db.$client.query<{ kafka_offset: string }>(
    "SELECT kafka_offset::text FROM consumer_test_effects WHERE consumer = $1 AND event_id = $2 ORDER BY seq",
    [consumer, eventId],
  );
  return rows.map((row) => row.kafka_offset);
}

async function inboxRows(consumer: string, eventId: string) {
  const { rows } = await db.$client.query<{ kafka_offset: string; value_sha256: Buffer }>(
    "SELECT kafka_offset::text, value_sha256 FROM consumer_inbox WHERE consumer = $1 AND event_id = $2",
    [consumer, eventId],
  );
  return rows;
}

async function parkedFor({ deadLetters, started }: Run, eventId: string) {
  return (await deadLetters.parkedBy(started.name)).filter(({ letter }) => letter.eventId === eventId);
}

/** A record of a new patient, its personal fields sealed as the write path seals them; not committed. */
async function sealedRecord(): Promise<TestRecord> {
  const record = onPartition(patientCreatedRecord(), PARTITION);
  await sealPlainPersonalData(db, [record]);
  return record;
}

/** `original`'s event, id, type, key and headers unchanged, with another timestamp: a copy no relay sends. */
function alteredCopyOf(original: TestRecord): TestRecord {
  const envelope = JSON.parse(original.message.value);
  const timestamp = new Date(Date.parse(envelope.timestamp) - 60_000).toISOString();
  return { ...original, message: { ...original.message, value: JSON.stringify({ ...envelope, timestamp }) } };
}

/** The forged records were parked as `not-committed`, byte for byte, and nothing of them was applied or recorded. */
async function expectRefused(current: Run, forged: TestRecord, found: "nothing" | "outbox-other-value") {
  const { started, logLines } = current;
  const parked = await parkedFor(current, forged.eventId);
  expect(parked.map(({ message }) => message.value?.toString())).toEqual([forged.message.value]);
  expect(parked.map(({ message }) => message.key?.toString())).toEqual([forged.message.key]);
  expect(parked[0]?.letter).toMatchObject({
    eventId: forged.eventId,
    eventType: "patient.created",
    reason: "poison",
    error: "not-committed",
    errorMessage:
      found === "nothing"
        ? `event ${forged.eventId} (patient.created) is not a committed event: neither the outbox nor the archived events hold an event with this id`
        : `event ${forged.eventId} (patient.created) is not the committed event: the outbox holds this id with another value`,
    attempts: 0,
    original: { topic: "patient-events", partition: PARTITION },
  });
  expect(
    await metricValue(started.registry, "consumer_records_dead_lettered_total", {
      consumer: started.name,
      topic: "patient-events",
      reason: "poison",
    }),
  ).toBeGreaterThanOrEqual(1);
  // And counted on its own: a forgery is a security incident, not a delivery fault.
  await expectCountedAsParked(current, 1);
  // Logged with its id, type and why, and nothing the record holds.
  const refusals = logLines
    .map((line) => JSON.parse(line))
    .filter((line) => line.eventId === forged.eventId && line.found !== undefined);
  expect(refusals.map((line) => [line.eventType, line.found])).toEqual([["patient.created", found]]);
  const { data } = JSON.parse(forged.message.value);
  for (const value of Object.values(data as Record<string, unknown>).filter((v) => typeof v === "string")) {
    if ((value as string).length > 8 && value !== data.patientId) {
      expect(logLines.filter((line) => line.includes(value as string))).toEqual([]);
    }
  }
}

describe("a forged record: valid, under its key and headers, with an event id the outbox does not hold", () => {
  it("alone, or among committed records handled together, is parked unhandled, nothing recorded, and the partition moves on", async () => {
    await run("transactional", async (current) => {
      const { started } = current;
      const forged = await sealedRecord();
      const [before, after, later] = await Promise.all([sealedRecord(), sealedRecord(), sealedRecord()]);
      await commitToOutbox(db, [before, after, later]);

      // Alone in its fetch; then between two committed records in one produce request, one batch in the log.
      await publishUncommitted(kafkaBrokers(), [forged], db);
      await eventually(async () => (await parkedFor(current, forged.eventId)).length === 1);
      const batched = await sealedRecord();
      await publishUncommitted(kafkaBrokers(), [before, batched, after], db);
      await eventually(async () => (await parkedFor(current, batched.eventId)).length === 1);
      await publish(kafkaBrokers(), [later], db);
      await eventually(async () => (await effectOffsets(started.name, later.eventId)).length === 1);

      for (const record of [forged, batched]) {
        await expectRefused(current, record, "nothing");
        expect(await effectOffsets(started.name, record.eventId)).toEqual([]);
        expect(await inboxRows(started.name, record.eventId)).toEqual([]);
      }
      // Each refusal counted, the one in a batch as the one alone.
      await expectCountedAsParked(current, 2);
      for (const record of [before, after, later]) {
        expect(await effectOffsets(started.name, record.eventId)).toHaveLength(1);
      }
    });
  });

  it("with an external effect, is refused before the effect, nothing recorded", async () => {
    await run("external-effect", async (current) => {
      const { started } = current;
      const forged = await sealedRecord();
      const later = await sealedRecord();

      await publishUncommitted(kafkaBrokers(), [forged], db);
      await publish(kafkaBrokers(), [later], db);
      await eventually(async () => (await inboxRows(started.name, later.eventId)).length === 1);

      await expectRefused(current, forged, "nothing");
      expect(await effectOffsets(started.name, forged.eventId)).toEqual([]);
      expect(await inboxRows(started.name, forged.eventId)).toEqual([]);
      expect(await effectOffsets(started.name, later.eventId)).toHaveLength(1);
    });
  });
});

describe("a committed event's record read before its commit is visible (Debezium streams a commit from the WAL first)", () => {
  it("is read again until the outbox shows it, then applied: not parked, not counted as forged", async () => {
    await run("transactional", async (current) => {
      const { started, logLines } = current;
      const early = await sealedRecord();
      await publishUncommitted(kafkaBrokers(), [early], db);
      // The consumer has read the record and found no event with its id; then the commit becomes visible.
      await eventually(async () =>
        logLines.some((line) => line.includes(early.eventId) && line.includes("read again until its commit")),
      );
      await commitToOutbox(db, [early]);
      await eventually(async () => (await effectOffsets(started.name, early.eventId)).length === 1);
      expect(await parkedFor(current, early.eventId)).toEqual([]);
      expect(await notCommittedCount(started)).toBe(0);
    });
  });
});

describe("a forged record carrying a re-drive's header", () => {
  it("is refused as not committed, though its consumer applied an event of its aggregate: never skipped as an older one", async () => {
    await run("transactional", async (current) => {
      const { started } = current;
      const applied = await sealedRecord();
      await publish(kafkaBrokers(), [applied], db);
      await eventually(async () => (await effectOffsets(started.name, applied.eventId)).length === 1);
      // The same patient's, under an event id the outbox does not hold, marked as a dead letter sent back.
      const { patientId } = JSON.parse(applied.message.value).data as { patientId: string };
      const forged = onPartition(patientCreatedRecord(patientId), PARTITION);
      await sealPlainPersonalData(db, [forged]);
      forged.message.headers = {
        ...forged.message.headers,
        [DEAD_LETTER_HEADERS.redrivenFrom]: "patient-events.dlq/0/0",
      };

      await publishUncommitted(kafkaBrokers(), [forged], db);
      await eventually(async () => (await parkedFor(current, forged.eventId)).length === 1);
      await expectRefused(current, forged, "nothing");
      expect(await effectOffsets(started.name, forged.eventId)).toEqual([]);
      expect(
        await metricValue(started.registry, "consumer_records_superseded_total", { consumer: started.name }),
      ).toBe(0);
    });
  });
});

describe("a copy of a committed event's id with another value, read before the event itself", () => {
  for (const kind of ["transactional", "external-effect"] as const) {
    it(`is refused, and the event read after it is applied (${kind})`, async () => {
      await run(kind, async (current) => {
        const { started } = current;
        const real = await sealedRecord();
        expect(await commitToOutbox(db, [real])).toEqual([real.eventId]);
        const forged = alteredCopyOf(real);

        // The forgery first, alone; then the relay's record of the committed event.
        await publishUncommitted(kafkaBrokers(), [forged], db);
        await eventually(async () => (await parkedFor(current, forged.eventId)).length === 1);
        expect(await inboxRows(started.name, real.eventId)).toEqual([]);
        await publish(kafkaBrokers(), [real], db);
        await eventually(async () => (await inboxRows(started.name, real.eventId)).length === 1);

        await expectRefused(current, forged, "outbox-other-value");
        const [parked] = await parkedFor(current, forged.eventId);
        const offsets = await effectOffsets(started.name, real.eventId);
        // Applied once, from the real record, after the forgery's offset.
        expect(offsets).toHaveLength(1);
        expect(BigInt(offsets[0] as string)).toBeGreaterThan(BigInt(parked?.letter.original.offset ?? "0"));
        expect(await inboxRows(started.name, real.eventId)).toEqual([
          { kafka_offset: offsets[0], value_sha256: valueDigest(Buffer.from(real.message.value)) },
        ]);
      });
    });
  }

  it("in one batch with the event, is refused, and the event is applied (handled together)", async () => {
    await run("transactional", async (current) => {
      const { started } = current;
      const real = await sealedRecord();
      await commitToOutbox(db, [real]);
      const forged = alteredCopyOf(real);
      const after = await sealedRecord();
      await commitToOutbox(db, [after]);

      await publishUncommitted(kafkaBrokers(), [forged, real, after], db);
      await eventually(async () => (await effectOffsets(started.name, after.eventId)).length === 1);

      await expectRefused(current, forged, "outbox-other-value");
      expect(await effectOffsets(started.name, real.eventId)).toHaveLength(1);
      expect((await inboxRows(started.name, real.eventId))[0]?.value_sha256).toEqual(
        valueDigest(Buffer.from(real.message.value)),
      );
    });
  });
});

describe("a forged record that is poison for another reason too", () => {
  it("is parked as not-committed and counted, its other problem logged; a committed event's broken record keeps its own", async () => {
    await run("transactional", async (current) => {
      const { started, logLines, deadLetters } = current;
      // Forged without the patients' keys: another event's sealed field, which does not open as this one's.
      const [donor, undecryptable] = await Promise.all([sealedRecord(), sealedRecord()]);
      const lastName = JSON.parse(donor.message.value).data.lastName;
      withEnvelope(undecryptable, (envelope) => ({ ...envelope, data: { ...envelope.data, lastName } }));
      // Forged without the relay's headers; and of a type no consumer knows.
      const headerless = await sealedRecord();
      headerless.message.headers = {};
      const unknownType = await sealedRecord();
      withEnvelope(unknownType, (envelope) => ({ ...envelope, eventType: "patient.teleported" }));
      unknownType.message.headers = { ...unknownType.message.headers, eventType: "patient.teleported" };
      // A committed event whose record lost its headers on the way: a fault to fix, no forgery.
      const broken = await sealedRecord();
      await commitToOutbox(db, [broken]);
      broken.message.headers = {};
      const after = await sealedRecord();
      await commitToOutbox(db, [after]);

      const forged = [undecryptable, headerless, unknownType];
      await publishUncommitted(kafkaBrokers(), [...forged, broken, after], db);
      await eventually(async () => (await effectOffsets(started.name, after.eventId)).length === 1);

      const parked = await deadLetters.parkedBy(started.name);
      const parkedAs = (record: TestRecord) =>
        parked
          .filter(({ message }) => message.value?.toString() === record.message.value)
          .map(({ letter }) => letter.error);
      expect([...forged, broken].map(parkedAs)).toEqual([
        ["not-committed"],
        ["not-committed"],
        ["not-committed"],
        ["wrong-headers"],
      ]);
      expect(
        parked.find(({ message }) => message.value?.toString() === headerless.message.value)?.letter,
      ).toMatchObject({
        errorMessage: `event ${headerless.eventId} (patient.created) is not a committed event: neither the outbox nor the archived events hold an event with this id`,
      });
      await expectCountedAsParked(current, 3);
      const refusals = logLines
        .map((line) => JSON.parse(line))
        .filter((line) => line.msg === "refused: the record is not a committed event");
      expect(refusals.map(({ eventId, found, poison }) => [eventId, found, poison])).toEqual([
        [undecryptable.eventId, "nothing", "undecryptable"],
        [headerless.eventId, "nothing", "wrong-headers"],
        [unknownType.eventId, "nothing", "unknown-event-type"],
      ]);
      for (const record of [...forged, broken]) {
        expect(await inboxRows(started.name, record.eventId)).toEqual([]);
        expect(await effectOffsets(started.name, record.eventId)).toEqual([]);
      }
    });
  });
});

/** Rewrites the record's value, its envelope changed by `change`. */
function withEnvelope(record: TestRecord, change: (envelope: { data: object }) => object): void {
  record.message.value = JSON.stringify(change(JSON.parse(record.message.value)));
}
