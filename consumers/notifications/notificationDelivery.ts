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

  async function deliver(db: Database, eventId: string, message: OutgoingMessage): Promise<void> {
    const transport = options.transports[message.channel];
    const { notificationId, channel } = message;
    const delivery: Delivery = { notificationId, eventId, channel, transport: transport.name };
    if (message.patientId !== null && (await deletedPatient(db, message.patientId))) {
      // Deleted after the message was requested (a welcome requested as the patient registered, say).
      const claim = await claimDelivery(db.$client, delivery);
      if (claim.claimed)
        await finishDelivery(db.$client, notificationId, { status: "failed", error: "patient-deleted" });
      log.info({ notificationId, channel }, "the patient was deleted; notification not sent");
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
   * Whether the patient was deleted, by the patients' own table or by the patient directory (the notifications'
   * view of patients). The directory follows a deletion by its consumer's delay: read alone, it let a message
   * requested before a deletion and sent in that delay go out. The patients' table says it from the deletion's
   * commit on; a deletion committed after this read races the send, as any deletion made during a send would.
   */
  async function deletedPatient(db: Database, patientId: string): Promise<boolean> {
    const { rows } = await db.$client.query<{ deleted: boolean }>({
      name: "notification-delivery.patient-deleted.v2",
      text: `SELECT EXISTS (SELECT FROM patients WHERE id = $1 AND deleted_at IS NOT NULL)
                 OR EXISTS (SELECT FROM patient_directory WHERE patient_id = $1 AND deleted_at IS NOT NULL)
                 AS deleted`,
      values: [patientId],
    });
    return rows[0]?.deleted === true;
  }

  return {
    kind: "external-effect",
    name: NOTIFICATION_DELIVERY,
    topics: ["notification-events"],
    handlers: {
      "notification.email.requested": async (event, { db }) => {
        const { notificationId, patientId, to, subject, template, variables } = event.data;
        const text = renderTemplate(template, variables);
        await deliver(db, event.eventId, { channel: "email", notificationId, patientId, to, subject, text });
      },
      "notification.sms.requested": async (event, { db }) => {
        const { notificationId, patientId, to, body } = event.data;
        await deliver(db, event.eventId, { channel: "sms", notificationId, patientId, to, body });
      },
    },
  };
}
