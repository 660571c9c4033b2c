// The plain-text bodies of the e-mail templates that notification requests name (their variables are declared
// in events/notificationTemplates.ts, which the API checks requests against). A request for a template this
// version does not know, or whose variables do not fit it, fails (and is dead-lettered after its retries), to
// be re-driven once it does: never a message that says "Dear undefined".
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
    `Dear ${firstName},\n\nA reminder that your appointment is on ${scheduledAt}, in ${hoursBefore} hours.\n`,
};

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
  return bodies[template](checked.data as TemplateVariables<Template>);
}
