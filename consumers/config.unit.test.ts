// The consumers' own settings (consumers/config.ts): which consumers run, and how e-mail goes out; each bad
// variable named, a password never printed. The compliance watch's are in complianceWatch/watchSettings.unit.test.ts.
import { describe, expect, it } from "vitest";
import { configProblems } from "../test/configProblems.ts";
import { loadConsumersConfig } from "./config.ts";

describe("SMTP_URL", () => {
  it("is refused without printing the password it holds", () => {
    expect(
      configProblems(loadConsumersConfig, { SMTP_URL: "smpt://mailer:s3cret-pw@mail.example.org:587" }),
    ).toEqual(['SMTP_URL="smpt://mailer:***@mail.example.org:587": must be an smtp:// or smtps:// URL']);
  });
});
