// A login holds one live patient record, so that a patient's token names one patient: a second registration,
// however it races the first, and a change of userId onto a login that has a record are 409s that write nothing.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { eventsOf } from "../../test/platformState.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

function send(who: Caller, method: string, path: string, body: unknown, correlationId = randomUUID()) {
  return app.request(path, {
    method,
    headers: who.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
    body: JSON.stringify(body),
  });
}

async function liveRecordsOf(login: string): Promise<string[]> {
  const { rows } = await db.$client.query<{ id: string }>(
    "SELECT id FROM patients WHERE user_id = $1 AND deleted_at IS NULL",
    [login],
  );
  return rows.map((row) => row.id);
}

describe("one live patient record per login", () => {
  it("lets one of six racing self-registrations through; the others are 409s that write nothing", async () => {
    const patient = await caller("patient");
    const correlationIds = Array.from({ length: 6 }, () => randomUUID());
    const responses = await Promise.all(
      correlationIds.map((correlationId) =>
        send(patient, "POST", "/patients", newPatientBody(), correlationId),
      ),
    );
    expect(responses.map((response) => response.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    const [winner] = await liveRecordsOf(patient.userId);
    expect(await liveRecordsOf(patient.userId)).toHaveLength(1);
    for (const [index, response] of responses.entries()) {
      const events = await eventsOf(db, correlationIds[index] as string);
      if (response.status === 201) {
        expect(((await response.json()) as { id: string }).id).toBe(winner);
        expect(events.map((event) => event.type)).toEqual(["patient.created", "audit.data.modified"]);
      } else {
        expect(await response.json()).toMatchObject({
          status: 409,
          detail: "That login (userId) has a patient record already.",
        });
        expect(events).toEqual([]);
      }
    }
  });

  it("refuses an admin's record for a login that has one, and a change of userId onto it", async () => {
    const admin = await caller("admin");
    const login = randomUUID();
    const created = await send(admin, "POST", "/patients", newPatientBody({ userId: login }));
    expect(created.status).toBe(201);
    const second = randomUUID();
    expect((await send(admin, "POST", "/patients", newPatientBody({ userId: login }), second)).status).toBe(
      409,
    );
    expect(await eventsOf(db, second)).toEqual([]);

    const other = (await (
      await send(admin, "POST", "/patients", newPatientBody({ userId: null }))
    ).json()) as {
      id: string;
    };
    const moved = randomUUID();
    const move = await send(
      admin,
      "PATCH",
      `/patients/${other.id}`,
      { userId: login, phone: "+14155550100" },
      moved,
    );
    expect(move.status).toBe(409);
    expect(await eventsOf(db, moved)).toEqual([]);
    const { rows } = await db.$client.query("SELECT user_id, phone FROM patients WHERE id = $1", [other.id]);
    expect(rows[0]).toMatchObject({ user_id: null });
    expect(rows[0].phone).not.toBe("+14155550100");
    expect(await liveRecordsOf(login)).toHaveLength(1);
  });

  it("leaves records without a login alone, and lets a login register again once its record is deleted", async () => {
    const admin = await caller("admin");
    for (const _ of [1, 2]) {
      expect((await send(admin, "POST", "/patients", newPatientBody({ userId: null }))).status).toBe(201);
    }
    const patient = await caller("patient");
    const first = (await (await send(patient, "POST", "/patients", newPatientBody())).json()) as {
      id: string;
    };
    const deleted = await app.request(`/patients/${first.id}`, {
      method: "DELETE",
      headers: admin.headers(),
    });
    expect(deleted.status).toBe(204);
    const again = await send(patient, "POST", "/patients", newPatientBody());
    expect(again.status).toBe(201);
    expect(await liveRecordsOf(patient.userId)).toEqual([((await again.json()) as { id: string }).id]);
  });
});
