// When Postgres cannot be reached, a request is refused with the 503 the document declares for every
// operation, a Retry-After and a problem body: the platform's fault is said to be temporary, never a 500.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPlatformOutage } from "../../consumers/runtime/deadLetterPolicy.ts";
import { createDatabase } from "../../db/client.ts";
import { newPatientBody } from "../../test/fixtures.ts";
import { onTestServer, ownDatabase } from "../../test/ownDatabase.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

// Port 1 on the loopback: nothing listens, so every connection is refused at once.
const unreachable = createDatabase("postgres://postgres@127.0.0.1:1/nowhere", {
  max: 1,
  applicationName: "tests",
});
const app = testPlatform(unreachable);
afterAll(() => unreachable.$client.end());

describe("a request while the database cannot be reached", () => {
  it.each([
    ["GET", "/patients/3b241101-e2bb-4255-8caf-4136c566a962", undefined],
    ["POST", "/patients", newPatientBody()],
  ])("%s %s answers the declared 503 with Retry-After", async (method, path, body) => {
    const admin = await caller("admin");
    const response = await app.request(path, {
      method,
      headers: admin.headers(body ? { "Content-Type": "application/json" } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    expect(response.status).toBe(503);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await response.json()).toMatchObject({ status: 503, title: "Service Unavailable" });

    const document = (await (await app.request("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, { headers?: object }> }>>;
    };
    const route = path.startsWith("/patients/") ? "/patients/{id}" : path;
    const declared = document.paths[route]?.[method.toLowerCase()]?.responses["503"];
    expect(declared?.headers).toHaveProperty("Retry-After");
  });
});

describe("a request while its database is closed to new connections (ALLOW_CONNECTIONS false)", () => {
  const closed = ownDatabase("closed_to_connections");
  beforeAll(async () => {
    await closed.setUp();
    await onTestServer(`ALTER DATABASE ${closed.name} ALLOW_CONNECTIONS false`);
  });
  afterAll(() => closed.tearDown());

  it("answers the declared 503 with Retry-After, as for a server that cannot be reached (it was a 500)", async () => {
    const db = createDatabase(closed.url, { max: 1, applicationName: "tests" });
    try {
      const admin = await caller("admin");
      const response = await testPlatform(db).request("/patients", {
        method: "POST",
        headers: admin.headers({ "Content-Type": "application/json" }),
        body: JSON.stringify(newPatientBody()),
      });
      expect(response.status).toBe(503);
      expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    } finally {
      await db.$client.end();
    }
  });

  it("is an outage to the consumers, which wait it out rather than dead-letter the record they were applying", async () => {
    const client = new pg.Client({ connectionString: closed.url });
    const refused = await client.connect().then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({ code: "55000" });
    expect(isPlatformOutage(new Error("the handler failed", { cause: refused }))).toBe(true);
  });
});

describe("a request whose work the database ends: a timeout an operator set", () => {
  const timed = ownDatabase("work_ended");
  let patientId: string;
  beforeAll(async () => {
    await timed.setUp();
    const admin = await caller("admin");
    const created = await testPlatform(timed.db).request("/patients", {
      method: "POST",
      headers: admin.headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(newPatientBody()),
    });
    patientId = ((await created.json()) as { id: string }).id;
  });
  afterAll(() => timed.tearDown());

  // Each setting holds for the sessions that start after it: the service's pool is made after.
  it.each([
    ["lock_timeout", "55P03"],
    ["statement_timeout", "57014"],
  ])(
    "answers 503 with Retry-After when %s ends a write (SQLSTATE %s; it was a 500), writing nothing",
    async (setting) => {
      await onTestServer(`ALTER DATABASE ${timed.name} SET ${setting} = '300ms'`);
      const db = createDatabase(timed.url, { max: 2, applicationName: "tests" });
      // Another session holds the patient's row: the PATCH waits for it until the setting ends its statement.
      const holder = new pg.Client({ connectionString: timed.url });
      await holder.connect();
      try {
        await holder.query("BEGIN");
        await holder.query("SELECT FROM patients WHERE id = $1 FOR UPDATE", [patientId]);
        const outboxBefore = await outboxRows(timed.db);
        const admin = await caller("admin");
        const response = await testPlatform(db).request(`/patients/${patientId}`, {
          method: "PATCH",
          headers: admin.headers({ "Content-Type": "application/json" }),
          body: JSON.stringify({ firstName: "Ended" }),
        });
        expect(response.status).toBe(503);
        expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
        expect(await response.json()).toMatchObject({ status: 503, title: "Service Unavailable" });
        await holder.query("ROLLBACK");
        expect(await outboxRows(timed.db)).toBe(outboxBefore);
        const { rows } = await timed.db.$client.query("SELECT first_name FROM patients WHERE id = $1", [
          patientId,
        ]);
        expect(rows[0]?.first_name).not.toBe("Ended");
      } finally {
        await holder.end();
        await db.$client.end();
        await onTestServer(`ALTER DATABASE ${timed.name} RESET ${setting}`);
      }
    },
  );
});

async function outboxRows(db: ReturnType<typeof createDatabase>): Promise<number> {
  const { rows } = await db.$client.query<{ count: number }>("SELECT count(*)::int AS count FROM outbox");
  return rows[0]?.count as number;
}
