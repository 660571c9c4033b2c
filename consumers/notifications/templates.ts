// The plain-text bodies of the e-mail templates that notification requests name (their variables are declared
// in events/notificationTemplates.ts, which the API checks requests against). A request for a template this
// version does not know, or whose variables do not fit it, fails (and is dead-lettered after its retries), to
// be re-driven once it does: never a message that says "Dear undefined". A variable is shown on one line and
// inert: a name an earlier version stored over lines, or with control characters or bidirectional overrides
// (events keep the rule they were written under), writes no line of the message and sends no escape sequence.
import {
  type EmailTemplate,
  emailTemplates,
  isEmailTemplate,
  type TemplateVariables,
} from "../../events/notificationTemplates.ts";

type Variables = Readonly<Record<string, string | number | boolean | null>>;

const bodies: { [Template in EmailTemplate]: (variables: TemplateVariables<Template>) => string } = {
  welcome: ({ firstName }) =>
    `Dear ${firstName},\n\nWelcome to the Healthcare Platform. You can now book appointments and see your records online.\n`,
  "appointment-confirmation": ({ firstName, scheduledAt, durationMinutes, virtual }) =>
    `Dear ${firstName},\n\nYour ${durationMinutes}-minute appointment on ${scheduledAt} is confirmed.\n` +
    (virtual
      ? "It is a video consultation: sign in to the platform to join it.\n"
      : "We look forward to seeing you.\n"),
  "appointment-reminder": ({ firstName, scheduledAt, hoursBefore }) =>
    `Dear ${firstName},\n\nA reminder that your appointment is on ${scheduledAt}, ${withinHours(hoursBefore)}.\n`,
};

/**
 * How soon an appointment `hoursBefore` hours away is, as a reminder says it. The scheduler rounds the time left
 * up to whole hours (an appointment booked 90 seconds ahead is reminded with 1, one 4 hours 10 minutes ahead with
 * 5), so "within", never "in": the text never gives a patient more time than they have.
 */
export function withinHours(hoursBefore: number): string {
  return hoursBefore === 1 ? "within an hour" : `within ${hoursBefore} hours`;
}

export class UnknownTemplateError extends Error {
  override name = "UnknownTemplateError";
  constructor(template: string) {
    super(`no e-mail template named "${template}"`);
  }
}

/** Variables that do not fit their template: which ones, never their values (they are personal data). */
export class TemplateVariablesError extends Error {
  override name = "TemplateVariablesError";
  constructor(template: string, variables: readonly string[]) {
    super(`the variables of e-mail template "${template}" do not fit it: ${variables.join(", ")}`);
  }
}

export function renderTemplate(template: string, variables: Variables): string {
  if (!isEmailTemplate(template)) throw new UnknownTemplateError(template);
  return render(template, variables);
}

function render<Template extends EmailTemplate>(template: Template, variables: Variables): string {
  const checked = emailTemplates[template].safeParse(variables);
  if (!checked.success) {
    const names = checked.error.issues.map((issue) =>
      issue.code === "unrecognized_keys" ? issue.keys.join(", ") : issue.path.join("."),
    );
    throw new TemplateVariablesError(template, [...new Set(names)]);
  }
  const shown = Object.fromEntries(
    Object.entries(checked.data).map(([name, value]) => [
      name,
      typeof value === "string" ? inline(value) : value,
    ]),
  );
  return bodies[template](shown as TemplateVariables<Template>);
}

/** Bidirectional embeddings, overrides and isolates: they would reorder the message's text around them. */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/gu;
/** Control characters and line or paragraph separators, a run of them: each run is shown as one space. */
const LINE_BREAKING = /[\p{Cc}\u2028\u2029]+/gu;

function inline(value: string): string {
  return value.replace(BIDI_CONTROLS, "").replace(LINE_BREAKING, " ");
}
