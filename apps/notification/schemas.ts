// The notification API's bodies, built from the catalog's notification schemas: an e-mail address must be
// one, a phone number must be E.164, and what is accepted is what the request events carry.
import { z } from "zod";
import { emailRequestedSchema, pushRequestedSchema, smsRequestedSchema } from "../../events/notification.ts";

/** The server names each request; the caller may leave out what is unknown (`null`). */
const optionalRefs = {
  patientId: emailRequestedSchema.shape.patientId.optional().default(null),
  relatedEventId: emailRequestedSchema.shape.relatedEventId.optional().default(null),
};

export const emailRequestBody = z.strictObject({
  ...emailRequestedSchema.omit({ notificationId: true }).shape,
  ...optionalRefs,
  variables: emailRequestedSchema.shape.variables.optional().default({}),
});

export const smsRequestBody = z.strictObject({
  ...smsRequestedSchema.omit({ notificationId: true }).shape,
  ...optionalRefs,
});

export const pushRequestBody = z.strictObject({
  ...pushRequestedSchema.omit({ notificationId: true }).shape,
  ...optionalRefs,
});

export const notificationAccepted = z.object({
  notificationId: z.uuid(),
  channel: z.enum(["email", "sms", "push"]),
});

export type NotificationAccepted = z.infer<typeof notificationAccepted>;
