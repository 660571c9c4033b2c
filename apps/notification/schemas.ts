// The notification API's bodies, built from the catalog's notification schemas: an e-mail address must be
// one, a phone number must be E.164, and what is accepted is what the request events carry. Every request
// is about a patient and goes to that patient's own contact on file: a body may repeat it, never change it.
import { z } from "zod";
import { emailRequestedSchema, pushRequestedSchema, smsRequestedSchema } from "../../events/notification.ts";
import { type EmailTemplate, emailTemplates } from "../../events/notificationTemplates.ts";
import { anyCaseUuid } from "../http/ids.ts";

/**
 * A field a request may leave out, or repeat only as the record on file holds it (any other value is a 422):
 * published as `x-on-file`, so that a client generating requests from the document knows to leave it out.
 */
const ON_FILE = { "x-on-file": true } as const;

const request = {
  /** Required: a message's text is sealed under its patient's key, and its recipient is that patient. */
  patientId: anyCaseUuid,
  /** The event that caused the request; the caller may leave it out when a person asked for it. */
  relatedEventId: anyCaseUuid.nullable().optional().default(null),
};

const emailRequestFields = {
  ...emailRequestedSchema.omit({ notificationId: true, template: true, variables: true }).shape,
  ...request,
  to: emailRequestedSchema.shape.to
    .optional()
    .describe("the patient's e-mail address on file, which is used when left out; any other is refused (422)")
    .meta(ON_FILE),
};

/** A request for one template, with the variables it needs (events/notificationTemplates.ts). */
function emailRequest<Template extends EmailTemplate>(template: Template) {
  return z.strictObject({
    ...emailRequestFields,
    template: z.literal(template),
    variables: emailTemplates[template],
  });
}

const [firstTemplate, ...otherTemplates] = Object.keys(emailTemplates) as [EmailTemplate, ...EmailTemplate[]];

/** One shape per template this version renders: a template it does not know is refused, not dead-lettered. */
export const emailRequestBody = z.discriminatedUnion(
  "template",
  [emailRequest(firstTemplate), ...otherTemplates.map(emailRequest)],
  { error: `must be one of ${Object.keys(emailTemplates).join(", ")}` },
);

export const smsRequestBody = z.strictObject({
  ...smsRequestedSchema.omit({ notificationId: true }).shape,
  ...request,
  to: smsRequestedSchema.shape.to
    .optional()
    .describe("the patient's phone number on file, which is used when left out; any other is refused (422)")
    .meta(ON_FILE),
});

export const pushRequestBody = z.strictObject({
  ...pushRequestedSchema.omit({ notificationId: true }).shape,
  ...request,
  userId: anyCaseUuid
    .optional()
    .describe("the patient's own login, which is used when left out; any other is refused (422)")
    .meta(ON_FILE),
});

export const notificationAccepted = z.object({
  notificationId: z.uuid(),
  channel: z.enum(["email", "sms", "push"]),
});

export type NotificationAccepted = z.infer<typeof notificationAccepted>;
