// Records that exist once: a provider profile per login, a model per name and version. A second is a 409 naming
// what exists, with nothing written (the constraints' names mapped in apps/http/constraintViolation.ts). A
// model's name is compared in Unicode NFC: its NFD spelling, whichever way the first one was sent or stored, is
// the same name.
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { aiModels } from "../db/schema.ts";
import { testDatabase } from "../test/fixtures.ts";
import { eventsOf, stateDigest } from "../test/platformState.ts";
import { requestBodies } from "../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

/** What a refused request must leave as it was: the service tables, the outbox's rows and last position. */
async function writtenState(): Promise<string> {
  const outbox = await db.execute<{ rows: string; last: string | null }>(
    sql`SELECT count(*)::text AS rows, max(position)::text AS last FROM outbox`,
  );
  return JSON.stringify({ tables: await stateDigest(db), outbox: outbox.rows[0] });
}

async function send(who: Caller, method: string, path: string, body: unknown) {
  const correlationId = randomUUID();
  const response = await app.request(path, {
    method,
    headers: who.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as { id?: string; detail?: string };
  return { status: response.status, answer, events: await eventsOf(db, correlationId) };
}

describe("a record that exists once", () => {
  it("is one provider profile per login: a second, or a change of login onto it, is a 409 writing nothing", async () => {
    const admin = await caller("admin");
    const login = randomUUID();
    expect((await send(admin, "POST", "/providers", requestBodies.provider({ userId: login }))).status).toBe(
      201,
    );
    const again = await send(admin, "POST", "/providers", requestBodies.provider({ userId: login }));
    expect([again.status, again.answer.detail, again.events]).toEqual([
      409,
      "That login (userId) already has a provider profile.",
      [],
    ]);
    const other = await send(admin, "POST", "/providers", requestBodies.provider({ userId: null }));
    const moved = await send(admin, "PATCH", `/providers/${other.answer.id}`, { userId: login });
    expect([moved.status, moved.events]).toEqual([409, []]);
  });

  it("is one model per name and version: a second is a 409 writing nothing", async () => {
    const service = await caller("service");
    const model = requestBodies.model();
    expect((await send(service, "POST", "/ai/models", model)).status).toBe(201);
    const again = await send(service, "POST", "/ai/models", model);
    expect([again.status, again.answer.detail, again.events]).toEqual([
      409,
      `${model.modelName} ${model.version} is already recorded.`,
      [],
    ]);
  });

  // "Modèle Ñandú" with è, Ñ and ú precomposed (NFC), and as base letters with combining marks (NFD).
  const nfc = (tag: string) => `Mod\u00e8le \u00d1and\u00fa ${tag}`;
  const nfd = (tag: string) => nfc(tag).normalize("NFD");

  it("is one model per name however its accents are encoded: the NFD spelling of a recorded name is a 409 writing nothing", async () => {
    const service = await caller("service");
    const tag = randomUUID();
    expect(nfd(tag)).not.toBe(nfc(tag));
    const model = { ...requestBodies.model(), modelName: nfc(tag) };
    const first = await send(service, "POST", "/ai/models", model);
    expect(first.status).toBe(201);

    const before = await writtenState();
    const again = await send(service, "POST", "/ai/models", { ...model, modelName: nfd(tag) });
    expect([again.status, again.events]).toEqual([409, []]);
    expect(await writtenState()).toBe(before);
  });

  it("stores and events a name sent in NFD in NFC, so that the NFC spelling is then the duplicate", async () => {
    const service = await caller("service");
    const tag = randomUUID();
    const model = { ...requestBodies.model(), modelName: nfd(tag) };
    const first = await send(service, "POST", "/ai/models", model);
    expect(first.status).toBe(201);
    expect((first.answer as { modelName?: string }).modelName).toBe(nfc(tag));
    expect(first.events.find((event) => event.type === "ai.model.trained")?.data.modelName).toBe(nfc(tag));
    const stored = await db
      .select({ name: aiModels.name })
      .from(aiModels)
      .where(eq(aiModels.id, first.answer.id as string));
    expect(stored).toEqual([{ name: nfc(tag) }]);

    const before = await writtenState();
    const again = await send(service, "POST", "/ai/models", { ...model, modelName: nfc(tag) });
    expect([again.status, again.events]).toEqual([409, []]);
    expect(await writtenState()).toBe(before);
  });

  it("refuses the NFC spelling of a name stored in NFD before names were normalised (the index compares NFC)", async () => {
    const service = await caller("service");
    const tag = randomUUID();
    const model = requestBodies.model();
    await db.insert(aiModels).values({
      id: randomUUID(),
      name: nfd(tag),
      version: model.version,
      algorithm: model.algorithm,
      trainedAt: new Date(),
      datasetSize: model.datasetSize,
      trainingMetrics: model.metrics,
    });
    const before = await writtenState();
    const again = await send(service, "POST", "/ai/models", { ...model, modelName: nfc(tag) });
    expect([again.status, again.events]).toEqual([409, []]);
    expect(await writtenState()).toBe(before);
  });
});
