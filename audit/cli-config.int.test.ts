// The audit commands read AUDIT_SIGNING_KEY as the platform does: a key not of its form is a configuration
// error naming the variable and what it expects, exit code 2, never a stack trace (nor the key itself).
import { describe, expect, it } from "vitest";
import { spawnScript } from "../test/childProcess.ts";

/** Runs `audit/cli.ts` with this signing key; resolves with its exit code and output once it has closed. */
async function auditCommand(args: string[], signingKey: string) {
  const script = spawnScript("audit/cli.ts", { args, env: { AUDIT_SIGNING_KEY: signingKey } });
  const code = await new Promise<number | null>((resolve) => script.child.once("close", resolve));
  return { code, output: script.output() };
}

describe("an audit command given a malformed AUDIT_SIGNING_KEY", () => {
  const malformed = "not-a-key-at-all-3f9a";

  for (const args of [["verify"], ["seal"], ["verify-archive", "manifest.json"]]) {
    it(`refuses it for ${args[0]}, naming the variable, with no stack trace`, async () => {
      const { code, output } = await auditCommand(args, malformed);
      expect(code, output).toBe(2);
      expect(output).toMatch(/^Invalid configuration:\n {2}- AUDIT_SIGNING_KEY: is not PEM/m);
      expect(output).not.toMatch(/^\s+at /m);
      expect(output).not.toContain(malformed);
    });
  }
});
