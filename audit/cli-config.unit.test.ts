// The audit commands read AUDIT_SIGNING_KEY as the platform does: a key not of its form is a configuration
// error naming the variable and what it expects, exit code 1 (as for every bad variable; it was 2, the exit code
// of a command line that makes no sense), never a stack trace (nor the key itself). Each stops before it
// reaches the database, which does not answer here.
import { describe, expect, it } from "vitest";
import { commandOutcome } from "../test/commandOutcome.ts";

// Each test starts the command under tsx, a few seconds on a busy machine.
describe("an audit command given a malformed AUDIT_SIGNING_KEY", { timeout: 60_000 }, () => {
  const malformed = "not-a-key-at-all-3f9a";

  for (const args of [["verify"], ["seal"], ["verify-archive", "manifest.json"], ["archive", "--yes"]]) {
    it(`refuses it for ${args[0]}, naming the variable, exit code 1, with no stack trace`, async () => {
      const outcome = await commandOutcome("audit/cli.ts", args, { AUDIT_SIGNING_KEY: malformed });
      expect(outcome).toMatchObject({ code: 1, stdout: "" });
      expect(outcome.stderr).toMatch(/^Invalid configuration:\n {2}- AUDIT_SIGNING_KEY: is not PEM/m);
      expect(outcome.stderr).not.toMatch(/^\s+at /m);
      expect(outcome.stderr).not.toContain(malformed);
    });
  }

  it("refuses a malformed AUDIT_PREVIOUS_PUBLIC_KEYS in the same list as the signing key's problem", async () => {
    const outcome = await commandOutcome("audit/cli.ts", ["verify"], {
      AUDIT_SIGNING_KEY: malformed,
      AUDIT_PREVIOUS_PUBLIC_KEYS: malformed,
    });
    expect(outcome).toMatchObject({ code: 1, stdout: "" });
    expect(outcome.stderr).toMatch(
      /^Invalid configuration:\n {2}- AUDIT_SIGNING_KEY: is not PEM.*\n {2}- AUDIT_PREVIOUS_PUBLIC_KEYS: holds no PEM block/m,
    );
    expect(outcome.stderr).not.toContain(malformed);
  });
});
