// Tampering with what remains after archiving, each kind done in SQL as an administrator who bypasses the
// triggers: verification, now starting from the archive's checkpoint, still finds it and names the first
// broken link. Each test has a database of its own.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changePayload, freshDatabases, historyToArchive } from "../test/auditHistories.ts";
import type { HistoryRow } from "./sql/historyRows.ts";

const databases = freshDatabases("audit_archived");
beforeAll(databases.setUp);
afterAll(databases.tearDown);

type Archived = Awaited<ReturnType<typeof historyToArchive>>;

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
      "an archived event's digest added, which would pass a forged record as archived",
      async (history) => {
        const admin = await history.history.admin();
        await admin.query(
          "INSERT INTO outbox_archived_digests (event_id, payload_sha256) VALUES (gen_random_uuid(), sha256('forged'))",
        );
      },
      {
        problem:
          "outbox_archived_digests holds 11 digests, but the archives that keep them archived 10 events: a digest was added or removed",
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
      { problem: expect.stringMatching(/holds 9 digests, but .* archived 10 events/) },
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
