// The development transport: instead of sending, it records each message in `recorded_notifications`, one
// row per call (no unique key), so a message sent twice would show twice. Holds personal data, like a mailbox:
// not for production; each row names its patient, whose erasure deletes it.
import type { Database } from "../../../db/client.ts";
import { recordedNotifications } from "../../../db/schema.ts";
import { type NotificationTransport, NotSentError, type OutgoingMessage } from "./transport.ts";

export function recordingTransport(db: Database): NotificationTransport {
  return {
    name: "recording",
    async send(message: OutgoingMessage) {
      try {
        const [row] = await db
          .insert(recordedNotifications)
          .values({
            notificationId: message.notificationId,
            patientId: message.patientId,
            channel: message.channel,
            recipient: message.to,
            subject: message.channel === "email" ? message.subject : null,
            body: message.channel === "email" ? message.text : message.body,
          })
          .returning({ id: recordedNotifications.id });
        return { transportMessageId: `recorded-${row?.id}` };
      } catch (error) {
        // A statement that failed before it committed recorded nothing.
        throw new NotSentError("could not record the message", "recording-failed", { cause: error });
      }
    },
  };
}
