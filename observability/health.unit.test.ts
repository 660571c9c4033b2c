// /health/ready is public: a burst of probes must not become a burst of dependency checks (Debezium's opens a
// Postgres and a Kafka connection each time), and an answer must not outlive its CHECK_REUSE_MS.
import { once } from "node:events";
import { type AddressInfo, createServer, type Socket, connect as tcpConnect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { CHECK_REUSE_MS, healthRoutes, type ReadinessCheck, sharedCheck } from "./health.ts";

/** A check that counts its runs, each taking `ms`, up or down as `state.up` says when it ends. */
function countedCheck(state: { up: boolean; runs: number }, ms = 50): ReadinessCheck {
  return {
    name: "dependency",
    check: async () => {
      state.runs++;
      await sleep(ms);
      if (!state.up) throw new Error("dependency down");
    },
  };
}

const probes = (app: ReturnType<typeof healthRoutes>, count: number) =>
  Promise.all(Array.from({ length: count }, async () => (await app.request("/health/ready")).status));

describe("readiness under a burst of probes", () => {
  it("runs a check once for the probes that come while it runs", async () => {
    const state = { up: true, runs: 0 };
    const app = healthRoutes([countedCheck(state)]);
    expect(await probes(app, 200)).toEqual(Array(200).fill(200));
    expect(state.runs).toBe(1);
  });

  it("gives a settled answer again to whoever asks within CHECK_REUSE_MS", async () => {
    const state = { up: true, runs: 0 };
    const shared = sharedCheck(countedCheck(state));
    const answer = shared.check();
    await answer;
    expect(shared.check()).toBe(answer);
    expect(state.runs).toBe(1);
  });

  it("shares a failure too, and asks again once its answer is older than CHECK_REUSE_MS", async () => {
    const state = { up: false, runs: 0 };
    const app = healthRoutes([countedCheck(state)]);
    expect(await probes(app, 100)).toEqual(Array(100).fill(503));
    expect(state.runs).toBe(1);

    state.up = true;
    await sleep(CHECK_REUSE_MS + 100);
    expect(await probes(app, 100)).toEqual(Array(100).fill(200));
    expect(state.runs).toBe(2);
  });

  it("answers a check that throws before it awaits anything as down", async () => {
    const throwing: ReadinessCheck = {
      name: "broken",
      check: () => {
        throw new Error("cannot even start");
      },
    };
    const response = await healthRoutes([throwing]).request("/health/ready");
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: "unavailable", checks: { broken: { status: "down" } } });
  });

  it("keeps each check's answer apart", async () => {
    const up = { up: true, runs: 0 };
    const down = { up: false, runs: 0 };
    const app = healthRoutes([countedCheck(up), { ...countedCheck(down), name: "other" }]);
    const response = await app.request("/health/ready");
    expect(await response.json()).toEqual({
      status: "unavailable",
      checks: { dependency: { status: "up" }, other: { status: "down" } },
    });
    expect([up.runs, down.runs]).toEqual([1, 1]);
  });
});

describe("a check's timeout", () => {
  it("counts an answer that came in time and waited while the event loop was held up", async () => {
    // A dependency that answers at once; then, before the probe has read the answer, the loop is held (a burst
    // of requests would) past the check's 2 s timeout.
    const server = createServer((socket) => {
      socket.write("pong");
      const heldUntil = Date.now() + 2_300;
      while (Date.now() < heldUntil) {}
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    const sockets: Socket[] = [];
    const pinged: ReadinessCheck = {
      name: "dependency",
      check: async () => {
        const socket = tcpConnect(port, "127.0.0.1");
        sockets.push(socket);
        await once(socket, "data");
      },
    };
    try {
      const response = await healthRoutes([pinged]).request("/health/ready");
      expect(response.status).toBe(200);
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });
});
