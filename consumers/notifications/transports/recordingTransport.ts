// The development transport: instead of sending, it records each message in `recorded_notifications`, one
// row per call (no unique key), so a message sent twice would show twice. Holds personal data, like a mailbox:
// not for production; each row names its patient, whose erasure deletes it.
import type pg from "pg";
import type { Database } from "../../../db/client.ts";
import { PatientErased } from "../../../db/patientKeys.ts";
import { type NotificationTransport, NotSentError, type OutgoingMessage } from "./transport.ts";

export function recordingTransport(db: Database): NotificationTransport {
  return {
    name: "recording",
    async send(message: OutgoingMessage) {
      const client = await db.$client.connect().catch((error: unknown) => {
        throw new NotSentError("could not record the message", "recording-failed", { cause: error });
      });
      let failure: Error | undefined;
      try {
        await client.query("BEGIN");
        const recorded = await record(client, message);
        await client.query("COMMIT");
        return recorded;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        if (error instanceof PatientErased) throw error;
        failure = error as Error;
        // A transaction that failed before it committed recorded nothing.
        throw new NotSentError("could not record the message", "recording-failed", { cause: error });
      } finally {
        client.release(failure);
      }
    },
    sendInTransaction: record,
  };
}

/** Records the message in the transaction open on `client`, unless its patient was erased (PatientErased). */
async function record(
  client: pg.PoolClient,
  message: OutgoingMessage,
): Promise<{ transportMessageId: string }> {
  if (message.patientId !== null && !(await keyStillLive(client, message.patientId))) {
    throw new PatientErased(message.patientId);
  }
  const recorded = await client.query<{ id: string }>({
    name: "recording-transport.record.v1",
    text: `INSERT INTO recorded_notifications (notification_id, patient_id, channel, recipient, subject, body)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id::text`,
    values: [
      message.notificationId,
      message.patientId,
      message.channel,
      message.to,
      message.channel === "email" ? message.subject : null,
      message.channel === "email" ? message.text : message.body,
    ],
  });
  return { transportMessageId: `recorded-${recorded.rows[0]?.id}` };
}

/**
 * Whether the patient's data key still exists, rewriting its row (to the same values) so that the two cannot
 * cross: an erasure that began before this record commits has read the mailbox without it, but it rewrites the
 * key row too, so it fails on this newer version (REPEATABLE READ) and runs again, deleting the record; one
 * that committed first has destroyed the key, and nothing is recorded.
 */
async function keyStillLive(client: pg.PoolClient, patientId: string): Promise<boolean> {
  const touched = await client.query({
    name: "recording-transport.key-live.v1",
    text: "UPDATE patient_keys SET patient_id = patient_id WHERE patient_id = $1 AND erased_at IS NULL",
    values: [patientId],
  });
  return touched.rowCount === 1;
}
