// The sender renders only what fits a template: a template it does not know, or variables missing, misspelled or
// of the wrong kind, fail by name (never with a value: they are personal data) instead of "Dear undefined".
import { describe, expect, it } from "vitest";
import { exampleData } from "../../events/examples.ts";
import { renderTemplate, TemplateVariablesError, UnknownTemplateError } from "./templates.ts";

describe("an e-mail template", () => {
  it("renders the catalog's example request", () => {
    const { template, variables } = exampleData["notification.email.requested"];
    expect(renderTemplate(template, variables)).toBe(
      "Dear Ada,\n\nA reminder that your appointment is on 2024-01-16 14:00 UTC, within 24 hours.\n",
    );
  });

  it("says a reminder's appointment is within the hours left, rounded up: never more time than there is", () => {
    // The scheduler's figures for appointments booked 90 seconds and 4 hours 10 minutes ahead.
    const reminder = (hoursBefore: number) =>
      renderTemplate("appointment-reminder", {
        firstName: "Ada",
        scheduledAt: "2026-12-08 06:39 UTC",
        hoursBefore,
      });
    expect(reminder(1)).toBe(
      "Dear Ada,\n\nA reminder that your appointment is on 2026-12-08 06:39 UTC, within an hour.\n",
    );
    expect(reminder(5)).toBe(
      "Dear Ada,\n\nA reminder that your appointment is on 2026-12-08 06:39 UTC, within 5 hours.\n",
    );
  });

  it("shows each variable on one line and inert: a stored name's line breaks, escapes and overrides write nothing", () => {
    // Names an earlier version's requests took, which the events keep as written (events/requestRules.ts).
    const forged = "Line1\n2026-12-07T00:00:00Z INFO forged log line";
    expect(renderTemplate("welcome", { firstName: forged })).toBe(
      "Dear Line1 2026-12-07T00:00:00Z INFO forged log line,\n\nWelcome to the Healthcare Platform. You can now book appointments and see your records online.\n",
    );
    const rendered = renderTemplate("appointment-reminder", {
      firstName: "Mallory\u001b[31mRED\u001b[0m\r\n\r\n<html>\u202etxt.exe\u2066",
      scheduledAt: "2024-01-16\u2028 14:00 UTC",
      hoursBefore: 24,
    });
    expect(rendered).toBe(
      "Dear Mallory [31mRED [0m <html>txt.exe,\n\nA reminder that your appointment is on 2024-01-16  14:00 UTC, within 24 hours.\n",
    );
  });

  it("refuses a template it does not know", () => {
    expect(() => renderTemplate("newsletter", {})).toThrow(UnknownTemplateError);
    expect(() => renderTemplate("__proto__", {})).toThrow(UnknownTemplateError);
  });

  it("refuses variables that do not fit, naming them and quoting no value", () => {
    const render = () =>
      renderTemplate("appointment-reminder", { firstName: "Zebulon", hoursBefore: "24", telehealth: true });
    expect(render).toThrow(TemplateVariablesError);
    expect(render).toThrow(/scheduledAt, hoursBefore, telehealth$/);
    expect(render).not.toThrow(/Zebulon/);
  });
});
