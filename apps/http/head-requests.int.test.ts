// HEAD is answered wherever GET is (RFC 9110 §9.3.2), as the OpenAPI document's description says: the GET's
// status and headers without its body. It is the same read, so it is authorized and recorded as the GET is.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../observability/logger.ts";
import { serveHttp } from "../../process/httpServer.ts";
import { newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

let patientId: string;

beforeAll(async () => {
  const admin = await caller("admin");
  const created = await app.request("/patients", {
    method: "POST",
    headers: admin.headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(newPatientBody()),
  });
  expect(created.status).toBe(201);
  patientId = ((await created.json()) as { id: string }).id;
});

/** The events of the history that record a read of the patient. */
async function readsRecorded(): Promise<number> {
  const { rows } = await db.$client.query(
    "SELECT count(*)::int AS reads FROM outbox WHERE event_type = 'audit.data.accessed' AND patient_id = $1",
    [patientId],
  );
  return rows[0].reads;
}

async function request(method: "GET" | "HEAD", path: string, role: "admin" | "patient" | null) {
  const headers = role === null ? {} : (await caller(role)).headers();
  const response = await app.request(path, { method, headers });
  return { response, body: await response.text() };
}

/** The headers two answers of the same request share: all but those that name the request itself. */
function comparable(headers: Headers): Record<string, string> {
  const kept = Object.fromEntries(headers);
  delete kept["x-correlation-id"];
  return kept;
}

describe("HEAD", () => {
  it("answers a GET route with the GET's status and headers and no body, and records the read", async () => {
    const before = await readsRecorded();
    const get = await request("GET", `/patients/${patientId}`, "admin");
    const head = await request("HEAD", `/patients/${patientId}`, "admin");
    expect(get.response.status).toBe(200);
    expect(get.body).toContain(patientId);
    expect(head.response.status).toBe(200);
    expect(head.body).toBe("");
    // In process, the GET's answer has no Content-Length yet (the HTTP server adds it as it sends the body); the
    // HEAD's has the one the GET's is sent with.
    expect(comparable(head.response.headers)).toEqual({
      ...comparable(get.response.headers),
      "content-length": String(Buffer.byteLength(get.body)),
    });
    expect(await readsRecorded()).toBe(before + 2);
  });

  it("sends, on the wire, the headers the GET is sent with, Content-Length included, on every kind of route", async () => {
    const log = createLogger({ level: "silent" });
    const server = await new Promise<Server>((resolve) => {
      const started = serveHttp(app, { port: 0, hostname: "127.0.0.1", log }, () => resolve(started));
    });
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const admin = (await caller("admin")).headers();
      for (const path of [
        `/patients/${patientId}`,
        "/health/live",
        "/openapi.json",
        "/docs",
        "/patients/nope",
      ]) {
        const [get, head] = await Promise.all(
          (["GET", "HEAD"] as const).map((method) => fetch(`${base}${path}`, { method, headers: admin })),
        );
        const getBody = await (get as Response).text();
        expect((head as Response).status, path).toBe((get as Response).status);
        expect(await (head as Response).text(), path).toBe("");
        // Node closes the connection after a HEAD whose answer names a Content-Length (its own choice).
        const sent = (response: Response) => {
          const {
            date: _,
            "x-correlation-id": __,
            connection: ___,
            "keep-alive": ____,
            ...kept
          } = Object.fromEntries(response.headers);
          return kept;
        };
        expect(sent(head as Response), path).toEqual(sent(get as Response));
        expect((head as Response).headers.get("content-length"), path).toBe(
          String(Buffer.byteLength(getBody)),
        );
      }
    } finally {
      server.close();
    }
  });

  const refusals: [string, () => string, "admin" | "patient" | null, number][] = [
    ["without a token", () => `/patients/${patientId}`, null, 401],
    ["of another patient's record", () => `/patients/${patientId}`, "patient", 403],
    [
      "of a patient that does not exist",
      () => "/patients/3f2504e0-4f89-41d3-9a0c-0305e82c3301",
      "admin",
      404,
    ],
    ["of a malformed id", () => "/patients/not-an-id", "admin", 400],
  ];
  it.each(refusals)("%s is refused as the GET is, without a body", async (_what, path, role, status) => {
    const get = await request("GET", path(), role);
    const head = await request("HEAD", path(), role);
    expect(get.response.status).toBe(status);
    expect(head.response.status).toBe(status);
    expect(head.body).toBe("");
    expect(head.response.headers.get("content-type")).toBe(get.response.headers.get("content-type"));
  });
});
