// The hashes an archive signs over its heads and its kept digests are fed in one order only, the order the
// queries read them in. Fed out of order, or an id that is not Postgres' canonical text, they stop: that is a
// fault of the code that fed them, which `npm run audit:archive` reports as an internal error (exit code 70,
// with its stack), never as a refusal an operator could fix.
import { describe, expect, it } from "vitest";
import { classifyFailure } from "../cli/failure.ts";
import { type ArchivedHead, DigestsHash, HeadsHash } from "./archive.ts";

const head = (position: string): ArchivedHead => ({
  position,
  aggregateType: "patient",
  aggregateId: "a",
  version: 1,
  hash: Buffer.alloc(32),
});
const digest = (eventId: string) => ({ eventId, payloadSha256: Buffer.alloc(32) });
const FIRST = "0b7e3f52-7a0c-4c47-9b35-3b0c1f6f2a10";
const SECOND = "5d1c2e4a-9f3b-4e21-8a7d-6c5b4a392817";

/** What `fed` throws, as the commands' failure report classifies it. */
function failureOf(fed: () => void) {
  try {
    fed();
  } catch (error) {
    return classifyFailure(error);
  }
  throw new Error("nothing was thrown");
}

describe("the hashes an archive signs", () => {
  it("take heads in ascending position and digests in ascending event id", () => {
    const heads = new HeadsHash();
    for (const position of ["2", "10", "11"]) heads.add(head(position));
    const digests = new DigestsHash();
    for (const eventId of [FIRST, SECOND]) digests.add(digest(eventId));
    expect([heads.count, digests.count]).toEqual([3, 2]);
  });

  it("stop at a head out of order, an internal error", () => {
    const heads = new HeadsHash();
    heads.add(head("10"));
    // Compared as numbers: "9" sorts after "10" as text.
    const failure = failureOf(() => heads.add(head("9")));
    expect(failure).toMatchObject({ kind: "internal" });
    expect(failure.kind === "internal" && failure.report).toMatch(
      /heads must come in ascending position \(9\)/,
    );
  });

  it("stop at a digest out of order or repeated, and at an id that is not canonical, an internal error", () => {
    const digests = new DigestsHash();
    digests.add(digest(SECOND));
    for (const eventId of [FIRST, SECOND, SECOND.toUpperCase()]) {
      expect(
        failureOf(() => digests.add(digest(eventId))),
        eventId,
      ).toMatchObject({ kind: "internal" });
    }
  });
});
