// A GET that carries a body, over a real socket: Fetch gives the route none, so the server reads its size from
// the request's framing. Any body is refused (the operation takes none), and one over the limit is the 413 the
// document promises on every operation, whether its size is announced (Content-Length) or only sent (chunked).
// Nothing is written either way: no read of the patient is audited.
import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../observability/logger.ts";
import { serveHttp } from "../../process/httpServer.ts";
import { newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { eventsOf, stateDigest } from "../../test/platformState.ts";
import { caller, testPlatform } from "../../test/tokens.ts";
import { MAX_BODY_BYTES } from "./service.ts";

const db = testDatabase();
const log = createLogger({ level: "silent" });
let server: Server;
let port: number;
let patientId: string;

beforeAll(async () => {
  const app = testPlatform(db, { log });
  await new Promise<void>((resolve) => {
    server = serveHttp(app, { port: 0, hostname: "127.0.0.1", log }, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const admin = await caller("admin");
  const created = await app.request("/patients", {
    method: "POST",
    headers: admin.headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(newPatientBody()),
  });
  patientId = ((await created.json()) as { id: string }).id;
});

afterAll(async () => {
  server?.close();
  await db.$client.end();
});

/** Sends `head` then `body` as raw bytes, and reads the status line of the answer. */
function statusOf(head: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    // The server may answer, and close, before the whole body is written: the write's error is expected then.
    socket.on("error", () => {});
    socket.on("data", (chunk) => {
      answer += chunk.toString("latin1");
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(answer);
      if (status) {
        socket.destroy();
        resolve(Number(status[1]));
      }
    });
    socket.on("close", () => reject(new Error(`the connection closed without an answer: ${answer}`)));
    socket.write(`${head}\r\n${body}`);
  });
}

const chunked = (body: string) => `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;

describe("a GET sent with a body, over a socket", () => {
  const over = "x".repeat(MAX_BODY_BYTES + 1);
  const cases = [
    {
      sent: "a short body with its Content-Length",
      framing: "Content-Length: 8\r\n",
      body: "12345678",
      status: 400,
    },
    {
      sent: "a short chunked body",
      framing: "Transfer-Encoding: chunked\r\n",
      body: chunked("12345678"),
      status: 400,
    },
    {
      sent: "a body one byte over the limit with its Content-Length",
      framing: `Content-Length: ${over.length}\r\n`,
      body: over,
      status: 413,
    },
    {
      sent: "a chunked body one byte over the limit",
      framing: "Transfer-Encoding: chunked\r\n",
      body: chunked(over),
      status: 413,
    },
    {
      sent: "a chunked body over the limit in many chunks",
      framing: "Transfer-Encoding: chunked\r\n",
      body: `${Array.from({ length: 70 }, () => `400\r\n${"y".repeat(1024)}\r\n`).join("")}0\r\n\r\n`,
      status: 413,
    },
  ];
  for (const { sent, framing, body, status } of cases) {
    it(`answers ${status} to ${sent}, and writes nothing`, async () => {
      const admin = await caller("admin");
      const correlationId = randomUUID();
      const before = await stateDigest(db);
      const head =
        `GET /patients/${patientId} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${admin.token}\r\n` +
        `X-Correlation-Id: ${correlationId}\r\n${framing}`;
      expect(await statusOf(head, body)).toBe(status);
      expect(await stateDigest(db)).toBe(before);
      expect(await eventsOf(db, correlationId)).toEqual([]);
    });
  }

  it("still answers a GET without a body, chunked framing with no chunk included", async () => {
    const admin = await caller("admin");
    const head = `GET /patients/${patientId} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${admin.token}\r\n`;
    expect(await statusOf(head, "")).toBe(200);
    expect(await statusOf(`${head}Transfer-Encoding: chunked\r\n`, "0\r\n\r\n")).toBe(200);
  });
});
