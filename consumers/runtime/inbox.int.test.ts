// The inbox: an event delivered twice has one effect, whether the duplicate comes from the relay re-sending
// it or from a consumer that died after its effect committed and before its offset did.
import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { consumerInbox } from "../../db/schema.ts";
import { redeliveryWindowDays } from "../../events/index.ts";
import { createKafka } from "../../kafka/client.ts";
import { commitToOutbox } from "../../test/consumers/committedRecords.ts";
import { effectsOf, uniqueConsumerName } from "../../test/consumers/effects.ts";
import { startEffectConsumer, useEffectsDatabase } from "../../test/consumers/inProcess.ts";
import { metricValue } from "../../test/consumers/metrics.ts";
import {
  eventRecord,
  onPartition,
  patientCreatedRecord,
  publish,
  sealPlainPersonalData,
  startGroupAtEnd,
  type TestRecord,
} from "../../test/consumers/records.ts";
import { spawnEffectConsumer } from "../../test/consumers/spawnConsumer.ts";
import { eventually, kafkaBrokers } from "../../test/fixtures.ts";
import { forgetOutlivedInboxEntries, recordAllInInbox, valueDigest, verdictBeforeEffect } from "./inbox.ts";

const db = useEffectsDatabase();

describe("the inbox", () => {
  it("turns the same event delivered twice into one effect", async () => {
    const started = await startEffectConsumer(db, "inbox");
    try {
      // All on one partition, so that the last record's effect says the duplicate before it was consumed.
      const record = onPartition(patientCreatedRecord(), 0);
      const other = onPartition(patientCreatedRecord(), 0);
      const last = onPartition(patientCreatedRecord(), 0);
      // The relay's at-least-once duplicate: the same bytes again, on the same partition.
      await publish(kafkaBrokers(), [record, other, record, last], db);
      await eventually(async () =>
        (await effectsOf(db, started.name)).some((effect) => effect.eventId === last.eventId),
      );

      // The topic is the platform's own, and other records may flow through it: only ours are counted.
      const ours = new Set([record.eventId, other.eventId, last.eventId]);
      const effects = (await effectsOf(db, started.name)).filter((effect) => ours.has(effect.eventId));
      expect(effects.map((effect) => effect.eventId)).toEqual([record.eventId, other.eventId, last.eventId]);
      expect(await metricValue(started.registry, "consumer_records_duplicate_total")).toBeGreaterThanOrEqual(
        1,
      );
    } finally {
      await started.stop();
    }
  });

  it("handles a partition's records together, one transaction for many, each event with one effect in order", async () => {
    const records = Array.from({ length: 40 }, () => onPartition(patientCreatedRecord(), 0));
    const failing = records[5] as TestRecord;
    // A record again among them, as the relay's at-least-once duplicate: acknowledged without effect.
    const published = [...records.slice(0, 36), records[32] as TestRecord, ...records.slice(36)];
    const failingAttempts: number[] = [];
    // The records before the failing one take 300 ms each: its failed attempt is timed from its own start, not
    // from the start of the records handled with it (1.5 s before it).
    const slow = new Set(records.slice(0, 5).map((record) => record.eventId));
    const started = await startEffectConsumer(db, "inbox-together", {
      fail: (eventId, attempt) => {
        if (eventId !== failing.eventId) return null;
        failingAttempts.push(attempt);
        return attempt === 1 ? new Error("the first attempt fails") : null;
      },
      delayMs: (eventId) => (slow.has(eventId) ? 300 : 0),
    });
    try {
      // One produce request: the records are one batch in the log, fetched at once.
      await publish(kafkaBrokers(), published, db);
      const ours = new Set(records.map((record) => record.eventId));
      const ourEffects = async () =>
        (await effectsOf(db, started.name)).filter((effect) => ours.has(effect.eventId));
      await eventually(async () => (await ourEffects()).length >= records.length);

      const effects = await ourEffects();
      expect(effects.map((effect) => effect.eventId)).toEqual(records.map((record) => record.eventId));
      const inTransaction = (txId: string) => effects.filter((effect) => effect.txId === txId);
      // The records after the failing one were handled together, up to 25 per transaction.
      const after = effects.slice(6);
      expect(new Set(after.map((effect) => effect.txId)).size).toBeLessThanOrEqual(3);
      // The failing record rolled back the records handled with it, which were then handled one by one
      // (none had a second effect); its failure spent an attempt, as alone, and its retry succeeded alone.
      expect(failingAttempts).toEqual([1, 2]);
      const retried = effects.find((effect) => effect.eventId === failing.eventId);
      expect(inTransaction(retried?.txId ?? "")).toHaveLength(1);
      expect(await metricValue(started.registry, "consumer_handler_failures_total")).toBe(1);
      expect(await metricValue(started.registry, "consumer_retries_total", { cause: "handler" })).toBe(1);
      expect(await metricValue(started.registry, "consumer_records_duplicate_total")).toBeGreaterThanOrEqual(
        1,
      );
      expect(await metricValue(started.registry, "consumer_records_dead_lettered_total")).toBe(0);
      // Every attempt, the failed one included, took less than a second (the slow records 300 ms each), where the
      // failed one timed from the records handled with it takes 1.5 s: the bound is 0.7 s above a slow attempt
      // and 0.5 s below that (with 150 ms records and half a second, a busy machine's pause of 350 ms in one
      // attempt failed the test).
      const buckets = (await started.registry.getSingleMetric("consumer_handler_duration_seconds")?.get())
        ?.values;
      const atMost = (le: number | string) =>
        buckets?.find(
          (sample) =>
            (sample as { metricName?: string }).metricName?.endsWith("_bucket") && sample.labels.le === le,
        )?.value;
      expect(atMost(1)).toBeGreaterThanOrEqual(records.length + 1);
      expect(atMost(1)).toBe(atMost("+Inf"));
    } finally {
      await started.stop();
    }
  });

  it("killed after an effect commits and before its offset does, the consumer's successor acknowledges the redelivery without a second effect", async () => {
    const name = uniqueConsumerName("inbox-crash");
    await startGroupAtEnd(kafkaBrokers(), name, ["patient-events"]);
    const record = patientCreatedRecord();

    const first = spawnEffectConsumer(name, { DIE_AFTER_EFFECT_OF: record.eventId });
    await first.ready;
    await publish(kafkaBrokers(), [record], db);
    expect(await first.exited).toBeNull(); // killed by its own SIGKILL
    const ourEffects = async () =>
      (await effectsOf(db, name)).filter((effect) => effect.eventId === record.eventId);
    const [effect] = await ourEffects();
    expect(effect?.eventId).toBe(record.eventId);
    // It died at the worst moment: the effect is committed, the offset is not.
    expect(await committedOffset(name, effect?.partition ?? -1)).toBeLessThanOrEqual(effect?.offset ?? -1);

    const second = spawnEffectConsumer(name);
    // The successor is given the record again (its offset was never committed) and leaves it without effect.
    const acknowledgedAsDuplicate = (line: string) =>
      line.includes(record.eventId) && line.includes("already processed");
    await eventually(async () => second.output().split("\n").some(acknowledgedAsDuplicate), 60_000);
    expect((await ourEffects()).length).toBe(1);
    await eventually(
      async () => (await committedOffset(name, effect?.partition ?? -1)) > (effect?.offset ?? Infinity),
    );
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  });
});

describe("the inbox's verdicts", () => {
  const origin = { topic: "patient-events", partition: 0, offset: "7" };
  const record = (eventId: string, eventType: string, value = `{"eventId":"${eventId}"}`) => ({
    event: { eventId, eventType, valueSha256: valueDigest(Buffer.from(value)) },
    origin,
  });
  /** An event committed to the outbox, as its record's value carries it. */
  const committed = async (type: "patient.created" | "patient.updated") => {
    const made = eventRecord(type);
    await sealPlainPersonalData(db, [made]);
    expect(await commitToOutbox(db, [made])).toEqual([made.eventId]);
    return { eventId: made.eventId, value: made.message.value };
  };

  it("tells a new event, a duplicate (the same id and type) and an id reused by another type, within one statement and across", async () => {
    const consumer = uniqueConsumerName("inbox-verdicts");
    const [x, y] = [await committed("patient.created"), await committed("patient.created")];
    expect(
      await recordAllInInbox(db, consumer, [
        record(x.eventId, "patient.created", x.value),
        record(x.eventId, "patient.updated", x.value),
        record(x.eventId, "patient.created", x.value),
        record(y.eventId, "patient.created", y.value),
      ]),
    ).toEqual([
      { kind: "new" },
      { kind: "id-reused", processedAs: "patient.created", differs: "event-type" },
      { kind: "duplicate" },
      { kind: "new" },
    ]);
    expect(
      await recordAllInInbox(db, consumer, [
        record(y.eventId, "patient.deleted", y.value),
        record(x.eventId, "patient.created", x.value),
      ]),
    ).toEqual([
      { kind: "id-reused", processedAs: "patient.created", differs: "event-type" },
      { kind: "duplicate" },
    ]);
    const rows = await db.select().from(consumerInbox).where(eq(consumerInbox.consumer, consumer));
    expect(rows.map((row) => [row.eventId, row.eventType]).sort()).toEqual(
      [
        [x.eventId, "patient.created"],
        [y.eventId, "patient.created"],
      ].sort(),
    );
  });

  it("refuses, and records nothing of, a record whose event the outbox does not hold, or holds with another value, read before the committed one", async () => {
    const consumer = uniqueConsumerName("inbox-verdicts-uncommitted");
    const forged = randomUUID();
    const real = await committed("patient.created");
    const altered = `${real.value} `;
    expect(
      await recordAllInInbox(db, consumer, [
        record(forged, "patient.created"),
        record(real.eventId, "patient.created", altered),
        record(real.eventId, "patient.created", real.value),
      ]),
    ).toEqual([
      { kind: "not-committed", found: "nothing" },
      { kind: "not-committed", found: "outbox-other-value" },
      { kind: "new" },
    ]);
    // Once the committed event is processed, the altered copy reuses its id.
    expect(await recordAllInInbox(db, consumer, [record(real.eventId, "patient.created", altered)])).toEqual([
      { kind: "id-reused", processedAs: "patient.created", differs: "value" },
    ]);
    const rows = await db.select().from(consumerInbox).where(eq(consumerInbox.consumer, consumer));
    expect(rows.map((row) => [row.eventId, row.valueSha256])).toEqual([
      [real.eventId, valueDigest(Buffer.from(real.value))],
    ]);

    // An external effect's consumer asks the same before its effect, recording nothing.
    const effects = uniqueConsumerName("inbox-verdicts-uncommitted-effect");
    const asked = await Promise.all(
      [record(forged, "patient.created"), record(real.eventId, "patient.created", altered)].map(({ event }) =>
        verdictBeforeEffect(db, effects, event, origin.topic),
      ),
    );
    expect(asked).toEqual([
      { kind: "not-committed", found: "nothing" },
      { kind: "not-committed", found: "outbox-other-value" },
    ]);
    expect(
      await verdictBeforeEffect(
        db,
        effects,
        record(real.eventId, "patient.created", real.value).event,
        origin.topic,
      ),
    ).toEqual({ kind: "new" });
    expect(await db.select().from(consumerInbox).where(eq(consumerInbox.consumer, effects))).toEqual([]);
  });

  it("tells an id reused with the same type and another value, and compares an entry kept without a digest by its type", async () => {
    const consumer = uniqueConsumerName("inbox-verdicts-value");
    const [x, old] = [await committed("patient.updated"), randomUUID()];
    expect(
      await recordAllInInbox(db, consumer, [
        record(x.eventId, "patient.updated", x.value),
        record(x.eventId, "patient.updated", `${x.value} `),
        record(x.eventId, "patient.updated", x.value),
      ]),
    ).toEqual([
      { kind: "new" },
      { kind: "id-reused", processedAs: "patient.updated", differs: "value" },
      { kind: "duplicate" },
    ]);
    expect(
      await recordAllInInbox(db, consumer, [
        record(x.eventId, "patient.updated", `${x.value}  `),
        record(x.eventId, "patient.updated", x.value),
      ]),
    ).toEqual([
      { kind: "id-reused", processedAs: "patient.updated", differs: "value" },
      { kind: "duplicate" },
    ]);
    // An entry from before the digest was kept: whatever the value, the same type is a duplicate.
    await db.$client.query(
      `INSERT INTO consumer_inbox (consumer, event_id, event_type, topic, kafka_partition, kafka_offset)
       VALUES ($1, $2, 'patient.updated', 'patient-events', 0, 5)`,
      [consumer, old],
    );
    expect(
      await recordAllInInbox(db, consumer, [
        record(old, "patient.updated", '{"v":3}'),
        record(old, "patient.deleted"),
      ]),
    ).toEqual([
      { kind: "duplicate" },
      { kind: "id-reused", processedAs: "patient.updated", differs: "event-type" },
    ]);
    const [kept] = await db
      .select({ valueSha256: consumerInbox.valueSha256 })
      .from(consumerInbox)
      .where(and(eq(consumerInbox.consumer, consumer), eq(consumerInbox.eventId, x.eventId)));
    expect(kept?.valueSha256).toEqual(valueDigest(Buffer.from(x.value)));
  });

  it("skips, and records nothing of, an event older than one of its aggregate the consumer applied: among the records handled together, across statements, and before an effect", async () => {
    const patientId = randomUUID();
    const decision = async () => {
      const made = eventRecord("patient.consent.changed", { patientId });
      expect(await commitToOutbox(db, [made])).toEqual([made.eventId]);
      return { eventId: made.eventId, value: made.message.value };
    };
    const [grant, withdrawal, regrant] = [await decision(), await decision(), await decision()];
    const { rows: versions } = await db.$client.query<{ eventId: string; version: string }>(
      `SELECT event_id::text AS "eventId", aggregate_version::text AS version
         FROM outbox WHERE event_id = ANY($1::uuid[]) ORDER BY aggregate_version`,
      [[grant.eventId, withdrawal.eventId, regrant.eventId]],
    );
    expect(versions.map((row) => row.eventId)).toEqual([grant.eventId, withdrawal.eventId, regrant.eventId]);
    const versionOf = (eventId: string) => versions.find((row) => row.eventId === eventId)?.version;
    const type = "patient.consent.changed";
    const consumer = uniqueConsumerName("inbox-verdicts-superseded");

    // A copy of the grant after the withdrawal, among records handled together.
    expect(
      await recordAllInInbox(db, consumer, [
        record(withdrawal.eventId, type, withdrawal.value),
        record(grant.eventId, type, grant.value),
      ]),
    ).toEqual([
      { kind: "new" },
      {
        kind: "superseded",
        newer: { eventId: withdrawal.eventId, aggregateVersion: versionOf(withdrawal.eventId) },
      },
    ]);
    expect(await recordAllInInbox(db, consumer, [record(regrant.eventId, type, regrant.value)])).toEqual([
      { kind: "new" },
    ]);
    // In a statement of its own, the newest event applied is named; the withdrawal is still a duplicate.
    const newest = {
      kind: "superseded",
      newer: { eventId: regrant.eventId, aggregateVersion: versionOf(regrant.eventId) },
    };
    expect(
      await recordAllInInbox(db, consumer, [
        record(grant.eventId, type, grant.value),
        record(withdrawal.eventId, type, withdrawal.value),
      ]),
    ).toEqual([newest, { kind: "duplicate" }]);
    expect(
      await verdictBeforeEffect(db, consumer, record(grant.eventId, type, grant.value).event, origin.topic),
    ).toEqual(newest);
    const rows = await db.select().from(consumerInbox).where(eq(consumerInbox.consumer, consumer));
    expect(
      rows
        .map((row) => [row.eventId, row.aggregateType, row.aggregateId, String(row.aggregateVersion)])
        .sort(),
    ).toEqual(
      [withdrawal, regrant].map(({ eventId }) => [eventId, "patient", patientId, versionOf(eventId)]).sort(),
    );

    // A consumer that applied none of them takes the grant, and an event of another aggregate is not compared;
    // nor is one of the same patient on another topic, where no order holds between the two: a prediction,
    // newer than the grant, read from ai-events first.
    const prediction = eventRecord("ai.prediction.generated", { patientId });
    await sealPlainPersonalData(db, [prediction]);
    expect(await commitToOutbox(db, [prediction])).toEqual([prediction.eventId]);
    const fresh = uniqueConsumerName("inbox-verdicts-superseded-fresh");
    const other = await committed("patient.created");
    expect(
      await recordAllInInbox(db, fresh, [
        {
          event: {
            eventId: prediction.eventId,
            eventType: "ai.prediction.generated",
            valueSha256: valueDigest(Buffer.from(prediction.message.value)),
          },
          origin: { topic: "ai-events", partition: 0, offset: "3" },
        },
        record(grant.eventId, type, grant.value),
        record(other.eventId, "patient.created", other.value),
      ]),
    ).toEqual([{ kind: "new" }, { kind: "new" }, { kind: "new" }]);
  });

  it("sees an event recorded by a transaction that committed while its statement waited (READ COMMITTED)", async () => {
    const consumer = uniqueConsumerName("inbox-verdicts-race");
    const { eventId, value } = await committed("patient.created");
    const other = await db.$client.connect();
    try {
      const { rows: backend } = await other.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      await other.query("BEGIN");
      await other.query(
        `INSERT INTO consumer_inbox (consumer, event_id, event_type, topic, kafka_partition, kafka_offset)
         VALUES ($1, $2, 'patient.created', 'patient-events', 0, 6)`,
        [consumer, eventId],
      );
      // Outside a transaction, as an external effect's consumer records its event: its snapshot predates the
      // other's commit, and its INSERT waits on the other's row (the statement is longer than the text
      // pg_stat_activity keeps of it: the wait is found by who blocks it).
      const verdicts = recordAllInInbox(db, consumer, [record(eventId, "patient.updated", value)]);
      verdicts.catch(() => {}); // settled while the other commits: the expect below reports a failure
      await eventually(async () => {
        const { rows } = await db.$client.query(
          "SELECT 1 FROM pg_stat_activity WHERE $1::int = ANY(pg_blocking_pids(pid))",
          [backend[0]?.pid],
        );
        return rows.length > 0;
      });
      await other.query("COMMIT");
      expect(await verdicts).toEqual([
        { kind: "id-reused", processedAs: "patient.created", differs: "event-type" },
      ]);
    } finally {
      other.release();
    }
  });
});

describe("forgetting inbox entries", () => {
  it("forgets an event once no record can bring it back, and never one of a compacted topic", async () => {
    expect(redeliveryWindowDays("patient-events")).toBe(7 + 30 + 1);
    expect(redeliveryWindowDays("audit-events")).toBeNull();
    const consumer = uniqueConsumerName("inbox-retention");
    const entry = (topic: string, daysAgo: number) => ({
      consumer,
      eventId: randomUUID(),
      eventType: topic === "audit-events" ? "audit.data.accessed" : "patient.created",
      topic,
      kafkaPartition: 0,
      kafkaOffset: 0n,
      processedAt: new Date(Date.now() - daysAgo * 86_400_000),
    });
    const outlived = entry("patient-events", 39);
    const recent = entry("patient-events", 37);
    const audit = entry("audit-events", 4_000);
    await db.insert(consumerInbox).values([outlived, recent, audit]);

    expect(await forgetOutlivedInboxEntries(db)).toBeGreaterThanOrEqual(1);
    const left = await db.select().from(consumerInbox).where(eq(consumerInbox.consumer, consumer));
    expect(left.map((row) => row.eventId).sort()).toEqual([recent.eventId, audit.eventId].sort());
  });
});

/** The group's committed offset on a patient-events partition: the next record it would read. */
async function committedOffset(groupId: string, partition: number): Promise<number> {
  const admin = createKafka({ brokers: kafkaBrokers(), clientId: "consumer-tests" }).admin();
  await admin.connect();
  try {
    const [topic] = await admin.fetchOffsets({ groupId, topics: ["patient-events"] });
    return Number(topic?.partitions.find((entry) => entry.partition === partition)?.offset ?? -1);
  } finally {
    await admin.disconnect();
  }
}
