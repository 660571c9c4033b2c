// An event archived out of the outbox (npm run audit:archive) is still a committed event a consumer can prove: the
// archive kept its id and its payload's digest (outbox_archived_digests), so its record (a consumer group reading
// a compacted topic from its start, a re-drive of an old dead letter) is applied, while a forged copy of its id
// with another value, and an id nothing holds, are refused as `not-committed`. Events archived before archives
// kept digests cannot be proven: their records are refused, the dead letter naming the archive. On databases of
// their own, where archiving removes only this file's history.
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HistoryRow } from "../../audit/sql/historyRows.ts";
import type { Database } from "../../db/client.ts";
import { topicDefinition } from "../../events/catalog.ts";
import type { TypedEnvelope } from "../../events/index.ts";
import { partitionOfKey } from "../../kafka/keyPartitioner.ts";
import { freshDatabases, historyToArchive } from "../../test/auditHistories.ts";
import { tapDeadLetters } from "../../test/consumers/deadLetterTap.ts";
import { createEffectsTable, uniqueConsumerName } from "../../test/consumers/effects.ts";
import { startTestConsumer } from "../../test/consumers/inProcess.ts";
import {
  onPartition,
  patientCreatedRecord,
  publishUncommitted,
  type TestRecord,
} from "../../test/consumers/records.ts";
import { eventually, kafkaBrokers } from "../../test/fixtures.ts";
import type { TransactionalConsumer, TransactionalContext } from "./consumerDefinition.ts";
import { type ReadEvent, valueDigest, verdictBeforeEffect } from "./inbox.ts";

const databases = freshDatabases("not_committed_archived");
beforeAll(() => databases.setUp());
afterAll(() => databases.tearDown());

/** The record a relay published for the outbox row: its key, payload and headers, on its key's partition. */
function recordOf(row: HistoryRow): TestRecord {
  return {
    topic: row.topic,
    eventId: row.eventId,
    message: {
      key: row.messageKey,
      value: row.payload,
      partition: partitionOfKey(row.messageKey, topicDefinition("patient-events").partitions),
      headers: { eventId: row.eventId, eventType: row.eventType, correlationId: row.correlationId },
    },
  };
}

/** `record`'s event dated `timestamp`: the same id, type, key and headers, a value no relay sent. */
function datedAt(record: TestRecord, timestamp: Date): TestRecord {
  const envelope = { ...JSON.parse(record.message.value), timestamp: timestamp.toISOString() };
  return { ...record, message: { ...record.message, value: JSON.stringify(envelope) } };
}

/** What the inbox knows a record's event by. */
function readEventOf(record: TestRecord): ReadEvent {
  return {
    eventId: record.eventId,
    eventType: record.message.headers?.eventType as string,
    valueSha256: valueDigest(Buffer.from(record.message.value)),
  };
}

/** The history of `historyToArchive` with checkpoint 1's rows archived, and a patient-events consumer on it. */
async function archivedHistory() {
  const archiving = await historyToArchive(await databases.create());
  // Checkpoint 1's rows (each patient's creation and first update, and audit events) leave the outbox.
  const outcome = await archiving.archive({ now: archiving.whenAged(archiving.afterFirst) });
  if (outcome.archived === null) throw new Error(`nothing archived: ${outcome.reason}`);
  const archivedRow = archiving.rows[0];
  const retained = archiving.rows.slice(10).find((row) => row.eventType === "patient.updated");
  if (!archivedRow || !retained) throw new Error("no history");
  expect(archivedRow.eventType).toBe("patient.created");
  const remaining = await archiving.remaining();
  expect(remaining).not.toContain(archivedRow.eventId);
  expect(remaining).toContain(retained.eventId);
  const { db } = archiving.history;
  await createEffectsTable(db);
  return { archiving, archive: outcome.archived, archivedRow, retained, db };
}

/** A consumer of patient.created and patient.updated whose effect is a row per event it handles. */
function effectConsumer(name: string): TransactionalConsumer {
  const effect = async (event: TypedEnvelope, { tx, record }: TransactionalContext) => {
    await tx.execute(sql`
      INSERT INTO consumer_test_effects (consumer, event_id, event_type, kafka_partition, kafka_offset)
      VALUES (${name}, ${event.eventId}, ${event.eventType}, ${record.partition}, ${record.offset})`);
  };
  return {
    kind: "transactional",
    name,
    topics: ["patient-events"],
    handlers: { "patient.created": effect, "patient.updated": effect },
  };
}

/** Publishes the records, uncommitted, and runs the consumer until it applied `last` and parked `parked` records. */
async function consume(db: Database, name: string, records: TestRecord[], last: string, parked: number) {
  const deadLetters = await tapDeadLetters(kafkaBrokers(), "patient-events");
  const started = await startTestConsumer(effectConsumer(name), { db, kafkaBrokers: kafkaBrokers(), name });
  try {
    // Exactly the bytes given (no commit: the rows are there, or were, or never were).
    await publishUncommitted(kafkaBrokers(), records, db);
    await eventually(async () => (await effects(db, name)).includes(last));
    await eventually(async () => (await deadLetters.parkedBy(name)).length === parked);
  } finally {
    await started.stop();
  }
  return deadLetters.parkedBy(name);
}

async function effects(db: Database, name: string): Promise<string[]> {
  const { rows } = await db.$client.query<{ event_id: string }>(
    "SELECT event_id::text FROM consumer_test_effects WHERE consumer = $1 ORDER BY seq",
    [name],
  );
  return rows.map((row) => row.event_id);
}

/** The consumer's inbox: event ids, in their order, with the digests of the values recorded. */
async function inbox(db: Database, name: string): Promise<Array<[string, Buffer | null]>> {
  const { rows } = await db.$client.query<{ event_id: string; value_sha256: Buffer | null }>(
    "SELECT event_id::text, value_sha256 FROM consumer_inbox WHERE consumer = $1 ORDER BY event_id",
    [name],
  );
  return rows.map((row) => [row.event_id, row.value_sha256]);
}

describe("the record of an archived event", () => {
  it("is applied, checked against the digest its archive kept; a copy of its id with another value, and an id nothing holds, are refused", async () => {
    const { archiving, archive, archivedRow, retained, db } = await archivedHistory();
    try {
      const archived = recordOf(archivedRow);
      // Both dated just before the archive's cutoff, as archived events are. The copy is read before the real
      // record, as a forger would have it; the other, an event no one committed, is no archived one either:
      // every archive keeps digests.
      const beforeCutoff = new Date(archive.createdBefore.getTime() - 1);
      const forgedCopy = datedAt(archived, beforeCutoff);
      const unknown = datedAt(
        onPartition(patientCreatedRecord(), archived.message.partition as number),
        beforeCutoff,
      );
      const name = uniqueConsumerName("archived-applied");
      const parked = await consume(
        db,
        name,
        [forgedCopy, archived, unknown, recordOf(retained)],
        retained.eventId,
        2,
      );

      // (the retained row's record may be on another partition, read before or after the others)
      expect((await effects(db, name)).sort()).toEqual([archivedRow.eventId, retained.eventId].sort());
      expect(await inbox(db, name)).toEqual(
        [archivedRow, retained]
          .map((row): [string, Buffer] => [row.eventId, valueDigest(Buffer.from(row.payload))])
          .sort(([a], [b]) => a.localeCompare(b)),
      );
      expect(parked.map(({ message }) => message.value?.toString())).toEqual([
        forgedCopy.message.value,
        unknown.message.value,
      ]);
      expect(parked.map(({ letter }) => letter)).toMatchObject([
        {
          eventId: archivedRow.eventId,
          reason: "poison",
          error: "not-committed",
          errorMessage: `event ${archivedRow.eventId} (patient.created) is not the committed event: this id was archived with another value`,
        },
        {
          eventId: unknown.eventId,
          reason: "poison",
          error: "not-committed",
          errorMessage: `event ${unknown.eventId} (patient.created) is not a committed event: neither the outbox nor the archived events hold an event with this id`,
        },
      ]);

      // An external effect's consumer asks the same before its effect.
      const effectConsumerName = uniqueConsumerName("archived-applied-effect");
      const asked = await Promise.all(
        [archived, forgedCopy, unknown].map((record) =>
          verdictBeforeEffect(db, effectConsumerName, readEventOf(record), record.topic),
        ),
      );
      expect(asked).toEqual([
        { kind: "new" },
        { kind: "not-committed", found: "archived-other-value" },
        { kind: "not-committed", found: "nothing" },
      ]);
    } finally {
      await archiving.close();
    }
  });

  it("archived before archives kept digests, is refused as not-committed, the dead letter naming the archive, while an event the outbox holds is applied", async () => {
    const { archiving, archive, archivedRow, retained, db } = await archivedHistory();
    try {
      // As migration 0029 leaves an archive recorded before it: its rows deleted, no digest kept.
      const admin = await archiving.history.admin();
      await admin.query("DELETE FROM outbox_archived_digests");
      await admin.query("UPDATE outbox_archives SET digests_kept = false");

      const name = uniqueConsumerName("archived-without-digest");
      const parked = await consume(
        db,
        name,
        [recordOf(archivedRow), recordOf(retained)],
        retained.eventId,
        1,
      );

      expect(await effects(db, name)).toEqual([retained.eventId]);
      expect((await inbox(db, name)).map(([eventId]) => eventId)).toEqual([retained.eventId]);
      expect(parked.map(({ message }) => message.value?.toString())).toEqual([archivedRow.payload]);
      expect(parked[0]?.letter).toMatchObject({
        eventId: archivedRow.eventId,
        reason: "poison",
        error: "not-committed",
        errorMessage: `event ${archivedRow.eventId} (patient.created) is neither in the outbox nor among the archived events, and is dated before the cutoff of ${archive.fileName}, archived before archives kept their events' digests: if it was archived then, its committed value is in an archive file, which a consumer cannot check it against; not applied`,
      });
    } finally {
      await archiving.close();
    }
  });
});
