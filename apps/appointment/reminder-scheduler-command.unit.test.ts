// The reminder scheduler run alone parses its command line in the commands' frame: --help prints its usage, and
// an unknown option, --interval-ms without a value or with one that is no interval are refused with the usage,
// exit 2, before anything starts. They were Node's ERR_PARSE_ARGS_* stacks, and "0x10" was taken as 16 ms.
import { describe, expect, it } from "vitest";
import { commandOutcome } from "../../test/commandOutcome.ts";

const SCHEDULER = "apps/appointment/reminderScheduler.ts";

// Each test starts the scheduler under tsx, a few seconds each on a busy machine.
describe("the reminder scheduler's command line", { timeout: 60_000 }, () => {
  it("answers --help with its usage and starts nothing", async () => {
    const outcome = await commandOutcome(SCHEDULER, ["--help"]);
    expect(outcome).toMatchObject({ code: 0, stderr: "" });
    expect(outcome.stdout).toMatch(
      /^usage: npx tsx apps\/appointment\/reminderScheduler\.ts \[--interval-ms <ms>\]/,
    );
  });

  it("refuses a command line that makes no sense with the usage, exit code 2, naming what is wrong", async () => {
    const refused: Array<[string[], string]> = [
      [["--bogus"], "Unknown option '--bogus'"],
      [["--interval-ms"], "Option '--interval-ms <value>' argument missing"],
      [
        ["--interval-ms", "0x10"],
        "--interval-ms 0x10: must be a whole number of milliseconds, in decimal digits",
      ],
      [["--interval-ms", "10000000000"], "--interval-ms 10000000000: must be a whole number of milliseconds"],
      [["--interval-ms", "50", "--interval-ms", "60"], "--interval-ms is given more than once"],
    ];
    const outcomes = await Promise.all(refused.map(([args]) => commandOutcome(SCHEDULER, args)));
    for (const [index, outcome] of outcomes.entries()) {
      const [args, problem] = refused[index] as [string[], string];
      expect({ args, ...outcome }).toMatchObject({ args, code: 2, stdout: "" });
      expect(outcome.stderr).toContain(problem);
      expect(outcome.stderr).toContain("usage: npx tsx apps/appointment/reminderScheduler.ts");
      expect(outcome.stderr).not.toMatch(/ERR_PARSE_ARGS|^\s+at /m);
    }
  });
});
