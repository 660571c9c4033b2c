// A client that closes its connection before its body is whole (a Content-Length it does not send, a chunked
// body without its last chunk) caused nothing on the platform's side: before, reading the body failed with the
// connection's ECONNRESET, which the frame took for Postgres gone, logging "the database cannot be reached"
// and a 503 per hang-up, at error level. It is a 400 naming the body, logged as any refused request, and
// nothing is written.
import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../observability/logger.ts";
import { serveHttp } from "../../process/httpServer.ts";
import { eventually, newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { eventsOf, stateDigest } from "../../test/platformState.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const logLines: string[] = [];
const log = createLogger({ level: "debug", destination: { write: (line: string) => logLines.push(line) } });
let server: Server;
let port: number;

beforeAll(async () => {
  // The server every process serves on (process/httpServer.ts).
  await new Promise<void>((resolve) => {
    server = serveHttp(testPlatform(db, { log }), { port: 0, hostname: "127.0.0.1", log }, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server?.close();
  await db.$client.end();
});

/** Sends `head` and the start of a body, then closes the connection: a reset, or a half-close (FIN). */
function cutOff(head: string, start: string, close: "reset" | "half-close"): Socket {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => {});
  socket.write(`${head}\r\n${start}`, () => {
    // Long enough for the server to have begun reading the body.
    setTimeout(() => (close === "reset" ? socket.resetAndDestroy() : socket.end()), 100);
  });
  return socket;
}

const logOf = (correlationId: string) =>
  logLines.map((line) => JSON.parse(line)).filter((entry) => entry.correlationId === correlationId);

describe("a request body the client stops sending", () => {
  const framings = {
    "Content-Length": "Content-Length: 4096\r\n",
    chunked: "Transfer-Encoding: chunked\r\n",
  };
  for (const [framing, header] of Object.entries(framings)) {
    for (const close of ["reset", "half-close"] as const) {
      it(`(${framing}, connection ${close}) is a 400 about the body, not a database outage, and writes nothing`, async () => {
        const admin = await caller("admin");
        const correlationId = randomUUID();
        const before = await stateDigest(db);
        const body = JSON.stringify(newPatientBody()).slice(0, 40);
        const start = framing === "chunked" ? `${body.length.toString(16)}\r\n${body}\r\n` : body;
        const head =
          `POST /patients HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${admin.token}\r\n` +
          `Content-Type: application/json\r\nX-Correlation-Id: ${correlationId}\r\n${header}`;
        const socket = cutOff(head, start, close);

        const [entry] = await eventually(
          async () => logOf(correlationId).length > 0 && logOf(correlationId),
          5_000,
        );
        socket.destroy();
        expect(entry).toMatchObject({ msg: "request", method: "POST", status: 400, level: 30 });
        expect(logLines.join("\n")).not.toContain("the database cannot be reached");
        expect(await stateDigest(db)).toBe(before);
        expect(await eventsOf(db, correlationId)).toEqual([]);
      });
    }
  }
});

describe("a request body the client sends too slowly", () => {
  it("is a 408 problem once the request's time is up, its connection closed, and nothing is written", async () => {
    // A server with a limit of a second (30 s in the processes: REQUEST_TIMEOUT_MS), the one every process runs.
    const slow = await new Promise<Server>((resolve) => {
      const started = serveHttp(
        testPlatform(db, { log }),
        { port: 0, hostname: "127.0.0.1", log, requestTimeoutMs: 1_000 },
        () => resolve(started),
      );
    });
    try {
      const admin = await caller("admin");
      const correlationId = randomUUID();
      const before = await stateDigest(db);
      const socket = connect((slow.address() as AddressInfo).port, "127.0.0.1");
      let answer = "";
      socket.on("data", (chunk) => {
        answer += chunk.toString();
      });
      const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
      socket.write(
        `POST /patients HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${admin.token}\r\n` +
          `Content-Type: application/json\r\nX-Correlation-Id: ${correlationId}\r\nContent-Length: 4096\r\n\r\n` +
          JSON.stringify(newPatientBody()).slice(0, 40),
      );
      // A byte every 200 ms: the body never arrives whole within the second.
      const drip = setInterval(() => socket.writable && socket.write(" "), 200);
      await closed;
      clearInterval(drip);

      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      const problem = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)) as {
        status: number;
        detail: string;
      };
      expect(problem).toMatchObject({ status: 408 });
      expect(problem.detail).toContain("1000 ms");
      expect(await stateDigest(db)).toBe(before);
      expect(await eventsOf(db, correlationId)).toEqual([]);
    } finally {
      slow.close();
    }
  });
});
