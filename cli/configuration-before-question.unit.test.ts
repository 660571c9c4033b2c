// The destructive commands that read a configuration check it before they ask [y/N]: a person at a terminal is
// not asked to confirm a re-wrap, an archive or a handover that then fails on a bad variable or key (phi:rewrap,
// audit:archive and relay:switch asked first). From a script without --yes they are still refused before
// anything is read.
import { describe, expect, it } from "vitest";
import { commandAtTerminal, commandOutcome } from "../test/commandOutcome.ts";
import { terminalAvailable } from "../test/terminal.ts";

/** Each command with a bad setting of its own and what its refusal names. */
const lines: ReadonlyArray<{ script: string; args: string[]; env: Record<string, string>; problem: string }> =
  [
    {
      script: "scripts/phi-rewrap.ts",
      args: [],
      env: { PHI_MASTER_KEYS: "k1:not-a-key" },
      problem: "PHI_MASTER_KEYS",
    },
    {
      script: "audit/cli.ts",
      args: ["archive"],
      env: { AUDIT_SIGNING_KEY: "not-a-key-at-all" },
      problem: "AUDIT_SIGNING_KEY: is not PEM",
    },
    {
      script: "handover/switch.ts",
      args: ["polling"],
      env: { RELAY_MOD: "polling" },
      problem: "RELAY_MOD: not a variable this project reads; did you mean RELAY_MODE?",
    },
  ];

// Each test starts commands under tsx, a few seconds each on a busy machine.
describe("a destructive command with a bad configuration", { timeout: 60_000 }, () => {
  it.skipIf(!terminalAvailable)(
    "at a terminal, names the problem without asking, exit code 1 (needs script(1))",
    async () => {
      const outcomes = await Promise.all(
        lines.map(({ script, args, env }) => commandAtTerminal(script, args, env)),
      );
      for (const [index, outcome] of outcomes.entries()) {
        const { script, problem } = lines[index] as (typeof lines)[number];
        expect({ script, code: outcome.code, asked: outcome.asked }).toEqual({
          script,
          code: 1,
          asked: false,
        });
        expect(outcome.output).toContain("Invalid configuration:");
        expect(outcome.output).toContain(problem);
      }
    },
  );

  it("from a script without --yes, is refused before anything is read, exit code 2", async () => {
    const outcomes = await Promise.all(
      lines.map(({ script, args, env }) => commandOutcome(script, args, env)),
    );
    for (const [index, outcome] of outcomes.entries()) {
      const { script } = lines[index] as (typeof lines)[number];
      expect({ script, code: outcome.code }).toEqual({ script, code: 2 });
      expect(outcome.stderr).toContain("not confirmed; run it again with --yes (no terminal to ask)");
      expect(outcome.stderr).not.toContain("Invalid configuration");
    }
  });
});
