// A repeating task runs one run at a time: the ticks that find a run still going are skipped, not queued behind
// it, and stopping waits for the run going and starts no other.
import { afterEach, describe, expect, it, vi } from "vitest";
import { repeatEvery } from "./repeating.ts";

const MINUTE = 60_000;

afterEach(() => {
  vi.useRealTimers();
});

describe("a task repeated every interval", () => {
  it("skips the ticks while a run slower than the interval goes on, and stopping waits for that run alone", async () => {
    vi.useFakeTimers();
    let finish = () => {};
    const task = vi.fn(
      () =>
        new Promise<void>((resolve) => {
          finish = resolve;
        }),
    );
    const repeating = repeatEvery(MINUTE, task);
    expect(task).not.toHaveBeenCalled();

    // The first run starts at the first tick and outlasts ten more.
    await vi.advanceTimersByTimeAsync(11 * MINUTE);
    expect(task).toHaveBeenCalledTimes(1);

    // Once it ends, the next tick starts the next run: one, not the ten skipped.
    finish();
    await repeating.settled;
    await vi.advanceTimersByTimeAsync(MINUTE);
    expect(task).toHaveBeenCalledTimes(2);

    let stopped = false;
    const stopping = repeating.stop().then(() => {
      stopped = true;
    });
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    expect(stopped).toBe(false);
    finish();
    await stopping;
    expect(task).toHaveBeenCalledTimes(2);
  });

  it("runs at once when asked to run at start, then on its interval", async () => {
    vi.useFakeTimers();
    const task = vi.fn(async () => {});
    const repeating = repeatEvery(MINUTE, task, { atStart: true });
    await repeating.settled;
    expect(task).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(3 * MINUTE);
    expect(task).toHaveBeenCalledTimes(4);
    await repeating.stop();
    await vi.advanceTimersByTimeAsync(3 * MINUTE);
    expect(task).toHaveBeenCalledTimes(4);
  });
});
