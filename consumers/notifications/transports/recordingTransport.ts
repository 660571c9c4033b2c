// The development transport: instead of sending, it records each message in `recorded_notifications`, one
// row per call (no unique key), so a message sent twice would show twice. Holds personal data, like a mailbox:
// not for production; each row names its patient, whose erasure deletes it.
import type { Database } from "../../../db/client.ts";
import { type NotificationTransport, NotSentError, type OutgoingMessage } from "./transport.ts";

export function recordingTransport(db: Database): NotificationTransport {
  return {
    name: "recording",
    async send(message: OutgoingMessage) {
      try {
        const recorded = await db.$client.query<{ id: string }>({
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
        const [row] = recorded.rows;
        return { transportMessageId: `recorded-${row?.id}` };
      } catch (error) {
        // A statement that failed before it committed recorded nothing.
        throw new NotSentError("could not record the message", "recording-failed", { cause: error });
      }
    },
  };
}
