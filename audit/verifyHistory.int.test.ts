// Tampering with the history, each kind done in SQL as an administrator who bypasses the append-only
// triggers: verification finds it and names the first broken link. Each test has its own database.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { eventHash } from "../db/outbox/eventHash.ts";
import { exampleEvent } from "../events/examples.ts";
import { freshDatabases, testKey, testKeys } from "../test/auditHistories.ts";
import { patientCreated, testEventContext } from "../test/fixtures.ts";
import { type AttributedRow, historyBatch } from "./sql/historyRows.ts";
import { ATTRIBUTION_BEGAN_AT, verifyHistory } from "./verifyHistory.ts";

const databases = freshDatabases("audit");
beforeAll(databases.setUp);
afterAll(databases.tearDown);

/**
 * A history of 4 patients × 5 events plus audit events, sealed by a checkpoint, then 6 more events after it
 * (rows 24-29: versions 6-8 of the first two patients), sealed by a second checkpoint with `sealTail`.
 * Returns an administrator's connection (triggers off) to tamper with it.
 */
async function historyToTamperWith({ sealTail = false } = {}) {
  const created = await databases.create();
  const { db } = created;
  const patientIds = Array.from({ length: 4 }, () => randomUUID());
  const append = (events: Parameters<typeof appendEvents>[2]) =>
    writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), events));
  for (const patientId of patientIds) await append([patientCreated(patientId)]);
  for (let round = 1; round <= 4; round++) {
    for (const patientId of patientIds) {
      await append([
        {
          type: "patient.updated",
          data: { patientId, changedFields: ["allergies"], changes: { allergies: [`allergy-${round}`] } },
        },
      ]);
    }
    await append([exampleEvent("audit.data.accessed")]);
  }
  // One checkpoint over all of it, never one cut short by another file's transaction still open.
  await created.seal(testKey);
  const admin = await db.$client.connect();
  for (const patientId of patientIds.slice(0, 2)) {
    for (let round = 5; round <= 7; round++) {
      await append([
        {
          type: "patient.updated",
          data: { patientId, changedFields: ["allergies"], changes: { allergies: [`allergy-${round}`] } },
        },
      ]);
    }
  }
  if (sealTail) await created.seal(testKey);
  await admin.query("SET session_replication_role = replica");
  const rows = await historyBatch(admin, { txId: "0", position: "0" }, 1_000);
  return {
    admin,
    rows,
    verify: () => verifyHistory(admin, testKeys),
    close: async () => {
      admin.release();
      await db.$client.end();
    },
  };
}

/**
 * Inserts a forged row whose own hash is right, in the transaction given (a new one by default), with its version
 * as the database is to hold it when that differs from the number the hash covers.
 */
async function insertForged(
  admin: pg.ClientBase,
  forged: AttributedRow,
  { txId, storedVersion }: { txId?: string; storedVersion?: string } = {},
) {
  await admin.query(
    `INSERT INTO outbox (tx_id, event_id, event_type, aggregate_type, aggregate_id, aggregate_version, topic,
                         message_key, payload, correlation_id, traceparent, created_at, previous_hash, hash, patient_id)
     VALUES (coalesce($1::xid8, pg_current_xact_id()), $2, $3, $4, $5, $6::bigint, $7, $8, $9::json, $10, $11, $12,
             $13, $14, $15)`,
    [
      txId ?? null,
      forged.eventId,
      forged.eventType,
      forged.aggregateType,
      forged.aggregateId,
      storedVersion ?? forged.aggregateVersion,
      forged.topic,
      forged.messageKey,
      forged.payload,
      forged.correlationId,
      forged.traceparent,
      forged.createdAt,
      forged.previousHash,
      eventHash(forged.previousHash, forged),
      forged.patientId,
    ],
  );
}

/** Expects the history's first broken link to be this row, for this reason; then closes the history. */
async function expectBrokenAt(
  history: Awaited<ReturnType<typeof historyToTamperWith>>,
  row: AttributedRow | undefined,
  problem: RegExp,
) {
  expect(await history.verify()).toMatchObject({
    intact: false,
    brokenLink: { position: row?.position, eventId: row?.eventId, problem: expect.stringMatching(problem) },
  });
  await history.close();
}

describe("audit verification", () => {
  it("reports an untouched history intact, with its rows, chains and checkpoints", async () => {
    const history = await historyToTamperWith();
    const report = await history.verify();
    expect(report).toEqual({
      intact: true,
      range: {
        afterCheckpoint: 0,
        afterPosition: null,
        rowsBefore: 0,
        archivedRows: 0,
        throughPosition: null,
      },
      rows: 30,
      checkpoints: 1,
      chainedAggregates: 4,
      linksToEarlierRows: 0,
      linksToArchivedRows: 0,
      upToPosition: history.rows.at(-1)?.position,
      lastCheckpoint: expect.objectContaining({ sequence: 1 }),
    });
    await history.close();
  });

  it("finds a changed payload and names that row", async () => {
    const history = await historyToTamperWith();
    const victim = history.rows[6];
    await history.admin.query(
      `UPDATE outbox SET payload = replace(payload::text, '"source":"', '"source":"x')::json WHERE position = $1`,
      [victim?.position],
    );
    await expectBrokenAt(history, victim, /content/);
  });

  // The driver reads `infinity` as a number and a time past the year 275760 as an invalid Date: hashing either
  // threw, and the verification failed (a 500) instead of naming the row.
  it.each(["infinity", "-infinity", "294276-12-31 23:59:59+00"])(
    "finds a created_at changed to %s, which no Date holds, and names that row",
    async (time) => {
      const history = await historyToTamperWith();
      const victim = history.rows[8];
      await history.admin.query("UPDATE outbox SET created_at = $1::timestamptz WHERE position = $2", [
        time,
        victim?.position,
      ]);
      await expectBrokenAt(history, victim, /its created_at is no time the write path stamps/);
    },
  );

  // patient_id is no hashed field, but the auditors' per-patient history ("who saw this patient") is read by it.
  it("finds a row moved into another patient's history", async () => {
    const history = await historyToTamperWith();
    const [victim, other] = [history.rows[6], history.rows[7]];
    expect(victim?.patientId).not.toBe(other?.patientId);
    await history.admin.query("UPDATE outbox SET patient_id = $1 WHERE position = $2", [
      other?.patientId,
      victim?.position,
    ]);
    await expectBrokenAt(history, victim, /filed under another patient than the one its envelope names/);
  });

  it("finds an access record taken out of its patient's history, after the first row filed under one", async () => {
    const history = await historyToTamperWith();
    const access = history.rows.find((row) => row.eventType === "audit.data.accessed");
    expect(access?.patientId).not.toBeNull();
    await history.admin.query("UPDATE outbox SET patient_id = NULL WHERE position = $1", [access?.position]);
    await expectBrokenAt(history, access, /filed under no patient.*taken out of that patient's history/);
  });

  it("takes rows filed under no patient, written before migration 0007 and before any row filed under one, as such", async () => {
    const history = await databases.create();
    const [first, second] = [randomUUID(), randomUUID()];
    for (const event of [
      exampleEvent("audit.data.accessed", { patientId: first }),
      exampleEvent("audit.data.accessed", { patientId: second }),
      patientCreated(first),
    ]) {
      await writeTransaction(history.db, (tx) => appendEvents(tx, testEventContext(), [event]));
    }
    const admin = await history.admin();
    // The first two as a history begun before the column existed holds them: filed under none, written (and
    // hashed) before the migration.
    const written = new Date(ATTRIBUTION_BEGAN_AT - 60 * 60 * 1000);
    for (const row of (await history.rows()).slice(0, 2)) {
      await admin.query(
        "UPDATE outbox SET patient_id = NULL, created_at = $1, hash = $2 WHERE position = $3",
        [written, eventHash(row.previousHash, { ...row, createdAt: written }), row.position],
      );
    }
    await history.seal();
    expect(await verifyHistory(admin, testKeys)).toMatchObject({ intact: true, rows: 3 });
    await history.close();
  });

  // Before the time bound, the history's first rows filed under a patient, taken out of it all together, looked
  // like rows written before the column existed.
  it("finds the history's first rows filed under a patient taken out of it all together", async () => {
    const history = await historyToTamperWith();
    await history.admin.query("UPDATE outbox SET patient_id = NULL WHERE position IN ($1, $2)", [
      history.rows[0]?.position,
      history.rows[1]?.position,
    ]);
    await expectBrokenAt(
      history,
      history.rows[0],
      /filed under no patient.*written after rows began to be filed.*taken out of that patient's history/,
    );
  });

  it("finds an event naming no patient filed under one", async () => {
    const { db } = await databases.create();
    const patientId = randomUUID();
    await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [
        patientCreated(patientId),
        exampleEvent("audit.data.accessed", { patientId: null }),
      ]),
    );
    const admin = await db.$client.connect();
    await admin.query("SET session_replication_role = replica");
    const { rows } = await admin.query<{ position: string }>(
      "SELECT position::text FROM outbox WHERE patient_id IS NULL",
    );
    expect(rows).toHaveLength(1);
    await admin.query("UPDATE outbox SET patient_id = $1 WHERE position = $2", [
      patientId,
      rows[0]?.position,
    ]);
    expect(await verifyHistory(admin, testKeys)).toMatchObject({
      intact: false,
      brokenLink: {
        position: rows[0]?.position,
        problem: expect.stringMatching(/filed under a patient though its envelope names none/),
      },
    });
    admin.release();
    await db.$client.end();
  });

  // Read as a float8 (2^63), one less than it is no bigint: looked up, the database refused it, and the API
  // answered a 400 blaming the auditor's request.
  it("finds a chained row whose version was changed to the largest bigint", async () => {
    const history = await historyToTamperWith();
    const last = history.rows.at(-1);
    await history.admin.query(
      "UPDATE outbox SET aggregate_version = 9223372036854775807 WHERE position = $1",
      [last?.position],
    );
    expect(await history.verify()).toMatchObject({
      intact: false,
      brokenLink: {
        position: last?.position,
        problem: expect.stringMatching(/content does not match its hash/),
      },
    });
    await history.close();
  });

  it("finds a forged chained row numbered past every version, even one whose own hash is right", async () => {
    const history = await historyToTamperWith();
    const model = history.rows.at(-1);
    if (!model) throw new Error("no model row");
    // The version as the verification reads it (a float8: 2^63), over which the forger computes the hash.
    const forged = { ...model, eventId: randomUUID(), aggregateVersion: 2 ** 63, previousHash: model.hash };
    await insertForged(history.admin, forged, { storedVersion: "9223372036854775807" });
    expect(await history.verify()).toMatchObject({
      intact: false,
      brokenLink: {
        eventId: forged.eventId,
        aggregate: `${model.aggregateType} ${model.aggregateId}`,
        problem: expect.stringMatching(/is no version of a chain/),
      },
    });
    await history.close();
  });

  it("finds a deleted row before a checkpoint, naming the span it sealed and the link the deletion broke", async () => {
    const history = await historyToTamperWith();
    // Row 9: version 3 of the first patient, whose version 4 is row 14.
    const [deleted, next] = [history.rows[9], history.rows[14]];
    await history.admin.query("DELETE FROM outbox WHERE position = $1", [deleted?.position]);
    expect(await history.verify()).toEqual({
      intact: false,
      range: expect.objectContaining({ afterCheckpoint: 0 }),
      rows: 0,
      brokenLink: {
        checkpoint: 1,
        position: next?.position,
        eventId: next?.eventId,
        aggregate: `patient ${next?.aggregateId}`,
        problem:
          `the rows from the start of the history through position ${history.rows[23]?.position} do not match ` +
          "checkpoint 1 (23 rows found there, 24 sealed): one of them was removed, added or moved; the first " +
          "broken link among them: version 3 before it is missing, and no archive holds it: an event of the chain was removed",
      },
    });
    await history.close();
  });

  it("finds a deleted row sealed by a later checkpoint, counting only what the one before vouches for", async () => {
    const history = await historyToTamperWith({ sealTail: true });
    // Row 25: version 7 of the first patient, whose version 8 is row 26.
    const [deleted, next] = [history.rows[25], history.rows[26]];
    await history.admin.query("DELETE FROM outbox WHERE position = $1", [deleted?.position]);
    expect(await history.verify()).toMatchObject({
      intact: false,
      rows: 24,
      brokenLink: {
        checkpoint: 2,
        position: next?.position,
        eventId: next?.eventId,
        problem: expect.stringMatching(
          `^the rows after checkpoint 1 \\(position ${history.rows[23]?.position}\\) through position ${history.rows[29]?.position} do not match checkpoint 2 \\(5 rows found there, 6 sealed\\)`,
        ),
      },
    });
    await history.close();
  });

  it("names no row for a deletion that broke no link it can see: the last event of a chain, sealed", async () => {
    const history = await historyToTamperWith({ sealTail: true });
    // Row 29: version 8 of the second patient, its last.
    await history.admin.query("DELETE FROM outbox WHERE position = $1", [history.rows[29]?.position]);
    const report = await history.verify();
    expect(report).toMatchObject({
      intact: false,
      rows: 24,
      brokenLink: {
        checkpoint: 2,
        problem:
          `the rows after checkpoint 1 (position ${history.rows[23]?.position}) through position ` +
          `${history.rows[29]?.position} do not match checkpoint 2 (5 rows found there, 6 sealed): one of them ` +
          "was removed, added or moved",
      },
    });
    expect(report.intact === false && report.brokenLink).not.toHaveProperty("position");
    await history.close();
  });

  it("finds a checkpoint deleted before the last one by the numbers the others were signed with", async () => {
    const history = await historyToTamperWith({ sealTail: true });
    await history.admin.query("DELETE FROM outbox_checkpoints WHERE sequence = 1");
    expect(await history.verify()).toMatchObject({
      intact: false,
      brokenLink: {
        checkpoint: 2,
        problem:
          "checkpoint 1 is missing: checkpoint 2, signed with its number, is the first one held; checkpoints were removed",
      },
    });
    await history.close();
  });

  it("finds a chain head whose hash was changed, and says the head was", async () => {
    const history = await historyToTamperWith();
    const last = history.rows[22];
    await history.admin.query(
      "UPDATE aggregate_versions SET last_hash = '\\x1111'::bytea WHERE aggregate_type = $1 AND aggregate_id = $2",
      [last?.aggregateType, last?.aggregateId],
    );
    expect(await history.verify()).toMatchObject({
      intact: false,
      brokenLink: {
        aggregate: `patient ${last?.aggregateId}`,
        problem: "its head records version 5 with another hash than that event's: the head was changed",
      },
    });
    await history.close();
  });

  it("finds two rows that swapped places", async () => {
    const history = await historyToTamperWith();
    const [a, b] = [history.rows[3], history.rows[11]];
    await history.admin.query("BEGIN");
    await history.admin.query(
      "CREATE TEMP TABLE swapped AS SELECT * FROM outbox WHERE position IN ($1, $2)",
      [a?.position, b?.position],
    );
    await history.admin.query("DELETE FROM outbox WHERE position IN ($1, $2)", [a?.position, b?.position]);
    await history.admin.query(
      `INSERT INTO outbox OVERRIDING SYSTEM VALUE
       SELECT CASE WHEN position = $1 THEN $2::bigint ELSE $1::bigint END, CASE WHEN position = $1 THEN $4::xid8 ELSE $3::xid8 END,
              event_id, event_type, aggregate_type, aggregate_id, aggregate_version, topic, message_key, payload,
              correlation_id, traceparent, created_at, previous_hash, hash
         FROM swapped`,
      [a?.position, b?.position, a?.txId, b?.txId],
    );
    await history.admin.query("COMMIT");
    const report = await history.verify();
    expect(report).toMatchObject({ intact: false, brokenLink: { checkpoint: 1 } });
    await history.close();
  });

  it("finds a forged row, even one whose own hash is right", async () => {
    const history = await historyToTamperWith();
    const model = history.rows[2];
    if (!model) throw new Error("no model row");
    const forged = {
      ...model,
      eventId: randomUUID(),
      aggregateId: randomUUID(),
      aggregateVersion: null,
      previousHash: null,
    };
    await insertForged(history.admin, forged, { txId: model.txId });
    const report = await history.verify();
    expect(report).toMatchObject({
      intact: false,
      brokenLink: { checkpoint: 1, problem: expect.stringMatching(/added/) },
    });
    await history.close();
  });

  it("finds the tail of the history cut off after the last checkpoint", async () => {
    const history = await historyToTamperWith();
    const tail = history.rows.slice(-3).map((row) => row.position);
    await history.admin.query("DELETE FROM outbox WHERE position = ANY($1::bigint[])", [tail]);
    const report = await history.verify();
    expect(report).toMatchObject({
      intact: false,
      brokenLink: { problem: expect.stringMatching(/tail was removed/) },
    });
    await history.close();
  });

  // A sealed_at no Date holds failed the checkpoint's query (its microseconds), or its signature check, with a 500.
  it.each([
    "row_count = row_count - 1",
    "sealed_at = 'infinity'",
    "sealed_at = '-infinity'",
    "sealed_at = '294276-12-31 23:59:59+00'",
  ])("finds a checkpoint changed after signing (%s)", async (change) => {
    const history = await historyToTamperWith();
    await history.admin.query(`UPDATE outbox_checkpoints SET ${change}`);
    const report = await history.verify();
    expect(report).toMatchObject({
      intact: false,
      brokenLink: { checkpoint: 1, problem: "its signature does not match its content" },
    });
    await history.close();
  });
});
