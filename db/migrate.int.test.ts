// The migrations hold every table, including the two that used to be created at run time (the relay mode and
// Debezium's heartbeat): a fresh database has them, and one that already made them at run time migrates cleanly.
// The erased logins' table is looked up by its hash on a login's hot path: an index, not a scan. Archives recorded
// before archives kept their events' digests (0029) say so, for consumers to name them; those recorded before
// archives signed their digests' hash (0031) have none, and every later one must (audit/archivedDigestsUpgrade.int.test.ts
// verifies an archive signed before it). Inbox entries kept before 0032 take their aggregate and version from
// the outbox. The patient directory's rows that erasures left live before 0033 (their patient.deleted, sealed under
// the key they destroyed, was skipped) become tombstones.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { databaseUrl } from "../test/fixtures.ts";
import { migrateThrough } from "../test/ownDatabase.ts";
import { migrateDatabase } from "./migrate.ts";
import { readRelayMode, writeRelayMode } from "./outbox/relayMode.ts";

const SCRATCH_DATABASE = "healthcare_migrate_test";

async function onServer(statement: string): Promise<void> {
  const server = new pg.Client({ connectionString: databaseUrl() });
  await server.connect();
  try {
    await server.query(statement);
  } finally {
    await server.end();
  }
}

/** A fresh, empty database beside the test database; its client is closed by the caller. */
async function scratchDatabase(): Promise<{ url: string; client: pg.Client }> {
  await onServer(`DROP DATABASE IF EXISTS ${SCRATCH_DATABASE} WITH (FORCE)`);
  await onServer(`CREATE DATABASE ${SCRATCH_DATABASE}`);
  const url = new URL(databaseUrl());
  url.pathname = `/${SCRATCH_DATABASE}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  return { url: url.toString(), client };
}

async function columns(client: pg.Client, table: string): Promise<string[]> {
  const result = await client.query<{ column: string }>(
    `SELECT column_name || ' ' || data_type AS column FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  );
  return result.rows.map((row) => row.column);
}

/**
 * A checkpoint and the archive cut at it, as the triggers take them (they check no signature), in one transaction;
 * with the hash of its digests from migration 0031 on.
 */
async function recordArchive(client: pg.Client, sequence: number, digestsHash?: Buffer): Promise<void> {
  const hashed = digestsHash === undefined ? [] : [digestsHash];
  await client.query("BEGIN");
  try {
    await client.query(
      `INSERT INTO outbox_checkpoints (sequence, up_to_tx_id, up_to_position, row_count, chain_hash, key_id, signature,
         sealed_at)
       VALUES ($1::bigint, $1::text::xid8, $1::bigint, 0, '\\x', 'none', '\\x', now())`,
      [sequence],
    );
    await client.query(
      `INSERT INTO outbox_archives (sequence, checkpoint_sequence, after_checkpoint_sequence, up_to_tx_id,
         up_to_position, row_count, head_count, heads_hash, file_name, file_sha256, created_before, key_id, signature,
         archived_at ${hashed.length > 0 ? ", digests_hash" : ""})
       VALUES ($1::bigint, $1::bigint, $1::bigint - 1, $1::text::xid8, $1::bigint, 0, 0, '\\x', 'by-hand.ndjson.gz',
               '\\x', now(), 'none', '\\x', now() ${hashed.length > 0 ? ", $2" : ""})`,
      [sequence, ...hashed],
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK");
    throw error;
  }
}

afterAll(() => onServer(`DROP DATABASE IF EXISTS ${SCRATCH_DATABASE} WITH (FORCE)`));

describe("the migrations", () => {
  it("create the relay mode and Debezium's heartbeat tables, so nothing creates them at run time", async () => {
    const { url, client } = await scratchDatabase();
    try {
      await migrateDatabase(url);
      expect(await columns(client, "relay_mode")).toEqual([
        "singleton boolean",
        "mode text",
        "handover jsonb",
        "changed_at timestamp with time zone",
      ]);
      expect(await columns(client, "debezium_heartbeat")).toEqual([
        "id integer",
        "beat_at timestamp with time zone",
      ]);
      expect(await readRelayMode(client)).toEqual({ mode: "polling", handover: null, changedAt: null });
      await expect(
        client.query("INSERT INTO relay_mode (singleton, mode) VALUES (false, 'polling')"),
      ).rejects.toThrow(/relay_mode_singleton_check/);
      await expect(writeRelayMode(client, "kafka-streams" as "polling", {})).rejects.toThrow(
        /relay_mode_mode_check/,
      );
    } finally {
      await client.end();
    }
  });

  it("create erased_logins, looked up by the hash of an address, and the erased-login key's single row", async () => {
    const { url, client } = await scratchDatabase();
    try {
      await migrateDatabase(url);
      expect(await columns(client, "erased_logins")).toEqual([
        "email_hash bytea",
        "erased_at timestamp with time zone",
        "pseudonym_hash bytea",
      ]);
      const { rows } = await client.query<{ definition: string }>(
        "SELECT indexdef AS definition FROM pg_indexes WHERE tablename = 'erased_logins'",
      );
      expect(rows.map((row) => row.definition)).toEqual([
        expect.stringMatching(/UNIQUE INDEX .* USING btree \(email_hash\)$/),
      ]);
      expect(await columns(client, "erased_login_key")).toEqual([
        "singleton boolean",
        "master_key_id text",
        "wrapped_key bytea",
        "created_at timestamp with time zone",
      ]);
      await expect(
        client.query(
          "INSERT INTO erased_login_key (singleton, master_key_id, wrapped_key) VALUES (false, 'k', '')",
        ),
      ).rejects.toThrow(/erased_login_key_singleton_check/);
    } finally {
      await client.end();
    }
  });

  it("keep the relay mode of a database that created those tables at run time, before the migration", async () => {
    const { url, client } = await scratchDatabase();
    try {
      // As relay:switch and the Debezium registration created them before the migration existed.
      await client.query(`
        CREATE TABLE relay_mode (
          singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
          mode text NOT NULL CHECK (mode IN ('polling', 'debezium')),
          handover jsonb,
          changed_at timestamptz NOT NULL DEFAULT now()
        )`);
      await client.query(
        "CREATE TABLE debezium_heartbeat (id int PRIMARY KEY, beat_at timestamptz NOT NULL)",
      );
      await writeRelayMode(client, "debezium", { state: "done" });

      await migrateDatabase(url);

      expect(await readRelayMode(client)).toMatchObject({ mode: "debezium", handover: { state: "done" } });
    } finally {
      await client.end();
    }
  });

  it("mark the archives recorded before 0029 as keeping no digests of their events, and every later one as keeping them", async () => {
    const { url, client } = await scratchDatabase();
    try {
      await migrateThrough(url, 28);
      await recordArchive(client, 1);

      await migrateDatabase(url);

      expect(await columns(client, "outbox_archived_digests")).toEqual([
        "event_id uuid",
        "payload_sha256 bytea",
        "archive_sequence bigint",
      ]);
      await recordArchive(client, 2, Buffer.alloc(32));
      const { rows } = await client.query<{ sequence: string; digests_kept: boolean }>(
        "SELECT sequence::text, digests_kept FROM outbox_archives ORDER BY sequence",
      );
      expect(rows).toEqual([
        { sequence: "1", digests_kept: false },
        { sequence: "2", digests_kept: true },
      ]);
    } finally {
      await client.end();
    }
  });

  it("leave the archives recorded before 0031 without a hash of their digests, and refuse a later one without it", async () => {
    const { url, client } = await scratchDatabase();
    try {
      await migrateThrough(url, 30);
      await recordArchive(client, 1);

      await migrateDatabase(url);

      await expect(recordArchive(client, 2)).rejects.toThrow(
        "archive 2 must sign the hash of its events' digests (digests_hash)",
      );
      await recordArchive(client, 2, Buffer.alloc(32));
      const { rows } = await client.query<{ sequence: string; digests_hash: Buffer | null }>(
        "SELECT sequence::text, digests_hash FROM outbox_archives ORDER BY sequence",
      );
      expect(rows).toEqual([
        { sequence: "1", digests_hash: null },
        { sequence: "2", digests_hash: Buffer.alloc(32) },
      ]);
      // Verification reads an archive's digests in event id order, as they were hashed: an index range, no sort.
      const { rows: indexes } = await client.query<{ definition: string }>(
        "SELECT indexdef AS definition FROM pg_indexes WHERE tablename = 'outbox_archived_digests' ORDER BY indexname",
      );
      expect(indexes.map((index) => index.definition)).toEqual([
        expect.stringMatching(
          /INDEX outbox_archived_digests_archive .* USING btree \(archive_sequence, event_id\)$/,
        ),
        expect.stringMatching(/UNIQUE INDEX outbox_archived_digests_pkey .* USING btree \(event_id\)$/),
      ]);
    } finally {
      await client.end();
    }
  });

  it("give the inbox entries kept before 0032 their event's aggregate and version, from its outbox row", async () => {
    const { url, client } = await scratchDatabase();
    try {
      await migrateThrough(url, 31);
      const [held, audit, gone] = [randomUUID(), randomUUID(), randomUUID()];
      await client.query(
        `INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id, aggregate_version, topic,
                             message_key, payload, correlation_id, hash)
         SELECT id, type, aggregate, key, version, topic, key, '{}', gen_random_uuid(), '\\x00'
           FROM (VALUES ($1::uuid, 'patient.updated', 'patient', 'p-1', 7, 'patient-events'),
                        ($2::uuid, 'audit.data.accessed', 'audit', $2::text, NULL, 'audit-events'))
                AS event(id, type, aggregate, key, version, topic)`,
        [held, audit],
      );
      await client.query(
        `INSERT INTO consumer_inbox (consumer, event_id, event_type, topic, kafka_partition, kafka_offset)
         SELECT 'directory', id, 'patient.updated', 'patient-events', 0, 0 FROM unnest($1::uuid[]) AS id`,
        [[held, audit, gone]],
      );

      await migrateDatabase(url);

      const { rows } = await client.query(
        `SELECT event_id::text AS "eventId", aggregate_type AS "type", aggregate_id AS "id",
                aggregate_version::int AS version
           FROM consumer_inbox ORDER BY aggregate_version NULLS LAST, event_id`,
      );
      // An audit event is keyed by its own id, and an archived one's row is gone: neither has a version.
      expect(rows).toEqual([
        { eventId: held, type: "patient", id: "p-1", version: 7 },
        ...[audit, gone].sort().map((eventId) => ({ eventId, type: null, id: null, version: null })),
      ]);
    } finally {
      await client.end();
    }
  });

  it("make the directory rows erasures left live before 0033 tombstones, and leave every other row alone", async () => {
    const { url, client } = await scratchDatabase();
    try {
      await migrateThrough(url, 32);
      const [erased, live, tombstone] = [randomUUID(), randomUUID(), randomUUID()];
      await client.query(
        `INSERT INTO patient_keys (patient_id, master_key_id, wrapped_key, erased_at)
         VALUES ($1, NULL, NULL, '2026-11-30T10:00:00Z'), ($2, 'k1', '\\x00', NULL), ($3, NULL, NULL, '2026-11-01T09:00:00Z')`,
        [erased, live, tombstone],
      );
      // Two live rows (the erased patient's, a live patient's), and a tombstone the erasure's event made.
      await client.query(
        `INSERT INTO patient_directory (patient_id, first_name, last_name, email, phone, consent_data_sharing,
                                        consent_marketing, consent_research, last_event_at, deleted_at)
         SELECT id, 'Ada', 'Lovelace', 'ada@example.org', '+14155552671', true, true, true, '2026-11-29T08:00:00Z', NULL
           FROM unnest($1::uuid[]) AS id`,
        [[erased, live]],
      );
      await client.query(
        `INSERT INTO patient_directory (patient_id, last_event_at, deleted_at)
         VALUES ($1, '2026-11-01T09:00:00Z', '2026-11-01T09:00:00Z')`,
        [tombstone],
      );
      const directory = async () =>
        new Map(
          (await client.query("SELECT * FROM patient_directory")).rows.map((row) => [
            row.patient_id as string,
            row,
          ]),
        );
      const before = await directory();

      await migrateDatabase(url);

      const after = await directory();
      expect(after.get(erased)).toEqual({
        patient_id: erased,
        first_name: null,
        last_name: null,
        email: null,
        phone: null,
        consent_data_sharing: false,
        consent_marketing: false,
        consent_research: false,
        last_event_at: new Date("2026-11-29T08:00:00Z"),
        deleted_at: new Date("2026-11-30T10:00:00Z"),
      });
      expect(after.get(live)).toEqual(before.get(live));
      expect(after.get(tombstone)).toEqual(before.get(tombstone));
    } finally {
      await client.end();
    }
  });

  it("refuse from 0034 an outbox row with an empty trace header, which the two relays would send two ways", async () => {
    const { url, client } = await scratchDatabase();
    /** A row as an administrator would write it by hand, its hash aside (the relays send what the row holds). */
    const insert = (traceparent: string | null, tracestate: string | null) =>
      client.query(
        `INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id, topic, message_key, payload,
                             correlation_id, traceparent, tracestate, hash)
         VALUES (gen_random_uuid(), 'audit.data.accessed', 'audit', gen_random_uuid()::text, 'audit-events', 'k',
                 '{}', gen_random_uuid(), $1, $2, '\\x00')`,
        [traceparent, tracestate],
      );
    try {
      await migrateThrough(url, 33);
      await client.query("SET session_replication_role = replica");
      await insert("", null);

      await migrateDatabase(url);

      for (const [traceparent, tracestate] of [
        ["", null],
        [null, ""],
        ["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", ""],
      ] as const) {
        await expect(insert(traceparent, tracestate), `${traceparent} ${tracestate}`).rejects.toThrow(
          'violates check constraint "outbox_trace_headers_not_empty"',
        );
      }
      await insert(null, null);
      await insert("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "vendor=value");
      // The history written before is kept as it is: the constraint does not scan it.
      const { rows } = await client.query<{ traceparent: string | null }>(
        "SELECT traceparent FROM outbox ORDER BY position",
      );
      expect(rows.map((row) => row.traceparent)).toEqual([
        "",
        null,
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      ]);
    } finally {
      await client.end();
    }
  });
});
