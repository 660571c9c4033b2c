// The notifications an event asks for, as notification-events to append: a welcome e-mail for a new
// patient, an e-mail and a text message for a booked or upcoming appointment. No clinical details (notes,
// conditions, the kind of visit) go into a message: mailboxes and phones are not a secure channel.
import type { NewEvent, TypedEnvelope } from "../../events/index.ts";
import { notificationId } from "./notificationIds.ts";
import { withinHours } from "./templates.ts";

export interface Recipient {
  patientId: string;
  firstName: string;
  email: string;
  phone: string;
}

/** `2024-02-01T14:00:00Z` → `2024-02-01 14:00 UTC`: the patient's time zone is not known here. */
function readableTime(instant: string): string {
  return `${new Date(instant).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

export function welcomeMessages(event: TypedEnvelope<"patient.created">): NewEvent[] {
  const { patientId, firstName, email } = event.data;
  return [
    {
      type: "notification.email.requested",
      data: {
        notificationId: notificationId(event.eventId, "welcome-email"),
        patientId,
        relatedEventId: event.eventId,
        to: email,
        subject: "Welcome to the Healthcare Platform",
        template: "welcome",
        variables: { firstName },
      },
    },
  ];
}

export function appointmentBookedMessages(
  event: TypedEnvelope<"appointment.booked">,
  recipient: Recipient,
): NewEvent[] {
  const when = readableTime(event.data.scheduledAt);
  const virtual = event.data.location.type === "VIRTUAL";
  return [
    {
      type: "notification.email.requested",
      data: {
        notificationId: notificationId(event.eventId, "confirmation-email"),
        patientId: recipient.patientId,
        relatedEventId: event.eventId,
        to: recipient.email,
        subject: "Your appointment is confirmed",
        template: "appointment-confirmation",
        variables: {
          firstName: recipient.firstName,
          scheduledAt: when,
          durationMinutes: event.data.durationMinutes,
          virtual,
        },
      },
    },
    {
      type: "notification.sms.requested",
      data: {
        notificationId: notificationId(event.eventId, "confirmation-sms"),
        patientId: recipient.patientId,
        relatedEventId: event.eventId,
        to: recipient.phone,
        body: `Your appointment on ${when} is confirmed.${virtual ? " The video link is in your e-mail." : ""}`,
      },
    },
  ];
}

export function appointmentReminderMessages(
  event: TypedEnvelope<"appointment.reminder">,
  recipient: Recipient,
): NewEvent[] {
  const when = readableTime(event.data.scheduledAt);
  return [
    {
      type: "notification.email.requested",
      data: {
        notificationId: notificationId(event.eventId, "reminder-email"),
        patientId: recipient.patientId,
        relatedEventId: event.eventId,
        to: recipient.email,
        subject: "Reminder: your appointment is coming up",
        template: "appointment-reminder",
        variables: { firstName: recipient.firstName, scheduledAt: when, hoursBefore: event.data.hoursBefore },
      },
    },
    {
      type: "notification.sms.requested",
      data: {
        notificationId: notificationId(event.eventId, "reminder-sms"),
        patientId: recipient.patientId,
        relatedEventId: event.eventId,
        to: recipient.phone,
        body: `Reminder: your appointment is on ${when}, ${withinHours(event.data.hoursBefore)}.`,
      },
    },
  ];
}
