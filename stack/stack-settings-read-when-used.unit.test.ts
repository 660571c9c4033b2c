// The stack's variables (POSTGRES_PORT, KAFKA_PORT, KAFKA_BROKER_COUNT, CONNECT_PORT, CONNECT_WORKERS) are read
// when the local services are used, not as stack/ loads: a bad one, or a misspelt variable, used to stop every
// command at its imports with Node's uncaught-error report, before its frame could answer --help or list the
// environment's other problems.
import { describe, expect, it } from "vitest";
import { commandOutcome } from "../test/commandOutcome.ts";

const BAD_STACK = {
  POSTGRES_PORT: "80",
  KAFKA_PORT: "0x10",
  CONNECT_WORKERS: "0",
  PHI_MASTER_KEY: "prod:c2VjcmV0",
  LOG_LEVEL: "bogus",
};

// Each test starts commands under tsx, a few seconds each on a busy machine.
describe("a command with bad stack variables", { timeout: 60_000 }, () => {
  it("answers --help with its usage, exit code 0", async () => {
    const outcomes = await Promise.all(
      ["scripts/topics.ts", "debezium/status.ts", "stack/cli.ts"].map((script) =>
        commandOutcome(script, ["--help"], BAD_STACK),
      ),
    );
    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({ code: 0, stderr: "" });
      expect(outcome.stdout).toMatch(/^usage: npm (run|start)/);
    }
  });

  it("lists every problem of the environment in one report, exit code 1, no uncaught-error trace", async () => {
    const outcomes = await Promise.all(
      ["scripts/topics.ts", "debezium/status.ts", "relay/main.ts"].map((script) =>
        commandOutcome(script, [], BAD_STACK),
      ),
    );
    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({ code: 1, stdout: "" });
      expect(outcome.stderr).toMatch(/^Invalid configuration:\n/);
      for (const problem of [
        'POSTGRES_PORT="80": must be at least 1024',
        'KAFKA_PORT="0x10": must be a port number',
        'CONNECT_WORKERS="0": must be at least 1',
        "PHI_MASTER_KEY: not a variable this project reads; did you mean PHI_MASTER_KEYS?",
        'LOG_LEVEL="bogus"',
      ])
        expect(outcome.stderr).toContain(problem);
      expect(outcome.stderr).not.toContain("c2VjcmV0");
      expect(outcome.stderr).not.toMatch(/triggerUncaughtException|^\s+at /m);
    }
  });

  it("stack:status reports them too, before it looks at any service", async () => {
    const outcome = await commandOutcome("stack/cli.ts", ["status"], BAD_STACK);
    expect(outcome).toMatchObject({ code: 1, stdout: "" });
    expect(outcome.stderr).toContain('POSTGRES_PORT="80": must be at least 1024');
    expect(outcome.stderr).toContain("PHI_MASTER_KEY: not a variable this project reads");
    expect(outcome.stderr).not.toMatch(/triggerUncaughtException|^\s+at /m);
  });
});
