// Ids are canonical at the boundary: a client that writes UUIDs in upper case (Swift's `uuidString`, many
// .NET clients) in paths, bodies, queries, the correlation header or its token's subject reaches the same
// records, and everything written holds the lower-case spelling: rows, record keys, chains, sealed data.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { careWorld } from "../test/careWorld.ts";
import { eventually, openedUnlessErased, testDatabase } from "../test/fixtures.ts";
import { loginOf } from "../test/platformState.ts";
import { requestBodies } from "../test/serviceRequests.ts";
import { roles, serviceRoutes } from "../test/serviceRoutes.ts";
import { caller, testPlatform } from "../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const UUIDS = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const upperIds = (text: string) => text.replace(UUIDS, (id) => id.toUpperCase());
const WHOLE_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Every string in `value` that is a UUID, wherever it sits; a model's version is a label, not an id. */
function uuidsIn(value: unknown): string[] {
  if (typeof value === "string") return WHOLE_UUID.test(value) ? [value] : [];
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([name, inner]) => (/version$/i.test(name) ? [] : uuidsIn(inner)));
}

type StoredEvent = {
  event_type: string;
  message_key: string;
  aggregate_id: string;
  patient_id: string | null;
  aggregate_version: string | null;
  payload: string;
};

const storedEvents = async (correlationId: string) =>
  (
    await db.execute<StoredEvent>(sql`
      SELECT event_type, message_key, aggregate_id, patient_id::text, aggregate_version::text,
             payload::text AS payload
        FROM outbox WHERE correlation_id = ${correlationId} ORDER BY position`)
  ).rows;

/** What a request wrote, with its data opened: every id in it must be in lower case. */
async function idsWritten(correlationId: string) {
  const events = await storedEvents(correlationId);
  const ids: string[] = [];
  for (const event of events) {
    const envelope = await openedUnlessErased(db, event.payload);
    ids.push(event.message_key, event.aggregate_id, ...uuidsIn(envelope));
    if (event.patient_id) ids.push(event.patient_id);
  }
  return { events, ids };
}

describe("every route, called with every id in upper case", () => {
  for (const routeCase of serviceRoutes) {
    it(`${routeCase.method} ${routeCase.route} answers as with lower-case ids and writes only lower-case ids`, async () => {
      const world = await careWorld(db);
      const role = roles.find((candidate) => routeCase.expected[candidate].own !== 403);
      if (!role) throw new Error(`no role may call ${routeCase.route}`);
      const user = await caller(role, loginOf(role, world, routeCase).toUpperCase());
      const { path, body } = routeCase.request(world, "own");
      const correlationId = randomUUID();
      const response = await app.request(upperIds(path), {
        method: routeCase.method,
        headers: user.headers({
          "Content-Type": "application/json",
          "X-Correlation-Id": correlationId.toUpperCase(),
        }),
        ...(body === undefined ? {} : { body: upperIds(JSON.stringify(body)) }),
      });
      expect(response.status, await response.clone().text()).toBe(routeCase.expected[role].own);
      expect(response.headers.get("x-correlation-id")).toBe(correlationId);

      const { events, ids } = await idsWritten(correlationId);
      if (!routeCase.unaudited) expect(events.length).toBeGreaterThan(0);
      expect(ids.filter((id) => id !== id.toLowerCase())).toEqual([]);
      // The world's own patient is the one written about, not a second spelling of them (a registration
      // is about the patient it creates).
      if (routeCase.route !== "/patients") {
        for (const { patient_id } of events) expect([null, world.own.patientId]).toContain(patient_id);
      }
    });
  }
});

describe("one patient, one identity", () => {
  it("PATCH /patients/{ID in upper case} continues the patient's own chain under its lower-case key", async () => {
    const admin = await caller("admin");
    const created = await app.request("/patients", {
      method: "POST",
      headers: admin.headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(requestBodies.patient()),
    });
    const { id } = (await created.json()) as { id: string };
    const correlationId = randomUUID();
    const patched = await app.request(`/patients/${id.toUpperCase()}`, {
      method: "PATCH",
      headers: admin.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
      body: JSON.stringify({ phone: "+442071838750" }),
    });
    expect(patched.status).toBe(200);
    expect(((await patched.json()) as { id: string }).id).toBe(id);

    const chain = (
      await db.execute<{ event_type: string; message_key: string; aggregate_version: string }>(sql`
        SELECT event_type, message_key, aggregate_version::text FROM outbox
         WHERE aggregate_type = 'patient' AND aggregate_id IN (${id}, ${id.toUpperCase()}) ORDER BY position`)
    ).rows;
    expect(chain).toEqual([
      { event_type: "patient.created", message_key: id, aggregate_version: "1" },
      { event_type: "patient.updated", message_key: id, aggregate_version: "2" },
    ]);
    const [updated] = await storedEvents(correlationId).then((rows) =>
      rows.filter((row) => row.event_type === "patient.updated"),
    );
    const stored = JSON.parse(updated?.payload ?? "{}").data;
    expect(stored.patientId).toBe(id);
    expect(stored.changes.phone).toMatch(/^enc:v1:/);
    const keys = await db.execute(sql`SELECT patient_id::text FROM patient_keys WHERE patient_id = ${id}`);
    expect(keys.rows).toEqual([{ patient_id: id }]);
  });

  it("the auditor's filters given in upper case find the events stored in lower case", async () => {
    const world = await careWorld(db);
    const patient = await caller("patient", world.own.patientUserId);
    const correlationId = randomUUID();
    const read = await app.request(`/patients/${world.own.patientId}`, {
      headers: patient.headers({ "X-Correlation-Id": correlationId }),
    });
    expect(read.status).toBe(200);
    const auditor = await caller("auditor");
    const query = new URLSearchParams({
      patientId: world.own.patientId.toUpperCase(),
      userId: world.own.patientUserId.toUpperCase(),
      correlationId: correlationId.toUpperCase(),
      aggregateType: "actor",
      aggregateId: world.own.patientUserId.toUpperCase(),
    });
    // The history shows a transaction once every older one has ended: wait for the read's to be shown.
    const events = await eventually(async () => {
      const found = await app.request(`/audit/events?${query}`, { headers: auditor.headers() });
      expect(found.status).toBe(200);
      const page = (await found.json()) as { events: Array<{ eventType: string }> };
      return page.events.length > 0 && page.events;
    });
    expect(events.map((event) => event.eventType)).toEqual(["audit.data.accessed"]);
  });
});
