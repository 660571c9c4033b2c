// The `data` schemas of notification-events: requests to send an e-mail, a text message or a push
// notification. Each request has its own id, which the sender uses to send it at most once.
import { z } from "zod";
import { e164Phone, email, identifier, line, namedValues, storable, text, uuid } from "./fields.ts";

const notificationRequest = {
  notificationId: uuid,
  /**
   * The patient the message goes to. `null` (a message to staff) only in requests of the history: the
   * recipient and text are personal data, sealed under the patient's key, so the write path refuses a new one.
   */
  patientId: uuid.nullable(),
  /** The event that caused this request (e.g. an appointment.reminder), `null` when a person asked for it. */
  relatedEventId: uuid.nullable(),
};

/** Values substituted into a template; flat, so every template engine can render them. */
const templateVariables = namedValues(
  identifier,
  z.union([storable(z.string()), z.number(), z.boolean(), z.null()]),
);

export const emailRequestedSchema = z.strictObject({
  ...notificationRequest,
  to: email,
  subject: line(200),
  template: identifier,
  variables: templateVariables,
});

export const smsRequestedSchema = z.strictObject({
  ...notificationRequest,
  to: e164Phone,
  /** At most ten concatenated SMS segments. */
  body: text(1600),
});

/** Addressed to a user rather than a device token: tokens rotate, the sender looks up the user's devices. */
export const pushRequestedSchema = z.strictObject({
  ...notificationRequest,
  userId: uuid,
  title: line(100),
  body: text(1000),
});
