// Tampering with what remains after archiving, each kind done in SQL as an administrator who bypasses the
// triggers: verification, now starting from the archive's checkpoint, still finds it and names the first
// broken link. Each test has a database of its own.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changePayload, freshDatabases, historyToArchive } from "../test/auditHistories.ts";
import { DigestsHash } from "./archive.ts";
import type { HistoryRow } from "./sql/historyRows.ts";

const databases = freshDatabases("audit_archived");
beforeAll(databases.setUp);
afterAll(databases.tearDown);

type Archived = Awaited<ReturnType<typeof historyToArchive>>;

/** What verification says of an archive whose kept digests (`count` of them now) are not the ones it signed. */
const digestsChanged = (count: number) =>
  `the digests it kept of its events (${count}, for 10 events) do not match its signed hash: a digest was changed, added or removed`;

describe("tampering with the history after archiving", () => {
  const tamperings: Array<[string, (history: Archived) => Promise<void>, Record<string, unknown>]> = [
    [
      "a remaining row's payload changed",
      (history) => changePayload(history.history, history.position(12)),
      { position: "12", problem: expect.stringMatching(/content/) },
    ],
    [
      "the first remaining event of a chain removed (the one linked to the archive)",
      async (history) => {
        const admin = await history.history.admin();
        await admin.query("DELETE FROM outbox WHERE position = $1", [history.position(10)]);
      },
      { checkpoint: 2, problem: expect.stringMatching(/removed/) },
    ],
    [
      "an unsealed event removed from the middle of its chain",
      async (history) => {
        const admin = await history.history.admin();
        await admin.query("DELETE FROM outbox WHERE position = $1", [history.position(25)]);
      },
      { position: "30", problem: expect.stringMatching(/no archive holds it/) },
    ],
    [
      "a chain head the archive recorded changed",
      async (history) => {
        const admin = await history.history.admin();
        await admin.query(
          "UPDATE outbox_archive_heads SET hash = sha256(hash) WHERE position = (SELECT min(position) FROM outbox_archive_heads)",
        );
      },
      { archive: 1, problem: expect.stringMatching(/chain heads/) },
    ],
    [
      "an archived row put back into the outbox",
      async (history) => {
        const admin = await history.history.admin();
        const row = history.rows[4] as HistoryRow;
        await admin.query(
          `INSERT INTO outbox (position, tx_id, event_id, event_type, aggregate_type, aggregate_id, aggregate_version,
             topic, message_key, payload, correlation_id, traceparent, created_at, previous_hash, hash)
           OVERRIDING SYSTEM VALUE VALUES ($1, $2::xid8, $3, $4, $5, $6, $7, $8, $9, $10::json, $11, $12, $13, $14, $15)`,
          [
            row.position,
            row.txId,
            row.eventId,
            row.eventType,
            row.aggregateType,
            row.aggregateId,
            row.aggregateVersion,
            row.topic,
            row.messageKey,
            row.payload,
            row.correlationId,
            row.traceparent,
            row.createdAt,
            row.previousHash,
            row.hash,
          ],
        );
      },
      { archive: 1, position: "4", problem: expect.stringMatching(/at or before the cut/) },
    ],
    [
      "the archive record changed",
      async (history) => {
        const admin = await history.history.admin();
        await admin.query("UPDATE outbox_archives SET row_count = row_count + 1");
      },
      { archive: 1, problem: expect.stringMatching(/signature/) },
    ],
    [
      "an archived event's digest changed in place, which would pass a forged record as archived",
      async (history) => {
        const admin = await history.history.admin();
        await admin.query(
          "UPDATE outbox_archived_digests SET payload_sha256 = sha256('forged') WHERE event_id = $1",
          [history.rows[3]?.eventId],
        );
      },
      { archive: 1, problem: digestsChanged(10) },
    ],
    [
      "two archived events' digests swapped",
      async (history) => {
        const admin = await history.history.admin();
        const swapped = await admin.query(
          `UPDATE outbox_archived_digests kept SET payload_sha256 = other.payload_sha256
             FROM outbox_archived_digests other
            WHERE (kept.event_id, other.event_id) IN (($1::uuid, $2::uuid), ($2::uuid, $1::uuid))`,
          [history.rows[1]?.eventId, history.rows[6]?.eventId],
        );
        if (swapped.rowCount !== 2) throw new Error("the two digests were not swapped");
      },
      { archive: 1, problem: digestsChanged(10) },
    ],
    [
      "an archived event's digest added to the archive",
      async (history) => {
        const admin = await history.history.admin();
        await admin.query(
          `INSERT INTO outbox_archived_digests (event_id, payload_sha256, archive_sequence)
           VALUES (gen_random_uuid(), sha256('forged'), 1)`,
        );
      },
      { archive: 1, problem: digestsChanged(11) },
    ],
    [
      "an archived event's digest added to no archive, as if kept before archives signed their digests",
      async (history) => {
        const admin = await history.history.admin();
        await admin.query(
          "INSERT INTO outbox_archived_digests (event_id, payload_sha256) VALUES (gen_random_uuid(), sha256('forged'))",
        );
      },
      {
        problem:
          "outbox_archived_digests holds 1 digests of no archive, but the archives that kept digests before they signed their hash (migration 0031) archived 0 events: a digest was added or removed",
      },
    ],
    [
      "an archived event's digest added to an archive never recorded",
      async (history) => {
        const admin = await history.history.admin();
        await admin.query(
          `INSERT INTO outbox_archived_digests (event_id, payload_sha256, archive_sequence)
           VALUES (gen_random_uuid(), sha256('forged'), 2)`,
        );
      },
      {
        problem:
          "outbox_archived_digests holds 11 digests, but the archives that keep them archived 10 events: a digest was added to no archive that covers it",
      },
    ],
    [
      "an archived event's digest removed",
      async (history) => {
        const admin = await history.history.admin();
        await admin.query(
          "DELETE FROM outbox_archived_digests WHERE event_id = (SELECT event_id FROM outbox_archived_digests LIMIT 1)",
        );
      },
      { archive: 1, problem: digestsChanged(9) },
    ],
    [
      "an archived event's digest taken from its archive",
      async (history) => {
        const admin = await history.history.admin();
        await admin.query("UPDATE outbox_archived_digests SET archive_sequence = NULL WHERE event_id = $1", [
          history.rows[2]?.eventId,
        ]);
      },
      { archive: 1, problem: digestsChanged(9) },
    ],
    [
      "the archive's signed hash of its digests changed to match digests changed",
      async (history) => {
        const admin = await history.history.admin();
        await admin.query(
          "UPDATE outbox_archived_digests SET payload_sha256 = sha256('forged') WHERE event_id = $1",
          [history.rows[3]?.eventId],
        );
        const { rows } = await admin.query<{ eventId: string; digest: Buffer }>(
          `SELECT event_id::text AS "eventId", payload_sha256 AS digest FROM outbox_archived_digests ORDER BY event_id`,
        );
        const hash = new DigestsHash();
        for (const row of rows) hash.add({ eventId: row.eventId, payloadSha256: row.digest });
        await admin.query("UPDATE outbox_archives SET digests_hash = $1", [hash.digest()]);
      },
      { archive: 1, problem: expect.stringMatching(/signature/) },
    ],
    [
      "the archive's hash of its digests taken away, as if recorded before archives signed one",
      async (history) => {
        const admin = await history.history.admin();
        await admin.query("UPDATE outbox_archives SET digests_hash = NULL");
        await admin.query("UPDATE outbox_archived_digests SET archive_sequence = NULL");
      },
      { archive: 1, problem: expect.stringMatching(/signature/) },
    ],
    [
      "the archive said to keep no digests, as if recorded before archives kept them",
      async (history) => {
        const admin = await history.history.admin();
        await admin.query("UPDATE outbox_archives SET digests_kept = false");
      },
      { archive: 1, problem: "it says it kept no digests of its events, though it signed their hash" },
    ],
  ];

  for (const [tampering, tamper, expected] of tamperings) {
    it(`finds ${tampering}`, async () => {
      const history = await historyToArchive(await databases.create());
      const outcome = await history.archive({ now: history.whenAged(history.afterFirst) });
      if (!outcome.archived) throw new Error(outcome.reason);
      expect(await history.verify()).toMatchObject({ intact: true });
      await tamper(history);
      // Positions in `expected` are row indexes in the history written before archiving.
      const positions = Object.fromEntries(
        Object.entries(expected).map(([field, value]) => [
          field,
          field === "position" ? history.position(Number(value)) : value,
        ]),
      );
      expect(await history.verify()).toMatchObject({ intact: false, brokenLink: positions });
      await history.close();
    });
  }
});
