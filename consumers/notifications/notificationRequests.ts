// Turns platform events into notification requests, appended through the outbox in the inbox transaction:
// one event, one set of requests, exactly once. The notification-delivery consumer sends them.

import { eq } from "drizzle-orm";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import { appointments, patientDirectory } from "../../db/schema.ts";
import type { MasterKeys } from "../../phi/masterKeys.ts";
import { contextCausedBy } from "../runtime/causedContext.ts";
import type { TransactionalConsumer, TransactionalContext } from "../runtime/consumerDefinition.ts";
import { PrerequisiteNotYetMet } from "../runtime/deadLetterPolicy.ts";
import {
  appointmentBookedMessages,
  appointmentReminderMessages,
  type Recipient,
  welcomeMessages,
} from "./requestedMessages.ts";

/**
 * The appointment's patient is not in the patient directory yet: patient-events and appointment-events are
 * separate topics, read at their own pace. Waited for (the dead-letter policy's `prerequisiteWaitMs`), then
 * retried as any failure and dead-lettered if the patient never appears.
 */
export class RecipientNotKnownYet extends PrerequisiteNotYetMet {
  override name = "RecipientNotKnownYet";
  constructor(patientId: string) {
    super(`patient ${patientId} is not in the patient directory yet`);
  }
}

/**
 * Contact details come from the patient directory rather than from a second copy of every patient's
 * personal data; `null` for a deleted patient, who is sent nothing.
 */
async function recipientOf({ tx }: TransactionalContext, patientId: string): Promise<Recipient | null> {
  const [entry] = await tx.select().from(patientDirectory).where(eq(patientDirectory.patientId, patientId));
  if (!entry) throw new RecipientNotKnownYet(patientId);
  if (entry.deletedAt || !entry.email || !entry.phone) return null;
  return { patientId, firstName: entry.firstName ?? "", email: entry.email, phone: entry.phone };
}

/**
 * Whether the appointment is no longer booked (cancelled, or already held) when its event is handled: a
 * booking or reminder committed before the cancellation may be handled after it (a consumer behind, a record
 * read again), and its confirmation or reminder would call the patient to an appointment that is not there.
 * The appointments' own table says it from the cancellation's commit on; an appointment it does not hold (not
 * this database's) is taken as the event says. Its row is share-locked: a cancellation (a patient's deletion
 * cancels theirs) committed after this transaction began fails it over to a fresh snapshot, which sees it, and
 * one under way waits for the requests to commit first; read without the lock, the requests for a visit the
 * deletion had just cancelled were written after its patient.deleted.
 */
async function noLongerBooked({ tx }: TransactionalContext, appointmentId: string): Promise<boolean> {
  const [row] = await tx
    .select({ status: appointments.status })
    .from(appointments)
    .where(eq(appointments.id, appointmentId))
    .for("share");
  return row !== undefined && row.status !== "BOOKED";
}

/** Sealed with `masterKeys`, as every event of this process: the requests carry the patient's contact details. */
export const notificationRequestsConsumer = ({
  masterKeys,
}: {
  masterKeys: MasterKeys;
}): TransactionalConsumer => ({
  kind: "transactional",
  name: "notification-requests",
  topics: ["patient-events", "appointment-events"],
  handlers: {
    "patient.created": async (event, { tx, record }) => {
      await appendEvents(
        tx,
        contextCausedBy("notification-service", { event, record }, masterKeys),
        welcomeMessages(event),
      );
    },
    "appointment.booked": async (event, context) => {
      if (await noLongerBooked(context, event.data.appointmentId)) return;
      const recipient = await recipientOf(context, event.data.patientId);
      if (!recipient) return;
      await appendEvents(
        context.tx,
        contextCausedBy("notification-service", { event, record: context.record }, masterKeys),
        appointmentBookedMessages(event, recipient),
      );
    },
    "appointment.reminder": async (event, context) => {
      if (await noLongerBooked(context, event.data.appointmentId)) return;
      const recipient = await recipientOf(context, event.data.patientId);
      if (!recipient) return;
      await appendEvents(
        context.tx,
        contextCausedBy("notification-service", { event, record: context.record }, masterKeys),
        appointmentReminderMessages(event, recipient),
      );
    },
  },
});
