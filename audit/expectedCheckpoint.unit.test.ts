// A checkpoint an auditor wrote down, as `--expect-checkpoint` and `expectCheckpoint=` take it: its sequence and
// its chain hash in hexadecimal, whose digits may be written in either case.
import { describe, expect, it } from "vitest";
import { expectedCheckpointInput } from "./historySpan.ts";

const HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

describe("an expected checkpoint", () => {
  it("takes the chain hash in lower or upper case as the same bytes", () => {
    const lower = expectedCheckpointInput.parse(`12:${HASH}`);
    expect(lower).toEqual({ sequence: 12, chainHash: Buffer.from(HASH, "hex") });
    expect(expectedCheckpointInput.parse(`12:${HASH.toUpperCase()}`)).toEqual(lower);
  });

  it.each([
    ["12", "no hash"],
    [`0:${HASH}`, "sequence 0"],
    [`12:${HASH.slice(1)}`, "63 digits"],
    [`12:${"g".repeat(64)}`, "not hexadecimal"],
    [` 12:${HASH}`, "a space"],
  ])("refuses %s (%s)", (value) => {
    expect(expectedCheckpointInput.safeParse(value).success).toBe(false);
  });
});
