// Sends the requested e-mails and text messages through their transports, at most once per notification:
// the delivery ledger claims each one before the send, and only a send known to have failed is retried. A
// transport that writes to this database (the recording transport) is claimed, sent and finished in one
// transaction: exactly once, even when the process dies mid-send.
// Push notifications have no transport yet: their requests are acknowledged and left alone.
import type { Database } from "../../db/client.ts";
import { PatientErased } from "../../db/patientKeys.ts";
import type { Logger } from "../../observability/logger.ts";
import type { ExternalEffectConsumer } from "../runtime/consumerDefinition.ts";
import { claimDelivery, type Delivery, finishDelivery } from "./deliveryLedger.ts";
import { renderTemplate } from "./templates.ts";
import { type NotificationTransport, NotSentError, type OutgoingMessage } from "./transports/transport.ts";

/** The consumer's name: its consumer group, and its entries in consumer_inbox. */
export const NOTIFICATION_DELIVERY = "notification-delivery";

export interface NotificationTransports {
  email: NotificationTransport;
  sms: NotificationTransport;
}

export function notificationDeliveryConsumer(options: {
  transports: NotificationTransports;
  log: Logger;
}): ExternalEffectConsumer {
  const log = options.log.child({ component: "notification-delivery" });

  async function deliver(
    db: Database,
    eventId: string,
    relatedEventId: string | null,
    message: OutgoingMessage,
  ): Promise<void> {
    const transport = options.transports[message.channel];
    const { notificationId, channel } = message;
    const delivery: Delivery = { notificationId, eventId, channel, transport: transport.name };
    const withdrawn = await noLongerWanted(db, message.patientId, relatedEventId);
    if (withdrawn !== null) {
      // Deleted after the message was requested (a welcome requested as the patient registered, say), or the
      // appointment it confirms or reminds of cancelled since.
      const claim = await claimDelivery(db.$client, delivery);
      if (claim.claimed)
        await finishDelivery(db.$client, notificationId, { status: "failed", error: withdrawn });
      log.info({ notificationId, channel, reason: withdrawn }, "notification no longer wanted; not sent");
      return;
    }
    const { sendInTransaction } = transport;
    if (sendInTransaction) return deliverInTransaction(db, delivery, message, sendInTransaction);
    const claim = await claimDelivery(db.$client, delivery);
    if (!claim.claimed) {
      log.info({ notificationId, status: claim.status }, "notification already handled; not sending again");
      return;
    }
    try {
      const { transportMessageId } = await transport.send(message);
      await finishDelivery(db.$client, notificationId, { status: "sent", transportMessageId });
    } catch (error) {
      if (error instanceof PatientErased) return finishErased(db, message);
      if (error instanceof NotSentError) {
        await finishDelivery(db.$client, notificationId, { status: "failed", error: error.code });
        throw error; // the runtime retries it with backoff, then dead-letters it
      }
      // It may have gone out: sending again could send it twice. A person decides (status `unknown`).
      const name = error instanceof Error ? error.name : typeof error;
      await finishDelivery(db.$client, notificationId, { status: "unknown", error: name });
      log.error({ notificationId, channel, error: name }, "notification outcome unknown; not retried");
    }
  }

  /**
   * Claim, send and finish in one transaction (a transport that writes to this database): exactly once. A
   * failure, or the process dying, before the commit leaves no claim and nothing sent, and the request is
   * delivered again; one after it finds the delivery sent.
   */
  async function deliverInTransaction(
    db: Database,
    delivery: Delivery,
    message: OutgoingMessage,
    sendInTransaction: NonNullable<NotificationTransport["sendInTransaction"]>,
  ): Promise<void> {
    const { notificationId } = delivery;
    const client = await db.$client.connect().catch((error: unknown) => {
      throw new NotSentError("could not reach the database to send", "recording-failed", { cause: error });
    });
    let broken: Error | undefined;
    try {
      await client.query("BEGIN");
      const claim = await claimDelivery(client, delivery);
      if (!claim.claimed) {
        await client.query("ROLLBACK");
        log.info({ notificationId, status: claim.status }, "notification already handled; not sending again");
        return;
      }
      const { transportMessageId } = await sendInTransaction(client, message);
      await finishDelivery(client, notificationId, { status: "sent", transportMessageId });
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch((rollback: unknown) => {
        broken = rollback as Error;
      });
      if (error instanceof PatientErased) {
        // The claim went with the rollback: the ledger says it anew, for good.
        await claimDelivery(db.$client, delivery);
        return finishErased(db, message);
      }
      // Nothing was committed, so nothing went out: the runtime retries it with backoff, then dead-letters it.
      throw error instanceof NotSentError
        ? error
        : new NotSentError("could not record the message", "recording-failed", { cause: error });
    } finally {
      client.release(broken);
    }
  }

  /** Erased between the record's opening and the send: nothing went out, and nothing ever will. */
  async function finishErased(db: Database, { notificationId, channel }: OutgoingMessage): Promise<void> {
    await finishDelivery(db.$client, notificationId, { status: "failed", error: "patient-erased" });
    log.info({ notificationId, channel }, "the patient was erased; notification not sent");
  }

  /**
   * Why the message is no longer to be sent, or null when it is. The patient was deleted, by the patients' own
   * table or by the patient directory (the notifications' view of patients): the directory follows a deletion
   * by its consumer's delay, and read alone it let a message requested before a deletion and sent in that delay
   * go out. The patients' table says it from the deletion's commit on; a deletion committed after this read
   * races the send, as any deletion made during a send would. Or the appointment the request's cause (a
   * booking, a reminder) was about is no longer booked: cancelled between the request and its send (the
   * delivery behind, or its send retried), its confirmation or reminder would call the patient to an
   * appointment that is not there. A cause the outbox no longer holds (archived) is not looked for.
   */
  async function noLongerWanted(
    db: Database,
    patientId: string | null,
    relatedEventId: string | null,
  ): Promise<"patient-deleted" | "appointment-cancelled" | "appointment-completed" | null> {
    const { rows } = await db.$client.query<{ deleted: boolean; appointment: string | null }>({
      name: "notification-delivery.no-longer-wanted.v1",
      text: `SELECT EXISTS (SELECT FROM patients WHERE id = $1 AND deleted_at IS NOT NULL)
                 OR EXISTS (SELECT FROM patient_directory WHERE patient_id = $1 AND deleted_at IS NOT NULL)
                 AS deleted,
                 (SELECT appointment.status
                    FROM outbox cause
                    JOIN appointments appointment
                      ON appointment.id = (cause.payload -> 'data' ->> 'appointmentId')::uuid
                   WHERE cause.event_id = $2 AND appointment.status <> 'BOOKED'
                   LIMIT 1) AS appointment`,
      values: [patientId, relatedEventId],
    });
    const [row] = rows;
    if (row?.deleted === true) return "patient-deleted";
    if (row?.appointment === "CANCELLED") return "appointment-cancelled";
    if (row?.appointment === "COMPLETED") return "appointment-completed";
    return null;
  }

  return {
    kind: "external-effect",
    name: NOTIFICATION_DELIVERY,
    topics: ["notification-events"],
    handlers: {
      "notification.email.requested": async (event, { db }) => {
        const { notificationId, patientId, relatedEventId, to, subject, template, variables } = event.data;
        const text = renderTemplate(template, variables);
        await deliver(db, event.eventId, relatedEventId, {
          channel: "email",
          notificationId,
          patientId,
          to,
          subject,
          text,
        });
      },
      "notification.sms.requested": async (event, { db }) => {
        const { notificationId, patientId, relatedEventId, to, body } = event.data;
        await deliver(db, event.eventId, relatedEventId, {
          channel: "sms",
          notificationId,
          patientId,
          to,
          body,
        });
      },
    },
  };
}
