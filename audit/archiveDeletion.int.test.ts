// The outbox's one exception to append-only (migration 0010), tried as the application would, triggers on: a
// DELETE goes through only for rows at or before the cut of an archive that the deleting transaction itself
// records, once it has kept their payload digests (migration 0029), and an archive can only be recorded as the
// next one, cut exactly at a sealed checkpoint, with the hash of its digests (migration 0031). The digests are kept
// only by such a transaction, only for the rows it archives, each with the archive it records, and are never
// changed or removed.
import { createHash } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshDatabases, type TestHistory } from "../test/auditHistories.ts";
import type { Checkpoint } from "./checkpoint.ts";

const databases = freshDatabases("audit_deletion");
beforeAll(databases.setUp);
afterAll(databases.tearDown);

/** Rows 0-9 sealed by checkpoint 1, rows 10-14 not sealed; an application connection (triggers on). */
async function sealedHistory() {
  const history = await databases.create();
  await history.begin();
  await history.round();
  const checkpoint = await history.seal();
  await history.round();
  const positions = (await history.rows()).map((row) => row.position);
  return { history, checkpoint, positions, app: await history.connection() };
}

/** An archive record as SQL would write it, valid for the triggers unless overridden (they check no signature). */
function recordArchive(app: pg.ClientBase, checkpoint: Checkpoint, overrides: Record<string, unknown> = {}) {
  const record = {
    sequence: 1,
    checkpoint_sequence: checkpoint.sequence,
    after_checkpoint_sequence: 0,
    up_to_tx_id: checkpoint.upToTxId,
    up_to_position: checkpoint.upToPosition,
    row_count: checkpoint.rowCount,
    digests_kept: true,
    digests_hash: Buffer.alloc(32),
    ...overrides,
  };
  return app.query(
    `INSERT INTO outbox_archives (sequence, checkpoint_sequence, after_checkpoint_sequence, up_to_tx_id, up_to_position,
       row_count, head_count, heads_hash, file_name, file_sha256, created_before, key_id, signature, archived_at,
       digests_kept, digests_hash)
     VALUES ($1, $2, $3, $4::xid8, $5, $6, 0, '\\x', 'by-hand.ndjson.gz', '\\x', now(), 'none', '\\x', now(), $7, $8)`,
    [
      record.sequence,
      record.checkpoint_sequence,
      record.after_checkpoint_sequence,
      record.up_to_tx_id,
      record.up_to_position,
      record.row_count,
      record.digests_kept,
      record.digests_hash,
    ],
  );
}

/**
 * Keeps the digest of the row at `position` as archiving does: its event id and its payload's SHA-256, with the
 * archive that keeps it (archive 1, which the tests' transactions record).
 */
function keepDigest(
  app: pg.ClientBase,
  position: string,
  digest = "sha256(convert_to(payload::text, 'UTF8'))",
  archive: number | null = 1,
) {
  return app.query(
    `INSERT INTO outbox_archived_digests (event_id, payload_sha256, archive_sequence)
     SELECT event_id, ${digest}, $2::bigint FROM outbox WHERE position = $1`,
    [position, archive],
  );
}

async function close(history: TestHistory, app: pg.PoolClient) {
  app.release();
  await history.close();
}

describe("deleting from the outbox", () => {
  it("is refused without an archive recorded by the same transaction, and beyond that archive's cut", async () => {
    const { history, checkpoint, positions, app } = await sealedHistory();
    const [first, second] = positions as [string, string];
    await expect(app.query("DELETE FROM outbox WHERE position = $1", [first])).rejects.toThrow(
      /append-only: DELETE/,
    );

    // Not before its digest is kept: a consumer could no longer tell its record from a forgery.
    await app.query("BEGIN");
    await recordArchive(app, checkpoint);
    await expect(app.query("DELETE FROM outbox WHERE position = $1", [first])).rejects.toThrow(
      /deletes an archived event only once its digest is kept/,
    );
    await app.query("ROLLBACK");

    await app.query("BEGIN");
    await recordArchive(app, checkpoint);
    await keepDigest(app, first);
    expect((await app.query("DELETE FROM outbox WHERE position = $1", [first])).rowCount).toBe(1);
    await expect(app.query("DELETE FROM outbox WHERE position = $1", [positions[12]])).rejects.toThrow(
      /append-only: DELETE/,
    );
    await app.query("ROLLBACK");

    // An archive committed earlier lets no later transaction delete.
    await app.query("BEGIN");
    await recordArchive(app, checkpoint);
    await app.query("COMMIT");
    await expect(app.query("DELETE FROM outbox WHERE position = $1", [second])).rejects.toThrow(
      /append-only: DELETE/,
    );
    await expect(app.query("UPDATE outbox SET topic = topic WHERE position = $1", [second])).rejects.toThrow(
      /append-only: UPDATE/,
    );
    await expect(app.query("TRUNCATE outbox")).rejects.toThrow(/append-only: TRUNCATE/);
    await expect(app.query("DELETE FROM outbox_archives")).rejects.toThrow(/append-only/);
    await app.query(
      `INSERT INTO outbox_archive_heads (archive_sequence, position, aggregate_type, aggregate_id, version, hash)
       VALUES (1, 1, 'patient', 'someone', 1, '\\x')`,
    );
    await expect(app.query("DELETE FROM outbox_archive_heads")).rejects.toThrow(/append-only/);
    await expect(app.query("TRUNCATE outbox_archive_heads")).rejects.toThrow(/append-only/);
    expect((await history.rows()).map((row) => row.position)).toEqual(positions);
    await close(history, app);
  });

  it("needs an archive that is the next one, cut exactly at a sealed checkpoint, holding the rows it sealed", async () => {
    const { history, checkpoint, positions, app } = await sealedHistory();
    const refusals: Array<[Record<string, unknown>, RegExp]> = [
      [{ up_to_position: positions[5] }, /exactly at a sealed checkpoint/],
      [{ checkpoint_sequence: 0 }, /exactly at a sealed checkpoint/],
      [{ row_count: checkpoint.rowCount - 1 }, /holds 9 rows, but checkpoints 0 to 1 cover 10/],
      [{ sequence: 2 }, /not the next one/],
      [
        { after_checkpoint_sequence: 1 },
        /must begin where the history left in archives ends, after checkpoint 0/,
      ],
      [{ digests_kept: false }, /must keep its events' digests/],
      [{ digests_hash: null }, /archive 1 must sign the hash of its events' digests \(digests_hash\)/],
    ];
    for (const [overrides, refusal] of refusals) {
      await expect(recordArchive(app, checkpoint, overrides), JSON.stringify(overrides)).rejects.toThrow(
        refusal,
      );
    }
    await close(history, app);
  });

  it("keeps digests only from an archiving transaction, of rows it archives with their payloads' digests, for good", async () => {
    const { history, checkpoint, positions, app } = await sealedHistory();
    const [first] = positions as [string];
    const refused = /keeps the digests of the events archived by this transaction/;
    await expect(keepDigest(app, first)).rejects.toThrow(refused);
    const attempts: Array<[string, () => Promise<unknown>]> = [
      ["a row after the cut", () => keepDigest(app, positions[12] as string)],
      ["another digest", () => keepDigest(app, first, "sha256('forged'::bytea)")],
      ["no archive", () => keepDigest(app, first, undefined, null)],
      ["another archive than the one it records", () => keepDigest(app, first, undefined, 2)],
      [
        "an event the outbox does not hold",
        () =>
          app.query(
            "INSERT INTO outbox_archived_digests (event_id, payload_sha256) VALUES (gen_random_uuid(), '\\x00')",
          ),
      ],
    ];
    for (const [what, attempt] of attempts) {
      await app.query("BEGIN");
      await recordArchive(app, checkpoint);
      await expect(attempt(), what).rejects.toThrow(refused);
      await app.query("ROLLBACK");
    }

    await app.query("BEGIN");
    await recordArchive(app, checkpoint);
    await keepDigest(app, first);
    await app.query("COMMIT");
    await expect(app.query("UPDATE outbox_archived_digests SET payload_sha256 = '\\x00'")).rejects.toThrow(
      /append-only: UPDATE/,
    );
    await expect(app.query("DELETE FROM outbox_archived_digests")).rejects.toThrow(/append-only: DELETE/);
    await expect(app.query("TRUNCATE outbox_archived_digests")).rejects.toThrow(/append-only: TRUNCATE/);
    const { rows } = await app.query<{ eventId: string; digest: Buffer; archive: number }>(
      `SELECT event_id::text AS "eventId", payload_sha256 AS digest, archive_sequence::float8 AS archive
         FROM outbox_archived_digests`,
    );
    const row = (await history.rows())[0];
    expect(rows).toEqual([
      {
        eventId: row?.eventId,
        digest: createHash("sha256")
          .update(row?.payload ?? "")
          .digest(),
        archive: 1,
      },
    ]);
    await close(history, app);
  });
});
