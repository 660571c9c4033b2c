// The consumers' own settings (consumers/config.ts): which consumers run, and how e-mail goes out; each bad
// variable named, a password never printed. The compliance watch's are in complianceWatch/watchSettings.unit.test.ts.
import { describe, expect, it } from "vitest";
import { configProblems } from "../test/configProblems.ts";
import { loadConsumersConfig } from "./config.ts";

describe("CONSUMERS", () => {
  it("takes the consumers named, each once", () => {
    expect(loadConsumersConfig({ CONSUMERS: " compliance-watch, patient-directory" }).CONSUMERS).toEqual([
      "compliance-watch",
      "patient-directory",
    ]);
    expect(loadConsumersConfig({}).CONSUMERS).toEqual([
      "patient-directory",
      "notification-requests",
      "notification-delivery",
      "compliance-watch",
    ]);
  });

  it("refuses a consumer named more than once, which would run two consumers of one group in the process", () => {
    expect(configProblems(loadConsumersConfig, { CONSUMERS: "compliance-watch,compliance-watch" })).toEqual([
      'CONSUMERS="compliance-watch,compliance-watch": consumer "compliance-watch" is listed more than once',
    ]);
    expect(
      configProblems(loadConsumersConfig, {
        CONSUMERS: "patient-directory, compliance-watch,patient-directory ",
      }),
    ).toEqual([
      'CONSUMERS="patient-directory, compliance-watch,patient-directory ": consumer "patient-directory" is listed more than once',
    ]);
  });
});

describe("SMTP_URL", () => {
  it("takes smtp:// and smtps:// URLs naming a host, with a user and password, a port or nodemailer's options", () => {
    for (const SMTP_URL of [
      "smtp://mail.example.org",
      "smtp://mail.example.org:25",
      "smtps://mailer:s3cret-pw@mail.example.org:465",
      "smtp://mailer:p@ss@mail.example.org:587",
      "smtp://[::1]:1025",
      "smtp://127.0.0.1:65535/?pool=true&tls.rejectUnauthorized=false",
    ]) {
      expect(loadConsumersConfig({ SMTP_URL }).SMTP_URL, SMTP_URL).toBe(SMTP_URL);
    }
  });

  it("refuses a URL naming no host, which nodemailer sends to localhost, naming the variable and not the password", () => {
    for (const SMTP_URL of ["smtp://", "smtps://:465", "smtp:///", "smtp://?pool=true", "smtp://%20:25"]) {
      expect(configProblems(loadConsumersConfig, { SMTP_URL }), SMTP_URL).toEqual([
        `SMTP_URL=${JSON.stringify(SMTP_URL)}: must name the mail server's host, like smtp://user:password@mail.example.org:587`,
      ]);
    }
    expect(configProblems(loadConsumersConfig, { SMTP_URL: "smtp://mailer:s3cret-pw@" })).toEqual([
      `SMTP_URL="smtp://mailer:***@": must name the mail server's host, like smtp://user:password@mail.example.org:587`,
    ]);
  });

  it("refuses a port outside 1 to 65535, or not a number: 0 would be the default port, 99999 no port at all", () => {
    for (const SMTP_URL of [
      "smtp://h:99999",
      "smtp://h:65536",
      "smtp://h:0",
      "smtp://h:",
      "smtp://h:25x",
      "smtp://mailer:s3cret/pw@h:25",
    ]) {
      const problems = configProblems(loadConsumersConfig, { SMTP_URL });
      expect(problems, SMTP_URL).toEqual([
        expect.stringMatching(
          /^SMTP_URL=".*": its port must be from 1 to 65535 \(left out: 587 for smtp:\/\/, 465 for smtps:\/\/\)$/,
        ),
      ]);
      expect(problems.join(), SMTP_URL).not.toContain("s3cret");
    }
  });

  it("is refused without printing the password it holds", () => {
    expect(
      configProblems(loadConsumersConfig, { SMTP_URL: "smpt://mailer:s3cret-pw@mail.example.org:587" }),
    ).toEqual(['SMTP_URL="smpt://mailer:***@mail.example.org:587": must be an smtp:// or smtps:// URL']);
  });
});

describe("NOTIFICATION_SENDER", () => {
  it("takes an e-mail address, alone or after a name, quoted or not, and defaults to the platform's", () => {
    expect(loadConsumersConfig({}).NOTIFICATION_SENDER).toBe(
      "Healthcare Platform <no-reply@healthcare-platform.invalid>",
    );
    for (const sender of [
      "no-reply@example.org",
      "Clinic <no-reply@example.org>",
      "<no-reply@example.org>",
      "Dr. Who's Clinic<who@tardis.example>",
      '"Clinic, the" <no-reply@example.org>',
      '"Clinic: \\"Mitte\\"" <no-reply@example.org>',
      "Ärztehaus Mitte <praxis@ärztehaus.de>",
      "no-reply@localhost",
    ]) {
      expect(loadConsumersConfig({ NOTIFICATION_SENDER: ` ${sender} ` }).NOTIFICATION_SENDER, sender).toBe(
        sender,
      );
    }
  });

  it("refuses what is no address, or more than one, naming the variable", () => {
    for (const sender of [
      "abc",
      "   ",
      "Clinic",
      "Clinic no-reply@example.org",
      "Clinic <no-reply>",
      "Clinic <no-reply@example.org",
      "no-reply@example.org, other@example.org",
      "a@b@example.org",
      "no-reply@example..org",
      "no-reply@-example.org",
      'Cli"nic <no-reply@example.org>',
      // nodemailer reads these as two mailboxes, a group, a comment: quoted, the name is one.
      "Clinic, <no-reply@example.org>",
      "Clinic: <no-reply@example.org>",
      "(Clinic) <no-reply@example.org>",
    ]) {
      expect(configProblems(loadConsumersConfig, { NOTIFICATION_SENDER: sender }), sender).toEqual([
        `NOTIFICATION_SENDER=${JSON.stringify(sender)}: must be an e-mail address, alone or after a name: no-reply@example.org, or Healthcare Platform <no-reply@example.org> (a name holding , ; : @ ( ) [ ] or \\ in double quotes: "Clinic, Berlin" <no-reply@example.org>)`,
      ]);
    }
  });
});
