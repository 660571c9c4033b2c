// dlq refuses an event named twice, as it refuses a topic named twice, before it reaches Kafka: `redrive
// <topic> --event X --event X` asked to re-drive two dead letters for one event.
import { describe, expect, it } from "vitest";
import { commandOutcome } from "../test/commandOutcome.ts";

const EVENT = "0b8f6a7e-3c1d-4e2f-9a8b-7c6d5e4f3a2b";

// Each test starts the command under tsx, a few seconds on a busy machine.
describe("dlq redrive's --event", { timeout: 60_000 }, () => {
  it("refuses an event given more than once, in any case, with the usage, exit code 2", async () => {
    const outcomes = await Promise.all(
      [EVENT, EVENT.toUpperCase()].map((again) =>
        commandOutcome("consumers/dlq.ts", [
          "redrive",
          "patient-events",
          "--event",
          EVENT,
          "--event",
          again,
          "--yes",
        ]),
      ),
    );
    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({ code: 2, stdout: "" });
      expect(outcome.stderr.split("\n").slice(0, 2)).toEqual([
        `--event ${EVENT} is given more than once; name each event once`,
        "usage: npm run dlq -- list [<topic>...] [--all]",
      ]);
    }
  });

  it("asks for the topic to redrive when none is named, and refuses two", async () => {
    const [none, two] = await Promise.all([
      commandOutcome("consumers/dlq.ts", ["redrive", "--yes"]),
      commandOutcome("consumers/dlq.ts", ["redrive", "patient-events", "appointment-events", "--yes"]),
    ]);
    expect(none).toMatchObject({ code: 2, stdout: "" });
    expect(none.stderr.split("\n")[0]).toBe(
      "name the dead-letter topic to redrive (npm run dlq -- list shows those holding letters)",
    );
    expect(two).toMatchObject({ code: 2, stdout: "" });
    expect(two.stderr.split("\n")[0]).toBe("redrive one topic at a time");
  });
});
