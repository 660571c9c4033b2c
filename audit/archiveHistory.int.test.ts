// Archiving moves out exactly the history that is both older than the retention period and sealed, cut at a
// checkpoint, into a gzip NDJSON file with a manifest; what remains still verifies, from that checkpoint, and
// tampering with it is still found. Each test has a database of its own: archiving takes the oldest history
// of the whole outbox. Rows are not aged: the archive's "now" moves forward instead.
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_AUDIT_RETENTION_DAYS } from "../config/env.ts";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { instantOf } from "../events/instant.ts";
import {
  historyToArchive as archivable,
  freshDatabases,
  momentBetween,
  TestHistory,
  testKey,
  testKeys,
} from "../test/auditHistories.ts";
import { patientCreated, testEventContext } from "../test/fixtures.ts";
import { type ArchivedRow, fileSha256, signArchive, toArchivedRow } from "./archive.ts";
import { archiveHistory } from "./archiveHistory.ts";
import { manifestText, parseManifest } from "./archiveManifest.ts";
import type { HistoryRow } from "./sql/historyRows.ts";
import { ManifestUnreadable, verifyArchiveFiles } from "./verifyArchiveFile.ts";
import { verifyHistory } from "./verifyHistory.ts";

const databases = freshDatabases("audit_archive");
beforeAll(databases.setUp);
afterAll(databases.tearDown);

const historyToArchive = async () => archivable(await databases.create());

/**
 * The archived events' digests the database keeps (outbox_archived_digests), as [event id, hex digest] in event id
 * order, of one archive or of all; and the same for history rows, each its payload's SHA-256 as consumers digest a
 * record's value.
 */
async function keptDigests(
  history: Awaited<ReturnType<typeof historyToArchive>>,
  archive?: number,
): Promise<string[][]> {
  const { rows } = await history.history.db.$client.query<{ eventId: string; digest: string }>(
    `SELECT event_id::text AS "eventId", encode(payload_sha256, 'hex') AS digest
       FROM outbox_archived_digests WHERE $1::bigint IS NULL OR archive_sequence = $1 ORDER BY event_id`,
    [archive ?? null],
  );
  return rows.map(({ eventId, digest }) => [eventId, digest]);
}
const digestsOf = (rows: readonly HistoryRow[]): string[][] =>
  rows
    .map((row) => [row.eventId, createHash("sha256").update(row.payload, "utf8").digest("hex")])
    .sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1));
/** The digests' hash an archive of these rows signs: a line `["<event id>","<digest>"]` a digest, by event id. */
const digestsHashOf = (rows: readonly HistoryRow[]): Buffer =>
  createHash("sha256")
    .update(
      digestsOf(rows)
        .map((digest) => `${JSON.stringify(digest)}\n`)
        .join(""),
    )
    .digest();

async function archivedRows(file: string): Promise<ArchivedRow[]> {
  return gunzipSync(await readFile(file))
    .toString("utf8")
    .trimEnd()
    .split("\n")
    .map((line) => JSON.parse(line) as ArchivedRow);
}

describe("archiving the history", () => {
  it("moves exactly the sealed rows older than the retention period into the archive file, and the rest verifies", async () => {
    const history = await historyToArchive();
    const outcome = await history.archive({ now: history.whenAged(history.afterFirst) });
    if (!outcome.archived) throw new Error(outcome.reason);
    expect(outcome.archived).toMatchObject({
      sequence: 1,
      checkpointSequence: 1,
      afterCheckpointSequence: 0,
      upToPosition: history.position(9),
      rowCount: 10,
      headCount: 4,
      createdBefore: history.afterFirst,
      digestsHash: digestsHashOf(history.rows.slice(0, 10)),
    });
    expect(await history.remaining()).toEqual(history.rows.slice(10).map((row) => row.eventId));
    // Each archived event's id and payload digest, for consumers to check its records against, kept as the
    // archive's, whose signed hash covers them.
    expect(await keptDigests(history, 1)).toEqual(digestsOf(history.rows.slice(0, 10)));
    expect(await keptDigests(history)).toEqual(digestsOf(history.rows.slice(0, 10)));

    const inFile = await archivedRows(outcome.file);
    expect(inFile[0]?.patientId).toBe(history.history.patientIds[0]);
    expect(inFile.map(({ patientId: _, ...row }) => row)).toEqual(
      history.rows.slice(0, 10).map((row) => {
        const { patientId: _, ...archived } = toArchivedRow({ ...row, patientId: null });
        return archived;
      }),
    );
    const manifest = parseManifest(await readFile(outcome.manifest, "utf8"));
    expect(manifest).toMatchObject({ rows: 10, checkpoint: { sequence: 1 }, after: null });
    expect(manifest.archive).toEqual(outcome.archived);
    expect(manifest.sha256).toBe((await fileSha256(outcome.file)).toString("hex"));

    expect(await history.verify()).toEqual({
      intact: true,
      range: {
        afterCheckpoint: 1,
        afterPosition: history.position(9),
        rowsBefore: 10,
        archivedRows: 10,
        throughPosition: null,
      },
      rows: 25,
      checkpoints: 1,
      chainedAggregates: 4,
      linksToEarlierRows: 0,
      linksToArchivedRows: 4,
      upToPosition: history.position(34),
      lastCheckpoint: expect.objectContaining({ sequence: 2, rowCount: 20 }),
    });
    // A range that ends among the archived events is refused as that, not as a range that ends before it starts.
    await expect(history.verify({ until: instantOf(history.checkpoints[0].sealedAt) })).rejects.toMatchObject(
      {
        parameter: "until",
        reason: `the range ends among archived events (up to checkpoint 1, position ${history.position(9)}), which are verified from their archive files: npm run audit:verify-archive`,
      },
    );
    expect(await verifyArchiveFiles([outcome.manifest], testKeys)).toEqual([
      {
        intact: true,
        archive: 1,
        rows: 10,
        afterCheckpoint: 0,
        checkpoint: 1,
        firstPosition: history.position(0),
        lastPosition: history.position(9),
        linksToEarlierArchives: 0,
        linksNotChecked: 0,
      },
    ]);
    await history.close();
  });

  it("keeps rows younger than the retention period, even where one checkpoint seals them with older ones", async () => {
    const history = await historyToArchive();
    expect(await history.archive()).toMatchObject({
      archived: null,
      reason: expect.stringMatching(/2192-day retention/),
    });
    // Rows 0-4 are old enough, rows 5-9 are not, and checkpoint 1 seals all ten: no cut.
    expect(await history.archive({ now: history.whenAged(history.midFirst) })).toMatchObject({
      archived: null,
    });
    expect(await history.remaining()).toHaveLength(35);
    await history.close();
  });

  it("never archives rows that no checkpoint seals yet, however old", async () => {
    const history = await historyToArchive();
    const outcome = await history.archive({ now: history.longAfter() });
    expect(outcome.archived).toMatchObject({ checkpointSequence: 2, rowCount: 20 });
    expect(await history.remaining()).toEqual(history.rows.slice(20).map((row) => row.eventId));
    expect(await history.verify()).toMatchObject({
      intact: true,
      range: { afterCheckpoint: 2, archivedRows: 20 },
      rows: 15,
    });
    expect(await history.archive({ now: history.longAfter() })).toMatchObject({ archived: null });
    await history.close();
  });

  it("does not break a verification it commits during: that reads one snapshot, the history before it", async () => {
    const history = await historyToArchive();
    // The archive commits after the verification has read the archives, just before it reads the first row.
    const verifier = await history.history.connection();
    const query = verifier.query.bind(verifier) as (...args: unknown[]) => unknown;
    let archived = false;
    Object.assign(verifier, {
      query: async (...args: unknown[]) => {
        const text = typeof args[0] === "string" ? args[0] : "";
        if (!archived && text.includes('"namedPatientId"')) {
          archived = true;
          const outcome = await history.archive({ now: history.longAfter() });
          expect(outcome.archived).toMatchObject({ checkpointSequence: 2, rowCount: 20 });
        }
        return query(...args);
      },
    });
    try {
      expect(await verifyHistory(verifier, testKeys)).toMatchObject({
        intact: true,
        rows: 35,
        checkpoints: 2,
      });
      expect(archived).toBe(true);
    } finally {
      verifier.release(true);
    }
    // Verified afresh, the history holds what the archive left.
    expect(await history.verify()).toMatchObject({ intact: true, range: { archivedRows: 20 }, rows: 15 });
    await history.close();
  });

  it("continues from the previous archive's checkpoint, and each file verifies", async () => {
    const history = await historyToArchive();
    const first = await history.archive({ now: history.whenAged(history.afterFirst) });
    const second = await history.archive({ now: history.longAfter() });
    if (!first.archived || !second.archived) throw new Error("nothing was archived");
    expect(second.archived).toMatchObject({
      sequence: 2,
      afterCheckpointSequence: 1,
      checkpointSequence: 2,
      digestsHash: digestsHashOf(history.rows.slice(10, 20)),
    });
    expect(await keptDigests(history, 1)).toEqual(digestsOf(history.rows.slice(0, 10)));
    expect(await keptDigests(history, 2)).toEqual(digestsOf(history.rows.slice(10, 20)));
    expect(await history.verify()).toMatchObject({
      intact: true,
      range: { afterCheckpoint: 2, archivedRows: 20 },
      linksToArchivedRows: 4,
    });
    expect(await verifyArchiveFiles([first.manifest, second.manifest], testKeys)).toMatchObject([
      { intact: true, archive: 1, rows: 10 },
      { intact: true, archive: 2, rows: 10, linksToEarlierArchives: 4, linksNotChecked: 0 },
    ]);
    // Alone, the second archive cannot show what its chains' first events link to.
    expect(await verifyArchiveFiles([second.manifest], testKeys)).toMatchObject([
      { intact: true, linksToEarlierArchives: 0, linksNotChecked: 4 },
    ]);
    // Given out of order, or one twice, the command line is wrong, not the history: refused before any is read
    // (they were reported BROKEN, as tampered archives are).
    await expect(verifyArchiveFiles([second.manifest, first.manifest], testKeys)).rejects.toThrow(
      new ManifestUnreadable(
        first.manifest,
        "archive 1 is given after archive 2: give the manifests oldest first, each once",
      ),
    );
    await expect(verifyArchiveFiles([first.manifest, first.manifest], testKeys)).rejects.toThrow(
      "archive 1 is given after archive 1: give the manifests oldest first, each once",
    );
    await history.close();
  });

  it("finds archives that do not join: the next begins after another checkpoint of the number the last ended at", async () => {
    const history = await historyToArchive();
    const first = await history.archive({ now: history.whenAged(history.afterFirst) });
    if (!first.archived) throw new Error("nothing was archived");
    // Another history signed by the same key, as a database restored from a backup and sealed again is: its
    // checkpoint 1 seals other rows. Its checkpoint 2 seals only first events of their chains (four more
    // patients), so no link of its second archive reaches back into the first archive given.
    const other = await databases.create();
    await other.begin();
    await other.seal();
    const between = await momentBetween();
    await new TestHistory(other.db).begin();
    await other.seal();
    await other.relayed();
    const directory = await mkdtemp(join(tmpdir(), "audit-archive-other-"));
    const client = await other.connection();
    const archive = (now: Date) => archiveHistory(client, testKey, { retentionDays: 1, directory, now });
    const day = 86_400_000;
    await archive(new Date(between.getTime() + day));
    const otherSecond = await archive(new Date(Date.now() + 2 * day));
    if (!otherSecond.archived) throw new Error("nothing was archived");
    expect(otherSecond.archived).toMatchObject({ sequence: 2, afterCheckpointSequence: 1 });

    expect(await verifyArchiveFiles([first.manifest, otherSecond.manifest], testKeys)).toMatchObject([
      { intact: true, archive: 1 },
      {
        intact: false,
        archive: 2,
        brokenLink: {
          problem: expect.stringMatching(
            /^it begins after another checkpoint 1 than the one archive 1 ended at .*: the archives are not of one history, or rows lie between them$/,
          ),
        },
      },
    ]);
    client.release();
    await other.close();
    await rm(directory, { recursive: true, force: true });
    await history.close();
  });

  it("keeps verifying aggregates whose every event was archived, against the heads the archive recorded", async () => {
    const history = await databases.create();
    await history.begin();
    await history.seal();
    const moment = await momentBetween();
    await history.round(history.patientIds.slice(0, 2));
    await history.seal();
    await history.relayed();
    const client = await history.connection();
    const directory = await mkdtemp(join(tmpdir(), "audit-archive-"));
    const outcome = await archiveHistory(client, testKey, {
      retentionDays: DEFAULT_AUDIT_RETENTION_DAYS,
      directory,
      now: new Date(moment.getTime() + DEFAULT_AUDIT_RETENTION_DAYS * 86_400_000),
    });
    expect(outcome.archived).toMatchObject({ rowCount: 5, headCount: 4 });
    // Patients 2 and 3 have no event left in the outbox; their recorded heads are the archived ones.
    expect(await verifyHistory(client, testKeys)).toMatchObject({
      intact: true,
      rows: 3,
      chainedAggregates: 2,
      linksToArchivedRows: 2,
    });
    client.release();
    await history.close();
    await rm(directory, { recursive: true, force: true });
  });

  it("refuses while a relay has not delivered every row up to the cut, and leaves no file", async () => {
    const history = await historyToArchive();
    const admin = await history.history.admin();
    await admin.query("UPDATE relay_checkpoints SET tx_id = '1', position = 0 WHERE name = 'outbox'");
    await expect(history.archive({ now: history.whenAged(history.afterFirst) })).rejects.toThrow(
      /relay outbox has not yet delivered/,
    );
    expect(await history.remaining()).toHaveLength(35);
    expect(await keptDigests(history)).toEqual([]);
    expect(await readdir(history.directory)).toEqual([]);
    await history.close();
  });

  it("refuses to write over another history's archive in the same directory, and leaves it as it was", async () => {
    // Two databases archived into one directory (the default .data/audit-archive/ of one checkout): each one's
    // first archive is outbox-archive-000001, and the first one's rows are no longer in its outbox.
    const first = await historyToArchive();
    const firstOutcome = await first.archive({ now: first.whenAged(first.afterFirst) });
    if (!firstOutcome.archived) throw new Error(firstOutcome.reason);
    const files = (await readdir(first.directory)).sort();
    const before = await Promise.all(files.map((name) => readFile(join(first.directory, name))));

    const second = await historyToArchive();
    await expect(
      second.archive({ now: second.whenAged(second.afterFirst), directory: first.directory }),
    ).rejects.toThrow(
      `refusing to archive: ${firstOutcome.manifest} exists already, an archive of another history`,
    );
    expect(await second.remaining()).toHaveLength(35);
    expect((await readdir(first.directory)).sort()).toEqual(files);
    expect(await Promise.all(files.map((name) => readFile(join(first.directory, name))))).toEqual(before);
    expect(await verifyArchiveFiles([firstOutcome.manifest], testKeys)).toMatchObject([
      { intact: true, archive: 1, rows: 10 },
    ]);
    // Its manifest alone left there (its archive file moved away) is not written over either.
    await rm(firstOutcome.file);
    await expect(
      second.archive({ now: second.whenAged(second.afterFirst), directory: first.directory }),
    ).rejects.toThrow(`refusing to archive: ${firstOutcome.manifest} exists already`);
    expect(await readFile(firstOutcome.manifest)).toEqual(
      before[files.indexOf("outbox-archive-000001.manifest.json")],
    );
    expect(await readdir(first.directory)).toEqual(["outbox-archive-000001.manifest.json"]);
    expect(await second.remaining()).toHaveLength(35);
    await second.close();
    await first.close();
  });

  it("refuses to archive up to a checkpoint whose signature does not hold, and leaves no file", async () => {
    const history = await historyToArchive();
    const admin = await history.history.admin();
    // Rows rewritten behind a checkpoint recomputed to match them, but signed by no one.
    await admin.query("UPDATE outbox_checkpoints SET signature = $1 WHERE sequence = 1", [Buffer.alloc(64)]);
    await expect(history.archive({ now: history.whenAged(history.afterFirst) })).rejects.toThrow(
      /refusing to archive: checkpoint 1 is signed neither by this key \(\w+\) nor by one it replaced/,
    );
    expect(await history.remaining()).toHaveLength(35);
    expect(await readdir(history.directory)).toEqual([]);
    await history.close();
  });

  // Each a span audit:verify finds broken that the archive's own checks (each row's hash, the running hash at the
  // cut, the signatures of the checkpoints it starts after and ends at) let through: archived, the outbox would
  // no longer show it, and the archive would sign it.
  const brokenSpans: [string, string, RegExp][] = [
    [
      "a row taken out of its patient's history",
      "UPDATE outbox SET patient_id = NULL WHERE position = $1",
      /position \d+: it is filed under no patient/,
    ],
    [
      "a row moved into another patient's history",
      "UPDATE outbox SET patient_id = gen_random_uuid() WHERE position = $1",
      /position \d+: it is filed under another patient/,
    ],
    [
      "a checkpoint inside the span whose signature does not hold",
      "UPDATE outbox_checkpoints SET signature = set_byte(signature, 0, get_byte(signature, 0) # 1) WHERE sequence = 1 AND $1::bigint > 0",
      /checkpoint 1: its signature does not match its content/,
    ],
    [
      "a checkpoint inside the span removed",
      "DELETE FROM outbox_checkpoints WHERE sequence = 1 AND $1::bigint > 0",
      /checkpoint 2: .*checkpoint 1 .*missing/,
    ],
  ];
  for (const [tampering, statement, problem] of brokenSpans) {
    it(`refuses to archive a span with ${tampering}, and leaves no file`, async () => {
      const history = await historyToArchive();
      const admin = await history.history.admin();
      // Row 6: patient 1's first patient.updated, sealed by checkpoint 1.
      await admin.query(statement, [history.position(6)]);
      const refusal = history.archive({ now: history.longAfter() });
      await expect(refusal).rejects.toThrow(
        /^refusing to archive: the history it would archive is broken \(/,
      );
      await expect(refusal).rejects.toThrow(problem);
      expect(await history.remaining()).toHaveLength(35);
      expect(await readdir(history.directory)).toEqual([]);
      await history.close();
    });
  }

  it("refuses while the polling relay has delivered nothing (no checkpoint), and not once Debezium publishes", async () => {
    // Without a checkpoint the polling relay starts from the beginning: what the archive deleted, it would never send.
    const history = await historyToArchive();
    const admin = await history.history.admin();
    await admin.query("DELETE FROM relay_checkpoints WHERE name = 'outbox'");
    await expect(history.archive({ now: history.whenAged(history.afterFirst) })).rejects.toThrow(
      /relay outbox has not yet delivered every event up to checkpoint 1/,
    );
    expect(await history.remaining()).toHaveLength(35);
    expect(await readdir(history.directory)).toEqual([]);

    // Debezium reads the archived rows' inserts from the WAL whether or not they are still in the outbox.
    await admin.query(
      "INSERT INTO relay_mode (singleton, mode, handover, changed_at) VALUES (true, 'debezium', '{}', now())",
    );
    const outcome = await history.archive({ now: history.whenAged(history.afterFirst) });
    expect(outcome.archived?.rowCount).toBe(10);
    expect(await history.remaining()).toHaveLength(25);
    await history.close();
  });

  it("finds an archive file that is not the one archived", async () => {
    const history = await historyToArchive();
    const outcome = await history.archive({ now: history.whenAged(history.afterFirst) });
    if (!outcome.archived) throw new Error(outcome.reason);
    const rows = await archivedRows(outcome.file);
    const changed = rows.map((row, index) =>
      index === 3 ? { ...row, payload: row.payload.replace("test-suite", "forged") } : row,
    );
    await writeFile(outcome.file, gzipSync(changed.map((row) => `${JSON.stringify(row)}\n`).join("")));
    expect(await verifyArchiveFiles([outcome.manifest], testKeys)).toMatchObject([
      { intact: false, brokenLink: { problem: expect.stringMatching(/sha256/) } },
    ]);
    await history.close();
  });

  it("finds an archive whose signed hash of its digests is not the hash of its rows' payload digests", async () => {
    const history = await historyToArchive();
    const outcome = await history.archive({ now: history.whenAged(history.afterFirst) });
    if (!outcome.archived) throw new Error(outcome.reason);
    // Signed by the archive's own key, as a faulty archiving would have: the digests' hash of other rows.
    const manifest = parseManifest(await readFile(outcome.manifest, "utf8"));
    const { signature: _, ...unsigned } = {
      ...manifest.archive,
      digestsHash: digestsHashOf(history.rows.slice(1, 11)),
    };
    const archive = { ...unsigned, signature: signArchive(unsigned, testKey.privateKey) };
    await writeFile(outcome.manifest, manifestText({ ...manifest, archive }));
    expect(await verifyArchiveFiles([outcome.manifest], testKeys)).toMatchObject([
      {
        intact: false,
        brokenLink: {
          archive: 1,
          problem:
            "the digests of its rows' payloads are not the ones it kept for consumers (their signed hash)",
        },
      },
    ]);
    await history.close();
  });

  it("finds a row an archive files under another patient than its envelope names (no hash covers the filing)", async () => {
    const history = await historyToArchive();
    const outcome = await history.archive({ now: history.whenAged(history.afterFirst) });
    if (!outcome.archived) throw new Error(outcome.reason);
    // Row 6 (patient 1's first update) taken out of the patient's history, and the archive signed over it again,
    // as an archiver that did not check the filing signed a database's misfiled row.
    const rows = await archivedRows(outcome.file);
    const misfiled = rows.map((row, index) => (index === 6 ? { ...row, patientId: null } : row));
    await writeFile(outcome.file, gzipSync(misfiled.map((row) => `${JSON.stringify(row)}\n`).join("")));
    const sha256 = await fileSha256(outcome.file);
    const manifest = parseManifest(await readFile(outcome.manifest, "utf8"));
    const { signature: _, ...unsigned } = { ...manifest.archive, fileSha256: sha256 };
    const archive = { ...unsigned, signature: signArchive(unsigned, testKey.privateKey) };
    await writeFile(outcome.manifest, manifestText({ ...manifest, sha256: sha256.toString("hex"), archive }));
    expect(await verifyArchiveFiles([outcome.manifest], testKeys)).toMatchObject([
      {
        intact: false,
        rows: 6,
        brokenLink: {
          position: history.position(6),
          problem: expect.stringMatching(/^it is filed under no patient, though its envelope names one/),
        },
      },
    ]);
    await history.close();
  });

  it("archives heads at positions of different lengths (9, 10, 11) in the order of their positions", async () => {
    // Twelve patients, one event each: the archive's heads are at positions 1 to 12, which sort otherwise as text.
    const history = await databases.create();
    for (let patient = 0; patient < 12; patient++)
      await writeTransaction(history.db, (tx) => appendEvents(tx, testEventContext(), [patientCreated()]));
    await history.seal();
    await history.relayed();
    const directory = await mkdtemp(join(tmpdir(), "audit-archive-"));
    const client = await history.connection();
    try {
      const outcome = await archiveHistory(client, testKey, {
        retentionDays: DEFAULT_AUDIT_RETENTION_DAYS,
        directory,
        now: new Date(Date.now() + (DEFAULT_AUDIT_RETENTION_DAYS + 1) * 86_400_000),
      });

      expect(outcome.archived).toMatchObject({ sequence: 1, rowCount: 12, headCount: 12 });
      expect(await verifyArchiveFiles([(outcome as { manifest: string }).manifest], testKeys)).toMatchObject([
        { intact: true, archive: 1, rows: 12 },
      ]);
    } finally {
      client.release();
      await history.close();
      await rm(directory, { recursive: true, force: true });
    }
  });
});
