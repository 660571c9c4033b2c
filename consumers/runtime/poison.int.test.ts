// Poison records, which no attempt could ever process (not JSON, not a valid envelope, data failing its
// schema), go straight to the dead-letter topic without a single handler attempt; the partition moves on. The
// events of those with an envelope are committed here (commitToOutbox's refusedToo: a writer of another schema
// version, a producer that broke a committed event's record): one no transaction committed is parked as
// `not-committed` instead, whatever else is wrong with it (notCommitted.int.test.ts).
import { randomBytes, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { consumerInbox } from "../../db/schema.ts";
import { topicDefinition } from "../../events/catalog.ts";
import { MAX_EVENT_BYTES } from "../../events/record.ts";
import { createKafka } from "../../kafka/client.ts";
import { compressionType } from "../../kafka/compression.ts";
import { partitionOfKey } from "../../kafka/keyPartitioner.ts";
import { createLogger } from "../../observability/logger.ts";
import { commitToOutbox } from "../../test/consumers/committedRecords.ts";
import { tapDeadLetters } from "../../test/consumers/deadLetterTap.ts";
import { effectConsumer, effectsOf, uniqueConsumerName } from "../../test/consumers/effects.ts";
import {
  startEffectConsumer,
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
import { redriveDeadLetters } from "../deadLetters/deadLetterQueue.ts";
import { valueDigest } from "./inbox.ts";

const db = useEffectsDatabase();

/**
 * Commits the records' events as their values hold them, sealed as publish seals them: committed events whose
 * records are refused for what they hold (not as forgeries, which are parked as not-committed).
 */
async function commitBroken(records: TestRecord[]): Promise<void> {
  await sealPlainPersonalData(db, records);
  await commitToOutbox(db, records, { refusedToo: true });
}

/** A record with the headers of a valid one and another value. */
function withValue(record: TestRecord, value: string): TestRecord {
  return { ...record, message: { ...record.message, value } };
}

describe("a poison record", () => {
  it("not JSON, or failing its schema, goes straight to the dead-letter topic and the partition carries on", async () => {
    const notJson = withValue(onPartition(patientCreatedRecord(), 2), "Ada Lovelace, 1815-12-10, asthma");
    const valid = onPartition(patientCreatedRecord(), 2);
    const envelope = JSON.parse(valid.message.value);
    const wrongSchema = withValue(
      onPartition(patientCreatedRecord(), 2),
      JSON.stringify({
        ...envelope,
        eventId: crypto.randomUUID(),
        data: { ...envelope.data, dateOfBirth: "yesterday" },
      }),
    );
    const after = onPartition(patientCreatedRecord(), 2);
    await commitBroken([wrongSchema]);
    const deadLetters = await tapDeadLetters(kafkaBrokers(), "patient-events");
    const started = await startEffectConsumer(db, "poison");
    try {
      await publish(kafkaBrokers(), [notJson, valid, wrongSchema, after], db);
      await eventually(async () =>
        (await effectsOf(db, started.name)).some((e) => e.eventId === after.eventId),
      );

      const ours = new Set([valid.eventId, after.eventId]);
      const effects = (await effectsOf(db, started.name)).filter((effect) => ours.has(effect.eventId));
      expect(effects.map((effect) => effect.eventId)).toEqual([valid.eventId, after.eventId]);

      const parked = await deadLetters.parkedBy(started.name);
      expect(parked.map(({ letter }) => [letter.reason, letter.error, letter.attempts])).toEqual([
        ["poison", "not-json", 0],
        ["poison", "invalid-data", 0],
      ]);
      // Byte for byte what was published, so that nothing is lost for whoever repairs it.
      expect(parked.map(({ message }) => message.value?.toString())).toEqual([
        notJson.message.value,
        wrongSchema.message.value,
      ]);
      expect(parked[1]?.letter.errorMessage).toContain("data.dateOfBirth");
      expect(parked[1]?.letter.errorMessage).not.toContain("yesterday");
      expect(parked.map(({ letter }) => letter.original.partition)).toEqual([2, 2]);

      // No handler ever ran for them: no failure, no retry.
      expect(await metricValue(started.registry, "consumer_handler_failures_total")).toBe(0);
      expect(await metricValue(started.registry, "consumer_retries_total")).toBe(0);
      expect(
        await metricValue(started.registry, "consumer_records_dead_lettered_total", { reason: "poison" }),
      ).toBe(2);
    } finally {
      await started.stop();
    }
  });

  it("that this consumer processed before, byte for byte, is a duplicate: acknowledged without effect, not parked", async () => {
    // An earlier version, under a rule tightened since, took these events and processed them; a replay, or a
    // consumer's offsets reset, sends them again to a version that refuses what they hold.
    const processedEarlier = onPartition(withBirthDate(patientCreatedRecord(), "yesterday"), 1);
    const otherValue = onPartition(withBirthDate(patientCreatedRecord(), "tomorrow"), 1);
    const misplaced = onPartition(withHeaders(patientCreatedRecord(), { eventType: "patient.deleted" }), 1);
    const after = onPartition(patientCreatedRecord(), 1);
    await commitBroken([processedEarlier, otherValue, misplaced]);
    const deadLetters = await tapDeadLetters(kafkaBrokers(), "patient-events");
    const started = await startEffectConsumer(db, "processed-earlier");
    try {
      // As the earlier version recorded them; one as another value than the one sent now: no copy of it.
      const processed = (record: TestRecord, value = record.message.value) => ({
        consumer: started.name,
        eventId: record.eventId,
        eventType: "patient.created",
        topic: "patient-events",
        kafkaPartition: 1,
        kafkaOffset: 0n,
        valueSha256: valueDigest(Buffer.from(value)),
      });
      await db
        .insert(consumerInbox)
        .values([processed(processedEarlier), processed(otherValue, "{}"), processed(misplaced)]);
      await publish(kafkaBrokers(), [processedEarlier, otherValue, misplaced, after], db);
      await eventually(async () =>
        (await effectsOf(db, started.name)).some((e) => e.eventId === after.eventId),
      );

      expect((await effectsOf(db, started.name)).map((effect) => effect.eventId)).toEqual([after.eventId]);
      const parked = await deadLetters.parkedBy(started.name);
      // A record that breaks the record contract around a value processed before is still a producer's fault.
      expect(parked.map(({ letter }) => [letter.eventId, letter.error])).toEqual([
        [otherValue.eventId, "invalid-data"],
        [misplaced.eventId, "wrong-headers"],
      ]);
      expect(await metricValue(started.registry, "consumer_records_duplicate_total")).toBe(1);
    } finally {
      await started.stop();
    }
  });

  it("whose key is not its event's aggregate id goes to the dead-letter topic unhandled, naming no key", async () => {
    // Keyed by another patient, or by anything at all: the key chose the partition, where the event would be
    // ordered among another aggregate's events instead of its own.
    const otherPatients = onPartition(withKey(patientCreatedRecord(), crypto.randomUUID()), 3);
    const anything = onPartition(withKey(patientCreatedRecord(), "Ada Lovelace"), 3);
    const unkeyed = onPartition(withKey(patientCreatedRecord(), null), 3);
    const after = onPartition(patientCreatedRecord(), 3);
    await commitBroken([otherPatients, anything, unkeyed]);
    const deadLetters = await tapDeadLetters(kafkaBrokers(), "patient-events");
    const started = await startEffectConsumer(db, "wrong-key");
    try {
      await publish(kafkaBrokers(), [otherPatients, anything, unkeyed, after], db);
      await eventually(async () =>
        (await effectsOf(db, started.name)).some((e) => e.eventId === after.eventId),
      );

      expect((await effectsOf(db, started.name)).map((effect) => effect.eventId)).toEqual([after.eventId]);
      const parked = await deadLetters.parkedBy(started.name);
      expect(parked.map(({ letter }) => [letter.eventId, letter.reason, letter.error])).toEqual(
        [otherPatients, anything, unkeyed].map((record) => [record.eventId, "poison", "wrong-key"]),
      );
      for (const { letter } of parked) {
        expect(letter.errorMessage).toBe(
          "the record's key is not the patient id of its patient.created event",
        );
      }
      expect(parked.map(({ message }) => message.key?.toString() ?? null)).toEqual([
        otherPatients.message.key,
        "Ada Lovelace",
        null,
      ]);
      expect(await metricValue(started.registry, "consumer_handler_failures_total")).toBe(0);
    } finally {
      await started.stop();
    }
  });

  it("whose headers are missing or say another event than its value goes to the dead-letter topic unhandled", async () => {
    const otherType = onPartition(withHeaders(patientCreatedRecord(), { eventType: "patient.deleted" }), 4);
    const otherId = onPartition(withHeaders(patientCreatedRecord(), { eventId: crypto.randomUUID() }), 4);
    const otherRequest = onPartition(withHeaders(patientCreatedRecord(), { correlationId: "Ada" }), 4);
    const twice = patientCreatedRecord();
    const idTwice = onPartition(withHeaders(twice, { eventId: [twice.eventId, twice.eventId] }), 4);
    const none = onPartition(patientCreatedRecord(), 4);
    none.message.headers = {};
    const after = onPartition(patientCreatedRecord(), 4);
    await commitBroken([otherType, otherId, otherRequest, idTwice, none]);
    const deadLetters = await tapDeadLetters(kafkaBrokers(), "patient-events");
    const started = await startEffectConsumer(db, "wrong-headers");
    try {
      await publish(kafkaBrokers(), [otherType, otherId, otherRequest, idTwice, none, after], db);
      await eventually(async () =>
        (await effectsOf(db, started.name)).some((e) => e.eventId === after.eventId),
      );

      expect((await effectsOf(db, started.name)).map((effect) => effect.eventId)).toEqual([after.eventId]);
      const parked = await deadLetters.parkedBy(started.name);
      expect(parked.map(({ letter }) => [letter.reason, letter.error, letter.errorMessage])).toEqual(
        [
          "the record's eventType header is not the envelope's eventType",
          "the record's eventId header is not the envelope's eventId",
          "the record's correlationId header is not the envelope's correlationId",
          "the record's eventId header is given 2 times",
          "the record's eventId header is missing, eventType header is missing, correlationId header is missing",
        ].map((message) => ["poison", "wrong-headers", message]),
      );
      // Byte for byte what was published, its headers too, for whoever repairs it.
      expect(parked.map(({ message }) => message.value?.toString())).toEqual(
        [otherType, otherId, otherRequest, idTwice, none].map((record) => record.message.value),
      );
      expect(parked[0]?.letter.eventType).toBe("patient.deleted");
      expect(await metricValue(started.registry, "consumer_handler_failures_total")).toBe(0);
    } finally {
      await started.stop();
    }
  });

  it("on another partition than its key's goes to the dead-letter topic unhandled, though a copy of a committed event", async () => {
    // A byte-for-byte copy of a relay's record sent to another partition: there it is ordered among other
    // aggregates' events, and applied it could overtake its own aggregate's older events on their partition.
    const real = patientCreatedRecord();
    const partitions = topicDefinition("patient-events").partitions;
    const keys = partitionOfKey(real.message.key, partitions);
    const elsewhere = (keys + 1) % partitions;
    const deadLetters = await tapDeadLetters(kafkaBrokers(), "patient-events");
    const started = await startEffectConsumer(db, "wrong-partition");
    try {
      const relays = onPartition(real, keys);
      await publish(kafkaBrokers(), [relays], db);
      // As sealed and committed: the copy holds exactly what the relay's record does.
      const copy = { ...relays, message: { ...relays.message, partition: elsewhere } };
      await publishUncommitted(kafkaBrokers(), [copy], db);
      await eventually(async () => (await deadLetters.parkedBy(started.name)).length === 1);
      await eventually(async () =>
        (await effectsOf(db, started.name)).some((e) => e.eventId === real.eventId),
      );

      expect((await effectsOf(db, started.name)).map((effect) => effect.eventId)).toEqual([real.eventId]);
      const parked = await deadLetters.parkedBy(started.name);
      expect(
        parked.map(({ letter }) => [letter.eventId, letter.reason, letter.error, letter.original.partition]),
      ).toEqual([[real.eventId, "poison", "wrong-partition", elsewhere]]);
      expect(parked[0]?.letter.errorMessage).toBe(
        `the record is on partition ${elsewhere}, not ${keys}, the one of the topic's ${partitions} its key hashes to`,
      );
      expect(parked[0]?.message.value?.toString()).toBe(relays.message.value);
    } finally {
      await started.stop();
    }
  });

  it("larger than any event may be goes to the dead-letter topic unread, whatever it holds", async () => {
    // A valid event but for its size: a user agent longer than any request's (the write path cuts it to 1 KiB),
    // sealed by publish as a relay's would be, takes the record past MAX_EVENT_BYTES and under the topic's limit.
    const large = onPartition(patientCreatedRecord(), 5);
    const envelope = JSON.parse(large.message.value);
    large.message.value = JSON.stringify({
      ...envelope,
      metadata: { ...envelope.metadata, userAgent: "x".repeat(MAX_EVENT_BYTES) },
    });
    const after = onPartition(patientCreatedRecord(), 5);
    const deadLetters = await tapDeadLetters(kafkaBrokers(), "patient-events");
    const started = await startEffectConsumer(db, "too-large");
    try {
      await publish(kafkaBrokers(), [large, after], db);
      await eventually(async () =>
        (await effectsOf(db, started.name)).some((e) => e.eventId === after.eventId),
      );

      expect((await effectsOf(db, started.name)).map((effect) => effect.eventId)).toEqual([after.eventId]);
      const parked = await deadLetters.parkedBy(started.name);
      expect(parked.map(({ letter }) => [letter.eventId, letter.reason, letter.error])).toEqual([
        [large.eventId, "poison", "too-large"],
      ]);
      expect(parked[0]?.letter.errorMessage).toMatch(
        new RegExp(`^the record takes \\d+ bytes, more than the ${MAX_EVENT_BYTES} an event may take`),
      );
      expect(parked[0]?.message.value?.toString()).toBe(large.message.value);
    } finally {
      await started.stop();
    }
  });

  it("too large even for its dead-letter topic once decompressed is parked without its record, and its partition carries on", async () => {
    // What only compression got under the topic's limit (a batch's size is counted compressed): 5.4 MB of one
    // random 600 KiB block repeated, which Zstandard folds into about one block and LZ4, what dead letters are
    // parked with, cannot. Parked whole, Kafka refused its dead letter for good and the partition stopped.
    const block = randomBytes(600 * 1024);
    const value = Buffer.concat(Array.from({ length: 9 }, () => block));
    const eventId = randomUUID();
    const producer = createKafka({ brokers: kafkaBrokers(), clientId: "test-compressed-bomb" }).producer();
    const after = onPartition(patientCreatedRecord(), 5);
    const deadLetters = await tapDeadLetters(kafkaBrokers(), "patient-events");
    const started = await startEffectConsumer(db, "bomb");
    await producer.connect();
    try {
      const [sent] = await producer.send({
        topic: "patient-events",
        acks: -1,
        compression: compressionType("zstd"),
        messages: [
          { key: randomUUID(), value, partition: 5, headers: { eventId, eventType: "patient.created" } },
        ],
      });
      await publish(kafkaBrokers(), [after], db);
      await eventually(async () =>
        (await effectsOf(db, started.name)).some((e) => e.eventId === after.eventId),
      );

      const parked = await deadLetters.parkedBy(started.name);
      expect(parked.map(({ letter }) => [letter.eventId, letter.reason, letter.error])).toEqual([
        [eventId, "poison", "too-large"],
      ]);
      const [{ letter, message }] = parked as [(typeof parked)[number]];
      expect(message.value).toBeNull();
      expect(message.key).toBeNull();
      expect(letter.recordOmitted).toBeGreaterThan(value.length);
      expect(letter.original).toEqual({ topic: "patient-events", partition: 5, offset: sent?.baseOffset });
      expect(await metricValue(started.registry, "consumer_dead_letter_refusals_total")).toBe(0);

      // Nothing to send back: a re-drive of it leaves it parked and says where the record is.
      const kafka = createKafka({ brokers: kafkaBrokers(), clientId: "test-compressed-bomb-redrive" });
      const admin = kafka.admin();
      await admin.connect();
      try {
        const outcome = await redriveDeadLetters(kafka, admin, db, "patient-events.dlq", {
          eventIds: new Set([eventId]),
        });
        expect(outcome.redriven).toEqual([]);
        expect(outcome.skipped.map(({ reason }) => reason)).toEqual([
          `${eventId}: it took ${letter.recordOmitted} bytes, more than a dead letter holds, so its dead letter holds none of it; the record is at patient-events partition 5 offset ${sent?.baseOffset}`,
        ]);
      } finally {
        await admin.disconnect();
      }
    } finally {
      await producer.disconnect();
      await started.stop();
    }
  });

  it("is logged without what its headers hold, which may be anything", async () => {
    const personal = "Ada Lovelace 1815-12-10 ada@example.org";
    const notJson = onPartition(withHeaders(patientCreatedRecord(), { eventId: personal }), 0);
    notJson.message.value = personal;
    const forged = onPartition(withHeaders(patientCreatedRecord(), { eventId: personal }), 0);
    const after = onPartition(patientCreatedRecord(), 0);
    await commitBroken([forged]);
    const logLines: string[] = [];
    const definition = effectConsumer(uniqueConsumerName("poison-logs"));
    const started = await startTestConsumer(definition, {
      db,
      kafkaBrokers: kafkaBrokers(),
      name: definition.name,
      log: createLogger({ level: "debug", destination: { write: (line: string) => logLines.push(line) } }),
    });
    try {
      await publish(kafkaBrokers(), [notJson, forged, after], db);
      await eventually(async () =>
        (await effectsOf(db, started.name)).some((e) => e.eventId === after.eventId),
      );

      const parked = logLines
        .map((line) => JSON.parse(line))
        .filter((line) => line.msg === "record sent to the dead-letter topic" && line.partition === 0);
      expect(parked.map(({ eventId, error }) => [eventId, error])).toEqual([
        [null, "not-json"],
        [null, "wrong-headers"],
      ]);
      expect(logLines.filter((line) => /Ada|ada@/.test(line))).toEqual([]);
    } finally {
      await started.stop();
    }
  });
});

/** The record of a patient.created whose date of birth is `dateOfBirth`, which no version took as one. */
function withBirthDate(record: TestRecord, dateOfBirth: string): TestRecord {
  const envelope = JSON.parse(record.message.value);
  return withValue(record, JSON.stringify({ ...envelope, data: { ...envelope.data, dateOfBirth } }));
}

/** The record with some of its headers replaced. */
function withHeaders(record: TestRecord, headers: Record<string, string | string[]>): TestRecord {
  return { ...record, message: { ...record.message, headers: { ...record.message.headers, ...headers } } };
}

/** The record under another key (null: none) than its event's aggregate id. */
function withKey(record: TestRecord, key: string | null): TestRecord {
  return { ...record, message: { ...record.message, key: key as string } };
}
