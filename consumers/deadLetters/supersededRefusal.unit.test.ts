// The refusal of a re-drive over newer events, as `npm run dlq` prints it: one line per dead letter, the
// command's own line breaks kept (they were printed as \u000a, one long line), and what a line quotes of a
// dead letter (its consumer, its event type: a producer of dead letters wrote them) escaped.
import { describe, expect, it } from "vitest";
import { printable } from "../../cli/printable.ts";
import { DeadLettersSuperseded } from "./deadLetterQueue.ts";
import type { Superseded } from "./redriveRule.ts";

const superseded = (reason: string) => ({ letter: {}, reason }) as unknown as Superseded;

describe("a re-drive refused as superseded, printed", () => {
  it("has a line per dead letter, and what they quote escaped", () => {
    const refusal = new DeadLettersSuperseded("patient-events.dlq", [
      superseded(
        "dead letter patient-events.dlq/0/3: consumer forged\nline\u001b[2J has applied a newer event",
      ),
      superseded("dead letter patient-events.dlq/1/0: consumer patient-directory has applied a newer event"),
    ]);
    const lines = refusal.render(printable).split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^re-drive refused: 2 dead letter\(s\) of patient-events.dlq /);
    expect(lines[1]).toBe(
      String.raw`  dead letter patient-events.dlq/0/3: consumer forged\u000aline\u001b[2J has applied a newer event`,
    );
    expect(lines[3]).toMatch(/^Leave them parked/);
    // The message itself, for a log or a caller, says the same unescaped.
    expect(refusal.message).toContain("consumer patient-directory has applied a newer event");
  });
});
