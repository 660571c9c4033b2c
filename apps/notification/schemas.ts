// The notification API's bodies, built from the catalog's notification schemas: an e-mail address must be
// one, a phone number must be E.164, and what is accepted is what the request events carry. Every request
// is about a patient and goes to that patient's own contact on file: a body may repeat it, never change it.
import { z } from "zod";
import { emailRequestedSchema, pushRequestedSchema, smsRequestedSchema } from "../../events/notification.ts";
import { anyCaseUuid } from "../http/ids.ts";

const request = {
  /** Required: a message's text is sealed under its patient's key, and its recipient is that patient. */
  patientId: anyCaseUuid,
  /** The event that caused the request; the caller may leave it out when a person asked for it. */
  relatedEventId: anyCaseUuid.nullable().optional().default(null),
};

export const emailRequestBody = z.strictObject({
  ...emailRequestedSchema.omit({ notificationId: true }).shape,
  ...request,
  to: emailRequestedSchema.shape.to
    .optional()
    .describe(
      "the patient's e-mail address on file, which is used when left out; any other is refused (422)",
    ),
  variables: emailRequestedSchema.shape.variables.optional().default({}),
});

export const smsRequestBody = z.strictObject({
  ...smsRequestedSchema.omit({ notificationId: true }).shape,
  ...request,
  to: smsRequestedSchema.shape.to
    .optional()
    .describe("the patient's phone number on file, which is used when left out; any other is refused (422)"),
});

export const pushRequestBody = z.strictObject({
  ...pushRequestedSchema.omit({ notificationId: true }).shape,
  ...request,
  userId: anyCaseUuid
    .optional()
    .describe("the patient's own login, which is used when left out; any other is refused (422)"),
});

export const notificationAccepted = z.object({
  notificationId: z.uuid(),
  channel: z.enum(["email", "sms", "push"]),
});

export type NotificationAccepted = z.infer<typeof notificationAccepted>;
