// An event archived out of the outbox (npm run audit:archive) cannot be proven committed by a consumer: the archive
// file holds its value, the database does not. Its record (a consumer group reading a compacted topic from its
// start, a re-drive of an old dead letter) is refused as `not-committed`, and the dead letter says it may be
// archived and names the newest archive's file; an event the outbox still holds is applied as usual. On a
// database of its own, where archiving removes only this file's history.
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshDatabases, historyToArchive } from "../../test/auditHistories.ts";
import { tapDeadLetters } from "../../test/consumers/deadLetterTap.ts";
import { createEffectsTable, uniqueConsumerName } from "../../test/consumers/effects.ts";
import { startTestConsumer } from "../../test/consumers/inProcess.ts";
import { publishUncommitted, type TestRecord } from "../../test/consumers/records.ts";
import { eventually, kafkaBrokers } from "../../test/fixtures.ts";
import type { TransactionalConsumer } from "./consumerDefinition.ts";

const databases = freshDatabases("not_committed_archived");
beforeAll(() => databases.setUp());
afterAll(() => databases.tearDown());

const PARTITION = 3;

/** The record a relay published for the outbox row: its key, payload and headers. */
function recordOf(row: {
  eventId: string;
  eventType: string;
  topic: string;
  messageKey: string;
  payload: string;
  correlationId: string;
}): TestRecord {
  return {
    topic: row.topic,
    eventId: row.eventId,
    message: {
      key: row.messageKey,
      value: row.payload,
      partition: PARTITION,
      headers: { eventId: row.eventId, eventType: row.eventType, correlationId: row.correlationId },
    },
  };
}

describe("the record of an archived event", () => {
  it("is refused as not-committed, the dead letter naming the archive, while an event the outbox holds is applied", async () => {
    const archiving = await historyToArchive(await databases.create());
    const { db } = archiving.history;
    try {
      // Checkpoint 1's rows (each patient's creation and first update, and audit events) leave the outbox.
      const outcome = await archiving.archive({ now: archiving.whenAged(archiving.afterFirst) });
      if (outcome.archived === null) throw new Error(`nothing archived: ${outcome.reason}`);
      const archivedRow = archiving.rows[0];
      const heldRow = archiving.rows.at(-1);
      if (!archivedRow || !heldRow) throw new Error("no history");
      expect(archivedRow.eventType).toBe("patient.created");
      expect(heldRow.eventType).toBe("audit.data.accessed");
      const remaining = await archiving.remaining();
      expect(remaining).not.toContain(archivedRow.eventId);
      expect(remaining).toContain(heldRow.eventId);
      const retained = archiving.rows.slice(10).find((row) => row.eventType === "patient.updated");
      if (!retained) throw new Error("no retained patient.updated");

      await createEffectsTable(db);
      const name = uniqueConsumerName("not-committed-archived");
      const definition: TransactionalConsumer = {
        kind: "transactional",
        name,
        topics: ["patient-events"],
        handlers: {
          "patient.created": async (event, { tx, record }) => {
            await tx.execute(sql`
              INSERT INTO consumer_test_effects (consumer, event_id, event_type, kafka_partition, kafka_offset)
              VALUES (${name}, ${event.eventId}, ${event.eventType}, ${record.partition}, ${record.offset})`);
          },
          "patient.updated": async (event, { tx, record }) => {
            await tx.execute(sql`
              INSERT INTO consumer_test_effects (consumer, event_id, event_type, kafka_partition, kafka_offset)
              VALUES (${name}, ${event.eventId}, ${event.eventType}, ${record.partition}, ${record.offset})`);
          },
        },
      };
      const deadLetters = await tapDeadLetters(kafkaBrokers(), "patient-events");
      const started = await startTestConsumer(definition, { db, kafkaBrokers: kafkaBrokers(), name });
      const effects = async () =>
        (
          await db.$client.query<{ event_id: string }>(
            "SELECT event_id::text FROM consumer_test_effects WHERE consumer = $1",
            [name],
          )
        ).rows.map((row) => row.event_id);
      try {
        // Exactly the bytes the relay published for each row (no commit: the rows are there, or were).
        await publishUncommitted(kafkaBrokers(), [recordOf(archivedRow), recordOf(retained)], db);
        await eventually(async () => (await effects()).includes(retained.eventId));
        await eventually(async () => (await deadLetters.parkedBy(name)).length === 1);
      } finally {
        await started.stop();
      }

      expect(await effects()).toEqual([retained.eventId]);
      const { rows: inbox } = await db.$client.query<{ event_id: string }>(
        "SELECT event_id::text FROM consumer_inbox WHERE consumer = $1",
        [name],
      );
      expect(inbox.map((row) => row.event_id)).toEqual([retained.eventId]);
      const [parked] = await deadLetters.parkedBy(name);
      expect(parked?.message.value?.toString()).toBe(archivedRow.payload);
      expect(parked?.letter).toMatchObject({
        eventId: archivedRow.eventId,
        reason: "poison",
        error: "not-committed",
        errorMessage: `event ${archivedRow.eventId} (patient.created) is not in the outbox and is dated before the cutoff of its newest archive (${outcome.archived.fileName}): if it was archived, its committed value is in an archive file, which a consumer cannot check it against; not applied`,
      });
    } finally {
      await archiving.close();
    }
  });
});
