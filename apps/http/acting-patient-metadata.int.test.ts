// Where a patient wrote from and on what device (metadata.ipAddress, metadata.userAgent) is their personal data
// (the device is what a request made in-process shows: it has no client address).
// Sealed under their key in the events about their own record, it goes with their erasure; an event of their
// request about nobody (a refused call to a staff route) or about another patient (a refused read of another's
// record: sealed under the other's key, it outlived the acting patient's erasure) leaves it out. A provider's or
// an admin's request keeps it as before: in events about a patient sealed under that patient's key, else plain.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const DEVICE = "ProbeBrowser/1.0 (Ada's iPhone)";

interface Sent {
  status: number;
  /** The metadata of every event the request wrote, by event type. */
  metadata: Array<{ eventType: string; patientId: string | null; userAgent: unknown }>;
}

async function send(who: Caller, method: string, path: string, body?: unknown): Promise<Sent> {
  const correlationId = randomUUID();
  const response = await app.request(path, {
    method,
    headers: who.headers({
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      "User-Agent": DEVICE,
      "X-Correlation-Id": correlationId,
    }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const { rows } = await db.$client.query<Sent["metadata"][number]>(
    `SELECT event_type AS "eventType", patient_id::text AS "patientId",
            payload -> 'metadata' -> 'userAgent' AS "userAgent"
       FROM outbox WHERE correlation_id = $1 ORDER BY position`,
    [correlationId],
  );
  return { status: response.status, metadata: rows };
}

const SEALED = expect.stringMatching(/^enc:/);

describe("a patient's IP address and device in the events of their requests", () => {
  it("are sealed in events about their own record, and left out of those about nobody or another patient", async () => {
    const patient = await caller("patient");
    const registered = await send(patient, "POST", "/patients", newPatientBody());
    expect(registered.status).toBe(201);
    const own = registered.metadata.find((row) => row.eventType === "patient.created");
    expect(own).toMatchObject({ userAgent: SEALED });
    const ownId = own?.patientId as string;
    expect((await send(patient, "GET", `/patients/${ownId}`)).metadata).toEqual([
      expect.objectContaining({ eventType: "audit.data.accessed", patientId: ownId, userAgent: SEALED }),
    ]);

    const aboutNobody = await send(patient, "GET", "/audit/events?limit=1");
    expect(aboutNobody.status).toBe(403);
    expect(aboutNobody.metadata).toEqual([
      { eventType: "audit.compliance.violation", patientId: null, userAgent: null },
    ]);

    const other = await send(await caller("admin"), "POST", "/patients", newPatientBody());
    const otherId = other.metadata.find((row) => row.eventType === "patient.created")?.patientId as string;
    const aboutAnother = await send(patient, "GET", `/patients/${otherId}`);
    expect(aboutAnother.status).toBe(403);
    expect(aboutAnother.metadata).toEqual([
      { eventType: "audit.compliance.violation", patientId: otherId, userAgent: null },
    ]);
  });

  it("are kept for staff as before: sealed under the patient's key in events about one, plain otherwise", async () => {
    const admin = await caller("admin");
    const created = await send(admin, "POST", "/patients", newPatientBody());
    expect(created.metadata.find((row) => row.eventType === "patient.created")).toMatchObject({
      userAgent: SEALED,
    });
    const provider = await caller("provider");
    const refused = await send(provider, "GET", "/audit/events?limit=1");
    expect(refused.status).toBe(403);
    expect(refused.metadata).toEqual([expect.objectContaining({ patientId: null, userAgent: DEVICE })]);
  });
});
