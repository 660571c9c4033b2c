// notifications:resolve refuses a --yes that nothing asks for, before it reads anything: without --id (and the
// provider's answer) it went unnoticed, as the listing asks nothing. `topics` refuses its --yes without --prune
// the same way.
import { describe, expect, it } from "vitest";
import { commandOutcome } from "../test/commandOutcome.ts";

// Each test starts the command under tsx, a few seconds on a busy machine.
describe("notifications:resolve's command line", { timeout: 60_000 }, () => {
  it("refuses --yes without --id, with the usage, exit code 2", async () => {
    const outcomes = await Promise.all([
      commandOutcome("scripts/notifications-resolve.ts", ["--yes"]),
      commandOutcome("scripts/notifications-resolve.ts", ["-y"]),
    ]);
    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({ code: 2, stdout: "" });
      expect(outcome.stderr).toMatch(
        /^--yes goes with --id and the provider's answer: nothing else asks\nusage: npm run notifications:resolve/,
      );
    }
  });

  it("names --id first when an answer is given without it", async () => {
    const outcome = await commandOutcome("scripts/notifications-resolve.ts", ["--sent", "--yes"]);
    expect(outcome).toMatchObject({ code: 2, stdout: "" });
    expect(outcome.stderr).toMatch(/^--sent: give the delivery's --id <notificationId>\n/);
  });
});
