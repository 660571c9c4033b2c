// npm start with API_PROCESSES=2: two processes, both children of the one that runs the relay and the
// consumers, answer on the one port; the API's metrics come back aggregated from any of them; a SIGTERM to
// npm start stops them all.
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { type ScriptProcess, spawnScript } from "../test/childProcess.ts";

let platform: ScriptProcess | undefined;
afterAll(() => {
  platform?.child.kill("SIGKILL");
});

const parentOf = (pid: number) =>
  Number(/PPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("npm start with API_PROCESSES=2", () => {
  it("answers from two processes on one port, and stops them all on SIGTERM", async () => {
    platform = spawnScript("scripts/start.ts", {
      // No relay: the test database's outbox belongs to the other tests' relays.
      env: { API_PROCESSES: "2", PORT: "0", RELAY_MODE: "off", LOG_LEVEL: "warn" },
    });
    const [, port] = await platform.printed(
      /platform API on http:\/\/localhost:(\d+) \(2 processes/,
      180_000,
    );
    const base = `http://localhost:${port}`;

    // Round-robin hands each new connection to the next process: a handful of requests meet both.
    const pids = new Set<number>();
    for (let request = 0; request < 20 && pids.size < 2; request++) {
      const response = await fetch(`${base}/health/live`, { headers: { connection: "close" } });
      pids.add(((await response.json()) as { pid: number }).pid);
    }
    expect(pids.size).toBe(2);
    const primary = platform.child.pid as number;
    for (const pid of pids) expect(parentOf(pid)).toBe(primary);
    expect(pids.has(primary)).toBe(false);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    const served =
      /http_request_duration_seconds_count\{method="GET",route="\/health\/live",status="200"\} (\d+)/.exec(
        metrics,
      );
    // Both processes' requests, summed: however many it took to meet both, all are counted.
    expect(Number(served?.[1])).toBeGreaterThanOrEqual(2);

    platform.child.kill("SIGTERM");
    expect(await platform.exited).toBe(0);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });
});
