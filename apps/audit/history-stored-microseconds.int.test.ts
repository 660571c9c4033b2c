// The audit API answers every stored time to the microsecond Postgres holds, never cut to a Date's millisecond:
// an event's createdAt in a page, in one event's answer and in both exports, the relay checkpoint's time
// (acknowledgedBy), a verification's last checkpoint (sealedAt). Three fraction digits when the time lies on a
// millisecond (as the write path stamps every event), six when it does not; and an answered createdAt, passed
// back as from or to, selects exactly the events at or after it, or before it. Before, `….123456` was
// answered `….123Z`, and `from` set to it also returned the events of that millisecond before the row.
// created_at and sealed_at are given microseconds within their millisecond, in a database of this file's own. The
// write path and the sealer store whole milliseconds, which is all the hash and the signature cover: a verification
// finds such a time changed.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sealCheckpoint } from "../../audit/sealCheckpoint.ts";
import { loadSigningKey } from "../../audit/signingKey.ts";
import { saveRelayCheckpoint } from "../../db/outbox/relayCheckpoint.ts";
import { exampleEvent } from "../../events/examples.ts";
import {
  type AuditedEvent,
  append,
  auditPage,
  historyReadable,
  isAuditorAccess,
} from "../../test/auditHistory.ts";
import { parseCsv } from "../../test/csv.ts";
import { eventually } from "../../test/fixtures.ts";
import { ownDatabase } from "../../test/ownDatabase.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const database = ownDatabase("stored_microseconds");
const patientId = randomUUID();
/** Microseconds added to each event's created_at, within its millisecond: 0 leaves it on the millisecond. */
const OFFSETS = [0, 456, 450, 1, 999];
let written: string[];
let auditor: Caller;
/** The checkpoint sealed before the rows' times were changed. */
let sealed: number;
let app: ReturnType<typeof testPlatform>;

/**
 * A timestamp column as Postgres itself writes it in UTC to the microsecond, then as answered: the last three
 * digits dropped when they are zeros. Independent of the code under test (to_char, not its epoch arithmetic).
 */
const storedText = (column: string) =>
  `regexp_replace(to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '(\\.[0-9]{3})000$', '\\1') || 'Z'`;

/** Every event of the patient's history but the auditors' own accesses, as stored, in history order. */
async function storedHistory() {
  const { rows } = await database.db.$client.query<{ eventId: string; createdAt: string; micros: string }>(
    `SELECT event_id::text AS "eventId", ${storedText("created_at")} AS "createdAt",
            (extract(epoch FROM created_at) * 1000000)::bigint::text AS micros
       FROM outbox WHERE patient_id = $1 AND event_id = ANY($2::uuid[]) ORDER BY tx_id, position`,
    [patientId, written],
  );
  return rows;
}

const withoutAccesses = (events: AuditedEvent[]) => events.filter((event) => !isAuditorAccess(event));

beforeAll(async () => {
  await database.setUp();
  const db = database.db;
  app = testPlatform(db);
  auditor = await caller("auditor");
  written = [];
  // Each in a transaction of its own, as a busy platform writes them: several fall in one millisecond.
  for (const _ of OFFSETS) {
    written.push(...(await append(db, [exampleEvent("patient.updated", { patientId })])));
  }
  const admin = await db.$client.connect();
  try {
    // A checkpoint sealed over the rows as written: the sealer refuses a history it finds changed.
    sealed = (await eventually(async () => (await sealCheckpoint(admin, loadSigningKey())) ?? undefined))
      .sequence;
    // The outbox refuses UPDATE; its triggers are off for this session only. The hash covers the time as a
    // Date holds it: a verification finds the rows changed all the same (below).
    await admin.query("SET session_replication_role = replica");
    for (const [i, offset] of OFFSETS.entries()) {
      await admin.query(
        `UPDATE outbox SET created_at = created_at + $2::int * interval '1 microsecond' WHERE event_id = $1`,
        [written[i], offset],
      );
    }
    await admin.query("RESET session_replication_role");
  } finally {
    admin.release();
  }
  await historyReadable(db, { column: "patient_id", value: patientId });
});

afterAll(() => database.tearDown());

describe("stored times answered by the audit API", () => {
  it("a page answers each event's createdAt to the stored microsecond: three digits on a millisecond, else six", async () => {
    const stored = await storedHistory();
    const page = await auditPage(app, auditor, { patientId });
    expect(withoutAccesses(page.events).map(({ eventId, createdAt }) => ({ eventId, createdAt }))).toEqual(
      stored.map(({ eventId, createdAt }) => ({ eventId, createdAt })),
    );
    const [onMillisecond, ...finer] = stored.map((row) => row.createdAt);
    expect(onMillisecond).toMatch(/T\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(finer.map((text) => text.slice(-4))).toEqual(["456Z", "450Z", "001Z", "999Z"]);
    for (const text of finer) expect(text).toMatch(/T\d\d:\d\d:\d\d\.\d{6}Z$/);
    // On a millisecond, it is the envelope's own timestamp, stamped by the same write.
    const first = withoutAccesses(page.events)[0] as AuditedEvent & { envelope: { timestamp: string } };
    expect(first.createdAt).toBe(first.envelope.timestamp);
  });

  it("an answered createdAt passed back as from selects the events at or after it, as to those before it", async () => {
    const stored = await storedHistory();
    for (const row of stored) {
      const from = await auditPage(app, auditor, { patientId, from: row.createdAt });
      expect(withoutAccesses(from.events).map((event) => event.eventId)).toEqual(
        stored.filter((other) => BigInt(other.micros) >= BigInt(row.micros)).map((other) => other.eventId),
      );
      const to = await auditPage(app, auditor, { patientId, to: row.createdAt });
      expect(withoutAccesses(to.events).map((event) => event.eventId)).toEqual(
        stored.filter((other) => BigInt(other.micros) < BigInt(row.micros)).map((other) => other.eventId),
      );
    }
    // A row and the next microsecond: that row alone.
    const row = stored[1] as (typeof stored)[number];
    const nextMicrosecond = row.createdAt.replace(/456Z$/, "457Z");
    const one = await auditPage(app, auditor, { patientId, from: row.createdAt, to: nextMicrosecond });
    expect(withoutAccesses(one.events).map((event) => event.eventId)).toEqual([row.eventId]);
  });

  it("one event's answer has its createdAt, and the relay checkpoint's time, to the microsecond", async () => {
    const stored = await storedHistory();
    const last = stored.at(-1) as (typeof stored)[number];
    const client = await database.db.$client.connect();
    try {
      const { rows } = await client.query<{ txId: string; position: string }>(
        `SELECT tx_id::text AS "txId", position::text AS "position" FROM outbox WHERE event_id = $1`,
        [last.eventId],
      );
      // Saved at now(), which holds microseconds.
      await saveRelayCheckpoint(client, "outbox", rows[0] as { txId: string; position: string });
    } finally {
      client.release();
    }
    const { rows } = await database.db.$client.query<{ savedAt: string }>(
      `SELECT ${storedText("updated_at")} AS "savedAt" FROM relay_checkpoints WHERE name = 'outbox'`,
    );
    const savedAt = rows[0]?.savedAt as string;
    for (const row of stored) {
      const response = await app.request(`/audit/events/${row.eventId}`, { headers: auditor.headers() });
      expect(response.status).toBe(200);
      const answer = (await response.json()) as {
        event: { createdAt: string };
        delivery: { relayed: boolean; acknowledgedBy?: string };
      };
      expect(answer.event.createdAt).toBe(row.createdAt);
      expect(answer.delivery).toMatchObject({ relayed: true, acknowledgedBy: savedAt });
    }
  });

  it("both exports give each event's createdAt as a page does", async () => {
    const stored = await storedHistory();
    const expected = stored.map(({ eventId, createdAt }) => ({ eventId, createdAt }));
    const exported = async (format: string) => {
      const response = await app.request(`/audit/events/export?patientId=${patientId}&format=${format}`, {
        headers: auditor.headers(),
      });
      expect(response.status).toBe(200);
      return response.text();
    };
    const ndjson = (await exported("ndjson"))
      .trimEnd()
      .split("\n")
      .slice(0, -1)
      .map((line) => JSON.parse(line) as AuditedEvent);
    expect(withoutAccesses(ndjson).map(({ eventId, createdAt }) => ({ eventId, createdAt }))).toEqual(
      expected,
    );
    const [header, ...lines] = parseCsv(await exported("csv"));
    const column = (name: string) => (header as string[]).indexOf(name);
    const csvEvents = lines
      .slice(0, -1)
      .map((fields) => ({ eventId: fields[column("eventId")], createdAt: fields[column("createdAt")] }))
      .filter(({ eventId }) => written.includes(eventId as string));
    expect(csvEvents).toEqual(expected);
  });

  // The write path stamps each row, and the sealer each checkpoint, with a Date: a time finer than a
  // millisecond was changed after it was written, though the hash and the signature cover the millisecond only.
  it("a verification finds a row whose created_at was changed within its millisecond", async () => {
    const response = await app.request("/audit/verify", { headers: auditor.headers() });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      intact: false,
      brokenLink: {
        eventId: written[1],
        problem: "its content does not match its hash: the row was changed",
      },
    });
  });

  it("a verification finds a checkpoint whose sealed_at was changed within its millisecond", async () => {
    const client = await database.db.$client.connect();
    try {
      await client.query("SET session_replication_role = replica");
      await client.query(
        `UPDATE outbox_checkpoints SET sealed_at = sealed_at + interval '123 microseconds' WHERE sequence = $1`,
        [sealed],
      );
      await client.query("RESET session_replication_role");
    } finally {
      client.release();
    }
    const { rows } = await database.db.$client.query<{ sealedAt: string }>(
      `SELECT ${storedText("sealed_at")} AS "sealedAt" FROM outbox_checkpoints WHERE sequence = $1`,
      [sealed],
    );
    expect(rows[0]?.sealedAt).toMatch(/\.\d{3}123Z$/);
    const response = await app.request("/audit/verify", { headers: auditor.headers() });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      intact: false,
      brokenLink: {
        checkpoint: sealed,
        problem: `its sealed_at (${rows[0]?.sealedAt}) is finer than the millisecond its signature covers: it was changed`,
      },
    });
  });
});
