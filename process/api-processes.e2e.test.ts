// npm start with API_PROCESSES=2, compiled as npm start runs it (dist/, plain Node): two processes, both
// children of the one that runs the relay and the consumers, answer on the one port; the API's metrics come
// back aggregated from any of them; a SIGTERM to npm start stops them all. Compiled, the platform still finds
// what it reads beside its sources (the migrations, the console's files, the development keys in .data/).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { patients } from "../db/schema.ts";
import { type ScriptProcess, spawnScript } from "../test/childProcess.ts";
import { newPatientBody, testDatabase } from "../test/fixtures.ts";
import { caller, testSecret } from "../test/tokens.ts";

const projectRoot = fileURLToPath(new URL("..", import.meta.url));

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
      compiled: true,
      // No relay: the test database's outbox belongs to the other tests' relays.
      env: {
        API_PROCESSES: "2",
        PORT: "0",
        RELAY_MODE: "off",
        LOG_LEVEL: "warn",
        JWT_SECRET: new TextDecoder().decode(testSecret),
      },
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

    const served = async () =>
      Number(
        /http_request_duration_seconds_count\{method="GET",route="\/health\/live",status="200"\} (\d+)/.exec(
          await (await fetch(`${base}/metrics`)).text(),
        )?.[1],
      );
    // Both processes' requests, summed: however many it took to meet both, all are counted.
    const servedByBoth = await served();
    expect(servedByBoth).toBeGreaterThanOrEqual(2);

    // A process killed is replaced; what it had reported still counts, so the sums never go down.
    const [killed, survivor] = [...pids] as [number, number];
    process.kill(killed, "SIGKILL");
    let replacement: number | undefined;
    let answered = 0;
    while (replacement === undefined) {
      const response = await fetch(`${base}/health/live`, { headers: { connection: "close" } }).catch(
        () => null,
      );
      if (!response?.ok) {
        await setTimeout(100);
        continue;
      }
      const { pid } = (await response.json()) as { pid: number };
      // An answer the killed process gave as the signal was on its way is lost with it, uncounted.
      if (pid === killed) continue;
      answered++;
      if (pid !== survivor) replacement = pid;
    }
    expect(await served()).toBe(servedByBoth + answered);
    const serving = [survivor, replacement];

    // Plain Node, no loader: the primary and both API processes run dist/.
    for (const pid of [primary, ...serving]) {
      const commandLine = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
      expect(commandLine).toMatch(/dist\/scripts\/(start|apiProcess)\.js/);
      expect(commandLine).not.toMatch(/tsx/);
    }
    // A write, sealed with the checkout's development master key from .data/ (the one the tests use).
    const admin = await caller("admin");
    const created = await fetch(`${base}/patients`, {
      method: "POST",
      headers: admin.headers({ "content-type": "application/json" }),
      body: JSON.stringify(newPatientBody()),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const db = testDatabase();
    try {
      expect(await db.select({ id: patients.id }).from(patients).where(eq(patients.id, id))).toEqual([
        { id },
      ]);
    } finally {
      await db.$client.end();
    }
    const read = await fetch(`${base}/patients/${id}`, { headers: admin.headers() });
    expect(((await read.json()) as { id: string }).id).toBe(id);
    // The console's files, read from apps/console/assets/ in the source tree.
    const script = await fetch(`${base}/console/console.js`);
    expect(await script.text()).toBe(
      readFileSync(join(projectRoot, "apps/console/assets/console.js"), "utf8"),
    );
    expect(existsSync(join(projectRoot, "dist", ".data"))).toBe(false);

    platform.child.kill("SIGTERM");
    expect(await platform.exited).toBe(0);
    for (const pid of serving) expect(alive(pid)).toBe(false);
  });
});
