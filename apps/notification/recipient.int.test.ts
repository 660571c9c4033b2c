// A notification goes to the patient's own contact on file: a provider who treats the patient may ask for one,
// but not to an address, a number or a login of their choosing (422 naming the field, nothing written); left
// out, or repeated as on file, the recipient is the patient's. A request about no patient is refused.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { patients } from "../../db/schema.ts";
import { type CareWorld, careWorld } from "../../test/careWorld.ts";
import { decrypted, testDatabase } from "../../test/fixtures.ts";
import { stateDigest } from "../../test/platformState.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

let world: CareWorld;
let provider: Caller;
let onFile: { email: string; phone: string; userId: string | null };

beforeAll(async () => {
  world = await careWorld(db);
  provider = await caller("provider", world.own.providerUserId);
  const [patient] = await db
    .select({ email: patients.email, phone: patients.phone, userId: patients.userId })
    .from(patients)
    .where(sql`${patients.id} = ${world.own.patientId}`);
  if (!patient) throw new Error("the care world has no patient");
  onFile = patient;
});

type Channel = "email" | "sms" | "push";

async function request(channel: Channel, body: Record<string, unknown>, by: Caller = provider) {
  const correlationId = randomUUID();
  const before = await stateDigest(db);
  const response = await app.request(`/notifications/${channel}`, {
    method: "POST",
    headers: by.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
    body: JSON.stringify(body),
  });
  const payloads = (
    await db.execute<{ event_type: string; payload: string }>(
      sql`SELECT event_type, payload::text AS payload FROM outbox WHERE correlation_id = ${correlationId} ORDER BY position`,
    )
  ).rows;
  return {
    status: response.status,
    problem: (await response.json()) as { errors?: Array<{ field: string; message: string }> },
    payloads,
    unchanged: async () => expect(await stateDigest(db)).toBe(before),
  };
}

/** The recipient of the one notification request the call wrote, as its sender reads it. */
async function recipientOf(payloads: Array<{ event_type: string; payload: string }>) {
  const requested = payloads.filter((row) => row.event_type.startsWith("notification."));
  expect(requested).toHaveLength(1);
  const { data } = await decrypted(db, requested[0]?.payload);
  return "to" in data ? data.to : (data as { userId: string }).userId;
}

describe("a notification about a patient", () => {
  it.each([
    ["email", "to", "someone.else@example.org"],
    ["sms", "to", "+442071838750"],
    ["push", "userId", randomUUID()],
  ] as const)(
    "over %s to another %s than the patient's is refused, naming it, and writes nothing",
    async (channel, field, stranger) => {
      const refused = await request(channel, {
        ...requestBodies[channel](world.own.patientId),
        [field]: stranger,
      });
      expect(refused.status).toBe(422);
      expect(refused.problem.errors).toEqual([{ field: `body.${field}`, message: expect.any(String) }]);
      expect(JSON.stringify(refused.problem)).not.toContain(onFile.email);
      expect(refused.payloads).toEqual([]);
      await refused.unchanged();
    },
  );

  it.each(["email", "sms", "push"] as const)(
    "over %s goes to the patient's contact on file when the body names none",
    async (channel) => {
      const accepted = await request(channel, requestBodies[channel](world.own.patientId));
      expect(accepted.status).toBe(202);
      const expected = { email: onFile.email, sms: onFile.phone, push: onFile.userId }[channel];
      expect(await recipientOf(accepted.payloads)).toBe(expected);
    },
  );

  it("names the patient's own address in another case: accepted, sent to the address on file", async () => {
    const accepted = await request("email", {
      ...requestBodies.email(world.own.patientId),
      to: onFile.email.toUpperCase(),
    });
    expect(accepted.status).toBe(202);
    expect(await recipientOf(accepted.payloads)).toBe(onFile.email);
  });

  it("without a patient is refused, naming body.patientId, even for an admin", async () => {
    const admin = await caller("admin");
    const { patientId: _, ...body } = requestBodies.email(world.own.patientId);
    const refused = await request("email", { ...body, to: "staff@example.org" }, admin);
    expect(refused.status).toBe(400);
    expect(refused.problem.errors?.map((error) => error.field)).toEqual(["body.patientId"]);
    expect(refused.payloads).toEqual([]);
  });

  it.each([
    ["a template this version does not render", { template: "newsletter" }, ["body.template"]],
    ["a variable left out", { template: "welcome", variables: {} }, ["body.variables.firstName"]],
    [
      "a variable of the wrong kind, and one the template does not have",
      {
        template: "appointment-reminder",
        variables: { firstName: "Ada", scheduledAt: "soon", hoursBefore: "24", telehealth: true },
      },
      ["body.variables.hoursBefore", "body.variables.telehealth"],
    ],
  ])("by e-mail with %s is refused, naming it, and writes nothing", async (_, change, fields) => {
    const refused = await request("email", { ...requestBodies.email(world.own.patientId), ...change });
    expect(refused.status).toBe(400);
    expect(refused.problem.errors?.map((error) => error.field).sort()).toEqual(fields);
    expect(refused.payloads).toEqual([]);
    await refused.unchanged();
  });

  it("by push to a patient with no login is refused, naming body.patientId", async () => {
    const admin = await caller("admin");
    await db.update(patients).set({ userId: null }).where(sql`${patients.id} = ${world.other.patientId}`);
    const refused = await request("push", requestBodies.push(world.other.patientId), admin);
    expect(refused.status).toBe(422);
    expect(refused.problem.errors?.map((error) => error.field)).toEqual(["body.patientId"]);
    expect(refused.payloads).toEqual([]);
  });
});
