// Progress as a specification: without a terminal, a plain line at most every PLAIN_EVERY_MS with the count,
// the rate and the ETA, and a summary at the end; on a terminal, one line redrawn in place with a bar.
import { describe, expect, it } from "vitest";
import { duration, PLAIN_EVERY_MS, progressBar, startProgress } from "./progress.ts";

function recorder(isTTY: boolean) {
  const writes: string[] = [];
  let clock = 0;
  return {
    writes,
    output: { isTTY, columns: 200, write: (text: string) => writes.push(text) },
    now: () => clock,
    at(ms: number) {
      clock = ms;
    },
  };
}

describe("progress without a terminal", () => {
  it("prints a plain line with count, rate and ETA once per interval, and a summary at the end", () => {
    const run = recorder(false);
    const progress = startProgress({ label: "verify", total: 1_000_000, output: run.output, now: run.now });
    run.at(5_000);
    progress.advance(100_000); // within the first interval: nothing yet
    expect(run.writes).toEqual([]);
    run.at(PLAIN_EVERY_MS);
    progress.advance(100_000);
    run.at(PLAIN_EVERY_MS + 1_000);
    progress.advance(50_000); // too soon after the last line
    run.at(2 * PLAIN_EVERY_MS + 1_000);
    progress.advance(50_000);
    run.at(40_000);
    progress.finish();
    expect(run.writes).toEqual([
      "verify: 200,000 / 1,000,000 events, 20,000 events/s, ETA 40 s\n",
      "verify: 300,000 / 1,000,000 events, 14,286 events/s, ETA 49 s\n",
      "verify: done, 300,000 events in 40 s (7,500 events/s)\n",
    ]);
  });

  it("without a total, counts and rates only; the outcome names the summary", () => {
    const run = recorder(false);
    const progress = startProgress({ label: "redrive", unit: "records", output: run.output, now: run.now });
    run.at(PLAIN_EVERY_MS);
    progress.advance(42);
    run.at(PLAIN_EVERY_MS * 2);
    progress.finish("re-driven");
    progress.finish("twice");
    progress.advance(1);
    expect(run.writes).toEqual([
      "redrive: 42 records, 4 records/s\n",
      "redrive: re-driven, 42 records in 20 s (2 records/s)\n",
    ]);
  });

  it("a short run prints only its summary", () => {
    const run = recorder(false);
    const progress = startProgress({ label: "archive", total: 10, output: run.output, now: run.now });
    progress.advance(10);
    run.at(500);
    progress.finish();
    expect(run.writes).toEqual(["archive: done, 10 events in 1 s (20 events/s)\n"]);
  });
});

describe("progress on a terminal", () => {
  it("redraws one line in place with a bar, and ends it with the summary", () => {
    const run = recorder(true);
    const progress = startProgress({ label: "verify", total: 400, output: run.output, now: run.now });
    run.at(1_000);
    progress.advance(100);
    run.at(2_000);
    progress.finish();
    expect(run.writes[0]).toBe(
      "\rverify [######..................]  25% 100 / 400 events, 100 events/s, ETA 3 s\u001b[K",
    );
    expect(run.writes[1]).toBe("\rverify: done, 100 events in 2 s (50 events/s)\u001b[K\n");
  });

  it("an estimated total that is passed holds the bar at 99% and the ETA unknown", () => {
    expect(progressBar({ done: 120, total: 100, elapsedMs: 1, unit: "events" })).toMatch(/ 99%$/);
    const run = recorder(true);
    const progress = startProgress({ label: "verify", total: 100, output: run.output, now: run.now });
    run.at(1_000);
    progress.advance(120);
    expect(run.writes[0]).toContain("120 / 100 events, 120 events/s, ETA -");
  });
});

describe("durations", () => {
  it("reads as seconds, minutes or hours", () => {
    expect(duration(45_400)).toBe("45 s");
    expect(duration(185_000)).toBe("3 min 05 s");
    expect(duration(3_720_000)).toBe("1 h 02 min");
  });
});
