// Sends the requested e-mails and text messages through their transports, at most once per notification:
// the delivery ledger claims each one before the send, and only a send known to have failed is retried.
// Push notifications have no transport yet: their requests are acknowledged and left alone.
import { PatientErased } from "../../db/patientKeys.ts";
import type { Logger } from "../../observability/logger.ts";
import type { ExternalEffectConsumer } from "../runtime/consumerDefinition.ts";
import { claimDelivery, finishDelivery } from "./deliveryLedger.ts";
import { renderTemplate } from "./templates.ts";
import { type NotificationTransport, NotSentError, type OutgoingMessage } from "./transports/transport.ts";

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
    db: Parameters<typeof claimDelivery>[0],
    eventId: string,
    message: OutgoingMessage,
  ): Promise<void> {
    const transport = options.transports[message.channel];
    const { notificationId, channel } = message;
    const claim = await claimDelivery(db, { notificationId, eventId, channel, transport: transport.name });
    if (!claim.claimed) {
      log.info({ notificationId, status: claim.status }, "notification already handled; not sending again");
      return;
    }
    try {
      const { transportMessageId } = await transport.send(message);
      await finishDelivery(db, notificationId, { status: "sent", transportMessageId });
    } catch (error) {
      // Erased between the record's opening and the send: nothing went out, and nothing ever will.
      if (error instanceof PatientErased) {
        await finishDelivery(db, notificationId, { status: "failed", error: "patient-erased" });
        log.info({ notificationId, channel }, "the patient was erased; notification not sent");
        return;
      }
      if (error instanceof NotSentError) {
        await finishDelivery(db, notificationId, { status: "failed", error: error.code });
        throw error; // the runtime retries it with backoff, then dead-letters it
      }
      // It may have gone out: sending again could send it twice. A person decides (status `unknown`).
      const name = error instanceof Error ? error.name : typeof error;
      await finishDelivery(db, notificationId, { status: "unknown", error: name });
      log.error({ notificationId, channel, error: name }, "notification outcome unknown; not retried");
    }
  }

  return {
    kind: "external-effect",
    name: "notification-delivery",
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
