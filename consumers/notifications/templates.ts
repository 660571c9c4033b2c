// The plain-text bodies of the e-mail templates that notification requests name. A request for a template
// this version does not know fails (and is dead-lettered after its retries), to be re-driven once it does.

type Variables = Readonly<Record<string, string | number | boolean | null>>;

const templates: Record<string, (variables: Variables) => string> = {
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

export function renderTemplate(template: string, variables: Variables): string {
  const render = templates[template];
  if (!render) throw new UnknownTemplateError(template);
  return render(variables);
}
