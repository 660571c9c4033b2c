// The e-mail templates this version of the platform renders, and the variables each one needs: what the
// notification API checks a request against (a template it does not know, or a variable missing, misspelled
// or of the wrong kind, is a 400 naming it) and what the sender checks before it renders one. The event
// itself names any template (`identifier`): a request from a newer producer waits for a sender that knows it.
import { z } from "zod";
import { line } from "./fields.ts";
import { personName } from "./patient.ts";

// As long as a patient record takes it: a welcome that could not hold the name it was requested with would be
// parked for good, as no re-drive makes it fit.
const firstName = personName.describe("the patient's first name, as the greeting uses it");
const when = line(100).describe("when the appointment is, as the patient reads it: `2024-02-01 14:00 UTC`");

export const emailTemplates = {
  welcome: z.strictObject({ firstName }),
  "appointment-confirmation": z.strictObject({
    firstName,
    scheduledAt: when,
    durationMinutes: z.int().min(1).max(1440),
    virtual: z.boolean().describe("a video consultation"),
  }),
  "appointment-reminder": z.strictObject({
    firstName,
    scheduledAt: when,
    hoursBefore: z.int().min(1).max(8760),
  }),
} as const;

export type EmailTemplate = keyof typeof emailTemplates;
export type TemplateVariables<Template extends EmailTemplate> = z.infer<(typeof emailTemplates)[Template]>;

export function isEmailTemplate(name: string): name is EmailTemplate {
  return Object.hasOwn(emailTemplates, name);
}
