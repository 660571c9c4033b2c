// A periodic sweep runs once at start, not one interval later, then on its interval; a failed round is
// logged and the next one runs all the same; stopping ends the rounds.
import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../observability/logger.ts";
import { startPeriodicSweep } from "./periodicSweep.ts";

const HOUR = 3_600_000;
const log = createLogger({ level: "silent" });

afterEach(() => {
  vi.useRealTimers();
});

describe("a periodic sweep", () => {
  it("runs at start, then once per interval", async () => {
    vi.useFakeTimers();
    const sweep = vi.fn(async () => 3);
    const periodic = startPeriodicSweep({ what: "old rows", everyMs: HOUR, sweep, log });
    await periodic.settled;
    expect(sweep).toHaveBeenCalledTimes(1);

    await vi.advanceTimersByTimeAsync(HOUR - 1);
    expect(sweep).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    await periodic.settled;
    expect(sweep).toHaveBeenCalledTimes(2);

    await periodic.stop();
    await vi.advanceTimersByTimeAsync(5 * HOUR);
    expect(sweep).toHaveBeenCalledTimes(2);
  });

  it("logs a failed round and runs the next one", async () => {
    vi.useFakeTimers();
    const warnings: string[] = [];
    const warnLog = { ...log, warn: (_: unknown, message: string) => warnings.push(message) } as typeof log;
    const sweep = vi.fn().mockRejectedValueOnce(new Error("database down")).mockResolvedValue(null);
    const periodic = startPeriodicSweep({ what: "old rows", everyMs: HOUR, sweep, log: warnLog });
    await periodic.settled;
    expect(warnings).toEqual(["removing old rows failed; the next round tries again"]);

    await vi.advanceTimersByTimeAsync(HOUR);
    await periodic.stop();
    expect(sweep).toHaveBeenCalledTimes(2);
    expect(warnings).toHaveLength(1);
  });
});
