// An archive recorded before archives signed the hash of their digests (migration 0031) still verifies after the
// upgrade: its signature covers no such hash, and its digests, which belong to no archive, are counted against it;
// the next archive signs the hash of its own. A digest forged among the old ones is still found by its count, and
// an archive without a hash after one that has it is refused, even validly signed.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase } from "../db/client.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { freshDatabases, historyToArchive, TestHistory, testKey } from "../test/auditHistories.ts";
import { migrateThrough, onTestServer, urlOfDatabase } from "../test/ownDatabase.ts";
import { type ArchiveRecord, HeadsHash, signArchive } from "./archive.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { archiveHeadsBatch, recordArchiveHeads } from "./sql/archives.ts";

// One database migrated only through 0030 to begin with; the others from a template migrated to the latest.
const database = `audit_digests_upgrade_${randomUUID().slice(0, 8)}`;
const url = urlOfDatabase(database);
const databases = freshDatabases("audit_digests_latest");
beforeAll(async () => {
  await onTestServer(`CREATE DATABASE ${database}`);
  await databases.setUp();
});
afterAll(async () => {
  await onTestServer(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await databases.tearDown();
});

/**
 * Archives the history up to `checkpoint`, the first archive, as audit:archive did before migration 0031 (the file
 * aside: audit:verify reads none): its heads, its signed record with no hash of its digests, the digests of no
 * archive, the rows deleted; one transaction, the triggers on.
 */
async function archiveAsBefore0031(client: pg.ClientBase, checkpoint: Checkpoint): Promise<void> {
  const start = { txId: "0", position: "0" };
  const cut = { txId: checkpoint.upToTxId, position: checkpoint.upToPosition };
  await client.query("BEGIN");
  await recordArchiveHeads(client, 1, start, cut);
  const heads = new HeadsHash();
  for (const head of await archiveHeadsBatch(client, 1, "0", 1_000)) heads.add(head);
  const unsigned: Omit<ArchiveRecord, "signature"> = {
    sequence: 1,
    checkpointSequence: checkpoint.sequence,
    afterCheckpointSequence: 0,
    upToTxId: checkpoint.upToTxId,
    upToPosition: checkpoint.upToPosition,
    rowCount: checkpoint.rowCount,
    headCount: heads.count,
    headsHash: heads.digest(),
    digestsHash: null,
    fileName: "outbox-archive-000001.ndjson.gz",
    fileSha256: Buffer.alloc(32),
    createdBefore: new Date(),
    keyId: testKey.keyId,
    archivedAt: new Date(),
  };
  const record = { ...unsigned, signature: signArchive(unsigned, testKey.privateKey) };
  await client.query(
    `INSERT INTO outbox_archives (sequence, checkpoint_sequence, after_checkpoint_sequence, up_to_tx_id,
       up_to_position, row_count, head_count, heads_hash, file_name, file_sha256, created_before, key_id, signature,
       archived_at)
     VALUES ($1, $2, $3, $4::xid8, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
    [
      record.sequence,
      record.checkpointSequence,
      record.afterCheckpointSequence,
      record.upToTxId,
      record.upToPosition,
      record.rowCount,
      record.headCount,
      record.headsHash,
      record.fileName,
      record.fileSha256,
      record.createdBefore,
      record.keyId,
      record.signature,
      record.archivedAt,
    ],
  );
  await client.query(
    `INSERT INTO outbox_archived_digests (event_id, payload_sha256)
     SELECT event_id, sha256(convert_to(payload::text, 'UTF8')) FROM outbox
      WHERE (tx_id, position) <= ($1::xid8, $2::bigint)`,
    [cut.txId, cut.position],
  );
  await client.query("DELETE FROM outbox WHERE (tx_id, position) <= ($1::xid8, $2::bigint)", [
    cut.txId,
    cut.position,
  ]);
  await client.query("COMMIT");
}

/** How many kept digests belong to each archive (null: to none), in archive order. */
async function digestsByArchive(client: pg.ClientBase): Promise<Array<[number | null, number]>> {
  const { rows } = await client.query<{ archive: number | null; digests: number }>(
    `SELECT archive_sequence::float8 AS archive, count(*)::float8 AS digests FROM outbox_archived_digests
      GROUP BY archive_sequence ORDER BY archive_sequence NULLS FIRST`,
  );
  return rows.map(({ archive, digests }) => [archive, digests]);
}

describe("an archive recorded before archives signed the hash of their digests (migration 0031)", () => {
  it("still verifies after the upgrade, its digests counted against it, and the next archive signs its own", async () => {
    await migrateThrough(url, 30);
    const archiving = await historyToArchive(new TestHistory(createDatabase(url, { max: 3 })));
    try {
      const client = await archiving.history.connection();
      await archiveAsBefore0031(client, archiving.checkpoints[0]).finally(() => client.release());

      await migrateDatabase(url);

      const admin = await archiving.history.admin();
      expect(await archiving.verify()).toMatchObject({
        intact: true,
        range: { afterCheckpoint: 1, archivedRows: 10 },
      });
      const second = await archiving.archive({ now: archiving.longAfter() });
      expect(second.archived).toMatchObject({ sequence: 2, afterCheckpointSequence: 1, rowCount: 10 });
      expect(second.archived?.digestsHash).toHaveLength(32);
      expect(await digestsByArchive(admin)).toEqual([
        [null, 10],
        [2, 10],
      ]);
      expect(await archiving.verify()).toMatchObject({
        intact: true,
        range: { afterCheckpoint: 2, archivedRows: 20 },
      });

      // A digest forged among those of no archive: no hash covers them, their count does.
      await admin.query(
        "INSERT INTO outbox_archived_digests (event_id, payload_sha256) VALUES (gen_random_uuid(), sha256('forged'))",
      );
      expect(await archiving.verify()).toMatchObject({
        intact: false,
        brokenLink: {
          problem:
            "outbox_archived_digests holds 11 digests of no archive, but the archives that kept digests before they signed their hash (migration 0031) archived 10 events: a digest was added or removed",
        },
      });
    } finally {
      await archiving.close();
    }
  });

  it("is no archive recorded after one that signed its digests' hash, even signed by the archive's key", async () => {
    const archiving = await historyToArchive(await databases.create());
    try {
      const admin = await archiving.history.admin();
      const first = await archiving.archive({ now: archiving.whenAged(archiving.afterFirst) });
      const second = await archiving.archive({ now: archiving.longAfter() });
      if (!first.archived || !second.archived) throw new Error("nothing was archived");
      expect(await archiving.verify()).toMatchObject({ intact: true });

      // The second one re-signed without its hash, its digests of no archive, as if recorded before 0031.
      const { signature: _, ...unhashed } = { ...second.archived, digestsHash: null };
      await admin.query("UPDATE outbox_archives SET digests_hash = NULL, signature = $1 WHERE sequence = 2", [
        signArchive(unhashed, testKey.privateKey),
      ]);
      await admin.query(
        "UPDATE outbox_archived_digests SET archive_sequence = NULL WHERE archive_sequence = 2",
      );
      expect(await archiving.verify()).toMatchObject({
        intact: false,
        brokenLink: {
          archive: 2,
          problem:
            "it has no hash of its events' digests, though archive 1 before it has one: only archives recorded before migration 0031 have none",
        },
      });
    } finally {
      await archiving.close();
    }
  });
});
