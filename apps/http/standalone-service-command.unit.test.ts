// A service run alone (`npx tsx apps/<service>/main.ts`) has npm start's frame: --help prints its usage and
// starts nothing, an unknown argument is refused with the usage (exit 2), and a Postgres that does not answer is
// one line naming DATABASE_URL (exit 1). It ignored --help and started (and migrated), and printed pg's stack.
import { describe, expect, it } from "vitest";
import { commandOutcome, SERVICE_KEYS as KEYS } from "../../test/commandOutcome.ts";

// Each test starts services under tsx, a few seconds each on a busy machine.
describe("a service run alone", { timeout: 60_000 }, () => {
  it("answers --help with its usage and starts nothing", async () => {
    const outcome = await commandOutcome("apps/patient/main.ts", ["--help"], KEYS);
    expect(outcome).toMatchObject({ code: 0, stderr: "" });
    expect(outcome.stdout).toMatch(/^usage: npx tsx apps\/patient\/main\.ts\n {2}runs patient-service alone/);
  });

  it("refuses an unknown argument with its usage, exit code 2", async () => {
    const outcomes = await Promise.all([
      commandOutcome("apps/appointment/main.ts", ["--bogus"], KEYS),
      commandOutcome("apps/document/main.ts", ["stray"], KEYS),
    ]);
    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({ code: 2, stdout: "" });
      expect(outcome.stderr).toMatch(/--bogus|stray/);
      expect(outcome.stderr).toContain("usage: npx tsx apps/");
    }
  });

  it("names DATABASE_URL in one line when Postgres does not answer, exit code 1", async () => {
    const outcome = await commandOutcome("apps/patient/main.ts", [], KEYS);
    expect(outcome).toMatchObject({ code: 1, stdout: "" });
    expect(outcome.stderr).toBe(
      "Postgres cannot be reached at the server DATABASE_URL names (127.0.0.1:1): connect ECONNREFUSED 127.0.0.1:1\n",
    );
  });
});
