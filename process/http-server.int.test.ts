// What Node's HTTP parser refuses before the app sees a request is answered as the app answers every refusal:
// an RFC 9457 problem with an X-Correlation-Id, never a bare "400 Bad Request" with no body. And bytes after a
// whole request that are no request of their own do not take that request's answer away: before, Node answered
// them with a bare 400 and closed the connection while the request before them was still being handled, so the
// client read a refusal of a POST /patients that had created the patient and written its events (its retry
// created a second one).
import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../observability/logger.ts";
import { newPatientBody, testDatabase } from "../test/fixtures.ts";
import { eventsOf, stateDigest } from "../test/platformState.ts";
import { caller, testPlatform } from "../test/tokens.ts";
import { serveHttp } from "./httpServer.ts";

const db = testDatabase();
const logLines: string[] = [];
const log = createLogger({ level: "debug", destination: { write: (line: string) => logLines.push(line) } });
let server: Server;
let port: number;

beforeAll(async () => {
  server = await new Promise<Server>((resolve) => {
    const started = serveHttp(testPlatform(db, { log }), { port: 0, hostname: "127.0.0.1", log }, () =>
      resolve(started),
    );
  });
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server?.close();
  await db.$client.end();
});

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes `bytes` on a new connection and reads every answer until the server closes it. */
function exchange(bytes: string): Promise<Answer[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => resolve(answersIn(Buffer.concat(chunks).toString("latin1"))));
    socket.write(bytes, "latin1");
    // Whatever the server does not close within this is not waited for.
    setTimeout(() => socket.end(), 3_000).unref();
  });
}

/** The HTTP/1.1 answers in `text`, one after another (Content-Length or chunked bodies). */
function answersIn(text: string): Answer[] {
  const answers: Answer[] = [];
  let rest = text;
  while (rest.length > 0) {
    const headEnd = rest.indexOf("\r\n\r\n");
    if (headEnd < 0) throw new Error(`not an HTTP answer: ${JSON.stringify(rest.slice(0, 200))}`);
    const [statusLine = "", ...lines] = rest.slice(0, headEnd).split("\r\n");
    const headers = Object.fromEntries(
      lines.map((line) => {
        const colon = line.indexOf(":");
        return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
      }),
    );
    rest = rest.slice(headEnd + 4);
    let body = "";
    if (headers["transfer-encoding"] === "chunked") {
      for (;;) {
        const sizeEnd = rest.indexOf("\r\n");
        const size = Number.parseInt(rest.slice(0, sizeEnd), 16);
        body += rest.slice(sizeEnd + 2, sizeEnd + 2 + size);
        rest = rest.slice(sizeEnd + 2 + size + 2);
        if (size === 0) break;
      }
    } else {
      const length = Number(headers["content-length"] ?? 0);
      body = rest.slice(0, length);
      rest = rest.slice(length);
    }
    answers.push({ status: Number(statusLine.split(" ")[1]), headers, body });
  }
  return answers;
}

function expectProblem(answer: Answer | undefined, status: number) {
  expect(answer?.status).toBe(status);
  expect(answer?.headers["content-type"]).toBe("application/problem+json");
  expect(answer?.headers["x-correlation-id"]).toMatch(/^[0-9a-f-]{36}$/);
  // As every refusal of the app's (apps/early-refusals.int.test.ts).
  expect(answer?.headers["cache-control"]).toBe("no-store");
  expect(answer?.headers["x-content-type-options"]).toBe("nosniff");
  const problem = JSON.parse(answer?.body ?? "");
  expect(problem).toMatchObject({ type: "about:blank", status });
  expect(problem.detail).toEqual(expect.any(String));
  return problem as { detail: string; errors?: Array<{ field: string }> };
}

describe("a request followed by bytes that are no request", () => {
  it("gets its own answer, then the bytes a 400 problem; the patient is created once", async () => {
    const admin = await caller("admin");
    const correlationId = randomUUID();
    const body = JSON.stringify(newPatientBody());
    const answers = await exchange(
      `POST /patients HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${admin.token}\r\n` +
        `Content-Type: application/json\r\nX-Correlation-Id: ${correlationId}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}not a request\r\n\r\n`,
    );

    expect(answers.map((answer) => answer.status)).toEqual([201, 400]);
    expect(answers[0]?.headers["x-correlation-id"]).toBe(correlationId);
    const created = JSON.parse(answers[0]?.body ?? "") as { id: string };
    expect(answers[0]?.headers.location).toBe(`/patients/${created.id}`);
    expectProblem(answers[1], 400);
    expect((await eventsOf(db, correlationId)).map((event) => event.type)).toEqual([
      "patient.created",
      "audit.data.modified",
    ]);
  });
});

describe("a body under a transfer coding Node does not decode", () => {
  it("is a 415 problem that creates no patient: `gzip, chunked` hands on the chunks' bytes still coded", async () => {
    const admin = await caller("admin");
    const correlationId = randomUUID();
    const body = JSON.stringify(newPatientBody());
    const before = await stateDigest(db);
    const answers = await exchange(
      `POST /patients HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${admin.token}\r\n` +
        `Content-Type: application/json\r\nX-Correlation-Id: ${correlationId}\r\n` +
        "Transfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n" +
        `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    );
    expect(answers).toHaveLength(1);
    const problem = expectProblem(answers[0], 415);
    expect(problem.detail).toBe(
      "Transfer-Encoding gzip is not accepted: send the body uncompressed, chunked or with a Content-Length.",
    );
    expect(await stateDigest(db)).toBe(before);
    expect(await eventsOf(db, correlationId)).toEqual([]);
  });
});

/** A provider's body, which `/providers` would take. */
const PROVIDER = JSON.stringify({
  firstName: "Ada",
  lastName: "Lovelace",
  specialty: "cardiology",
  email: "ada.lovelace@example.org",
});

describe("what Node's parser refuses is a problem document, and changes nothing", () => {
  const cases: Array<{
    what: string;
    status: number;
    /** The part of the request the problem names, where it can be told. */
    field?: string;
    head: (token: string) => string;
    body?: string;
  }> = [
    {
      what: "headers over the size limit",
      field: "header",
      status: 431,
      head: (token) =>
        `GET /patients/${randomUUID()} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
        `X-Note: ada.lovelace@example.org ${"x".repeat(20_000)}\r\n`,
    },
    {
      what: "a request line over the size limit on its own (a long URL)",
      field: "path",
      status: 414,
      head: (token) =>
        `GET /patients/${randomUUID()}?note=${"x".repeat(20_000)} HTTP/1.1\r\nHost: localhost\r\n` +
        `Authorization: Bearer ${token}\r\n`,
    },
    {
      what: "a request line under the size limit, over it with the headers",
      field: "header",
      status: 431,
      head: (token) =>
        `GET /patients/${randomUUID()}?note=${"x".repeat(10_000)} HTTP/1.1\r\nHost: localhost\r\n` +
        `Authorization: Bearer ${token}\r\nX-Note: ${"x".repeat(10_000)}\r\n`,
    },
    {
      what: "a control character in a header value",
      field: "header",
      status: 400,
      head: (token) =>
        `GET /patients/${randomUUID()} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
        "X-Note: ada.lovelace@example.org\u0001\r\n",
    },
    {
      what: "both Content-Length and Transfer-Encoding (a smuggling attempt)",
      field: "header.transfer-encoding",
      status: 400,
      head: (token) =>
        `POST /patients HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
        "Content-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n",
      body: "0\r\n\r\n",
    },
    {
      what: "a Content-Length that is no number",
      field: "header.content-length",
      status: 400,
      head: (token) =>
        `POST /patients HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
        "Content-Type: application/json\r\nContent-Length: 1e3\r\n",
      body: "{}",
    },
    {
      what: "a chunk size that is no number, in the middle of a body",
      status: 400,
      field: "body",
      head: (token) =>
        `POST /patients HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
      body: `2\r\n{"\r\nzz\r\n${JSON.stringify(newPatientBody())}\r\n0\r\n\r\n`,
    },
    {
      what: "an Expect other than 100-continue",
      status: 417,
      field: "header.expect",
      head: (token) =>
        `POST /patients HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
        "Content-Type: application/json\r\nExpect: 200-ok\r\nContent-Length: 2\r\nConnection: close\r\n",
      body: "{}",
    },
    {
      // Node closed the connection without an answer: a client read "socket hang up".
      what: "CONNECT, a tunnel no process opens",
      field: "method",
      status: 400,
      head: () => "CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n",
    },
    {
      what: "a request line that is not HTTP",
      status: 400,
      head: () => "HELLO\r\n",
    },
    {
      what: "no Host header",
      field: "header.host",
      status: 400,
      head: (token) =>
        `GET /patients/${randomUUID()} HTTP/1.1\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n`,
    },
    {
      what: "a backslash in the path",
      field: "path",
      status: 400,
      head: (token) =>
        `GET /patients\\${randomUUID()} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
        "Connection: close\r\n",
    },
    // The URL parser removes dot segments: each of these would be served as another route than its path says (a
    // provider created through /patients/%2e%2e/providers).
    ...[
      "/patients/%2e%2e/providers",
      "/patients/%2E./providers",
      "/patients/../providers",
      `/patients/./${randomUUID()}/%2e`,
      "http://localhost/patients/.%2e/providers",
    ].map((target) => ({
      what: `a dot segment in the path (${target})`,
      field: "path",
      status: 400,
      head: (token: string) =>
        `POST ${target} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(PROVIDER)}\r\nConnection: close\r\n`,
      body: PROVIDER,
    })),
    {
      what: "a Host header that is no host",
      field: "header.host",
      status: 400,
      head: (token) =>
        `GET /patients/${randomUUID()} HTTP/1.1\r\nHost: a b@c\r\nAuthorization: Bearer ${token}\r\n` +
        "Connection: close\r\n",
    },
    // Each of the next ones the adapter built no Request of, inside the app (a 500), or served (a write too).
    ...["xn--", "1.2.3.4.5", "localhost:99999", "[::1", "user@localhost", ""].map((host) => ({
      what: `a Host header that is no URL authority (${JSON.stringify(host)})`,
      field: "header.host",
      status: 400,
      head: (token: string) =>
        `GET /patients/${randomUUID()} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\n` +
        "Connection: close\r\n",
    })),
    {
      what: "two Host headers, on a write",
      field: "header.host",
      status: 400,
      head: (token) =>
        `POST /patients HTTP/1.1\r\nHost: localhost\r\nHost: other.example\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(JSON.stringify(newPatientBody()))}\r\n` +
        "Connection: close\r\n",
      body: JSON.stringify(newPatientBody()),
    },
    {
      what: "an absolute target without a Host header, on a write",
      field: "header.host",
      status: 400,
      head: (token) =>
        `POST http://localhost/patients HTTP/1.1\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(JSON.stringify(newPatientBody()))}\r\n` +
        "Connection: close\r\n",
      body: JSON.stringify(newPatientBody()),
    },
    ...[`http://u@localhost/patients/${randomUUID()}`, `http:///localhost/patients/${randomUUID()}`].map(
      (target) => ({
        what: `an absolute target with user information or no host (${target.slice(0, 20)})`,
        field: "path",
        status: 400,
        head: (token: string) =>
          `GET ${target} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n`,
      }),
    ),
  ];
  for (const { what, status, field, head, body = "" } of cases) {
    it(`${what}: ${status}`, async () => {
      const admin = await caller("admin");
      const before = await stateDigest(db);
      const logged = logLines.length;
      const answers = await exchange(`${head(admin.token)}\r\n${body}`);
      expect(answers).toHaveLength(1);
      const problem = expectProblem(answers[0], status);
      if (field) expect(problem.errors?.map((error) => error.field)).toEqual([field]);
      expect(await stateDigest(db)).toBe(before);
      // The refused bytes (which can hold anything a client sent, a patient's address too) are never logged.
      const lines = logLines.slice(logged).join("\n");
      expect(lines).not.toContain("ada.lovelace");
      expect(lines).not.toContain(admin.token);
    });
  }
});

describe("a request that asks for an Upgrade, which no process here makes", () => {
  it("is answered, and its connection closed after it: nothing pipelined behind it is lost unanswered", async () => {
    const answers = await exchange(
      "GET /health/live HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n" +
        "GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    expect(answers.map((answer) => answer.status)).toEqual([200]);
    // Before, the connection stayed open (keep-alive) and the second request was never read nor answered.
    expect(answers[0]?.headers.connection).toBe("close");
  });
});

describe("a Host and a target as RFC 9110 writes them", () => {
  it("is served: a name, an IPv4 or IPv6 address, a port, an absolute target", async () => {
    for (const [target, host] of [
      ["/health/live", "localhost"],
      ["/health/live", "127.0.0.1:3000"],
      ["/health/live", "[::1]:3000"],
      ["http://localhost/health/live", "localhost"],
      ["https://api.example.org:8443/health/live", "api.example.org"],
    ]) {
      const answers = await exchange(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(
        answers.map((answer) => answer.status),
        `${target} with Host ${host}`,
      ).toEqual([200]);
    }
  });
});

describe("an HTTP/1.0 request, which may leave Host out (RFC 9112 §3.2 asks it of HTTP/1.1)", () => {
  it("is served without one, where an HTTP/1.1 request without one is a 400 naming it", async () => {
    const [old] = await exchange("GET /health/live HTTP/1.0\r\n\r\n");
    expect(old?.status).toBe(200);
    const [current] = await exchange("GET /health/live HTTP/1.1\r\nConnection: close\r\n\r\n");
    const problem = expectProblem(current, 400);
    expect(problem.errors?.map((error) => error.field)).toEqual(["header.host"]);
  });
});

describe("a connection that sends nothing", () => {
  it("is closed once a request would have had to arrive whole; one that has begun a request gets its 408", async () => {
    const quick = await new Promise<Server>((resolve) => {
      const started = serveHttp(
        testPlatform(db, { log }),
        { port: 0, hostname: "127.0.0.1", log, requestTimeoutMs: 1_000 },
        () => resolve(started),
      );
    });
    try {
      const quickPort = (quick.address() as AddressInfo).port;
      /** What the server answered on a new connection before closing it, or "held open" if it did not. */
      const open = (first?: string) =>
        new Promise<string>((resolve, reject) => {
          const socket = connect(quickPort, "127.0.0.1");
          let answer = "";
          let heldOpen = false;
          socket.on("data", (chunk) => {
            answer += chunk.toString();
          });
          socket.on("error", reject);
          socket.on("close", () => resolve(heldOpen ? "held open" : answer));
          if (first !== undefined) socket.write(first);
          // Before, Node held a silent connection until the client closed it.
          setTimeout(() => {
            heldOpen = true;
            socket.destroy();
          }, 15_000).unref();
        });
      const [silent, begun] = await Promise.all([open(), open("G")]);
      expect(silent).toBe("");
      expect(begun).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      quick.closeAllConnections();
      await new Promise((resolve) => quick.close(resolve));
    }
  }, 30_000);
});
