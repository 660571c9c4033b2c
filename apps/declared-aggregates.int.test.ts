// Every route that knows, before its transaction begins, the one aggregate its events chain to (the record
// its path names, or the new record whose id it makes first) declares it: its head is read with BEGIN and
// no aggregate_versions row is bumped first (db/outbox/aggregateHeads.ts). The platform here runs on a
// pool of one connection, so that connection's prepared statements are every route's: the bump must not be
// among them, and each aggregate's chain must still be whole.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { createDatabase } from "../db/client.ts";
import { careWorld } from "../test/careWorld.ts";
import { testDatabase } from "../test/fixtures.ts";
import { requestBodies } from "../test/serviceRequests.ts";
import { caller, testPlatform } from "../test/tokens.ts";

const db = testDatabase();
const single = createDatabase(db.$client.options.connectionString as string, { max: 1 });
const app = testPlatform(single);
afterAll(() => Promise.all([db.$client.end(), single.$client.end()]));

describe("the write routes", () => {
  it("declare the aggregate they append to: no bump of aggregate_versions is ever prepared", async () => {
    const world = await careWorld(db);
    const admin = await caller("admin");
    const service = await caller("service");
    const send = async (method: string, path: string, body?: unknown, by = admin) => {
      const response = await app.request(path, {
        method,
        headers: by.headers(body === undefined ? {} : { "Content-Type": "application/json" }),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      expect(response.status, `${method} ${path}: ${await response.clone().text()}`).toBeLessThan(300);
      const { rows } = await single.$client.query<{ name: string }>(
        "SELECT name FROM pg_prepared_statements WHERE statement LIKE '%aggregate_versions%' ORDER BY name",
      );
      expect(
        rows.map((row) => row.name),
        `prepared once ${method} ${path} answered`,
      ).toEqual(["outbox.insert-rows.v6"]);
      return (await response.json().catch(() => ({}))) as { id: string };
    };
    const { own } = world;

    const patient = await send("POST", "/patients", requestBodies.patient());
    await send("PATCH", `/patients/${patient.id}`, { allergies: [randomUUID()] });
    await send("PUT", `/patients/${patient.id}/consent`, { research: true });
    const appointment = await send(
      "POST",
      "/appointments",
      requestBodies.booking(own.patientId, own.providerId),
    );
    await send("POST", `/appointments/${appointment.id}/cancel`, requestBodies.cancellation());
    await send("POST", `/appointments/${own.appointmentId}/complete`);
    const document = await send("POST", "/documents", requestBodies.document(own.patientId));
    await send("POST", `/documents/${document.id}/consents`, requestBodies.consent());
    await send(
      "POST",
      `/documents/${document.id}/processing-results`,
      requestBodies.processingResult(),
      service,
    );
    await send("DELETE", `/documents/${document.id}`, { reason: "uploaded twice" });
    const model = await send("POST", "/ai/models", requestBodies.model(), service);
    await send("POST", `/ai/models/${model.id}/performance`, requestBodies.performance(), service);
    await send("POST", "/ai/predictions", requestBodies.prediction(world.modelId, own.patientId), service);
    await send("POST", "/ai/insights", requestBodies.insight(own.patientId), service);
    await send("POST", "/notifications/email", requestBodies.email(own.patientId));
    await send("POST", `/patients/${patient.id}/erasure`);

    // Each aggregate written: versions 1..n with no gap, and its head at the last one.
    const { rows: chains } = await db.$client.query<{ aggregate: string; versions: string[]; head: string }>(
      `SELECT o.aggregate_type || ' ' || o.aggregate_id AS aggregate,
              array_agg(o.aggregate_version::text ORDER BY o.tx_id, o.position) AS versions,
              max(v.version)::text AS head
         FROM outbox o JOIN aggregate_versions v USING (aggregate_type, aggregate_id)
        WHERE o.aggregate_id = ANY($1) AND o.aggregate_type <> 'actor'
        GROUP BY 1`,
      [[patient.id, appointment.id, own.appointmentId, document.id, model.id, own.patientId]],
    );
    expect(chains.length).toBe(6);
    for (const chain of chains) {
      const expected = chain.versions.map((_, index) => String(index + 1));
      expect(chain.versions, chain.aggregate).toEqual(expected);
      expect(chain.head, chain.aggregate).toBe(expected.at(-1));
    }
  });
});
