// A large export over HTTP holds exactly what the database holds: 30,000 events of the platform's shapes (the
// query benchmark's generator, bench/largeHistory.ts, in a database of this file's own), exported as NDJSON
// through a real server and read as a stream, the count, the first and last event and a digest of every
// event's id and stored envelope, in order, compared with the outbox read on its own. The body is never held
// whole, here or in the server (whose memory bench:audit measures: bench/auditExport.bench.ts).
import { createHash, randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { largeHistoryDatabase } from "../../bench/largeHistory.ts";
import { createDatabase, type Database } from "../../db/client.ts";
import { historyReadable } from "../../test/auditHistory.ts";
import { databaseUrl } from "../../test/fixtures.ts";
import { onTestServer } from "../../test/ownDatabase.ts";
import { type ServedApp, serveApp } from "../../test/servedApp.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

// Thirty pages of the export and some thirty megabytes: many pages and chunks, in a test that stays short (the
// memory of exports up to 300,000 events is bench:audit's).
const EVENTS = 30_000;
const name = `export_large_${randomUUID().slice(0, 8)}`;
let db: Database;
let server: ServedApp;
let base: string;

beforeAll(async () => {
  const history = await largeHistoryDatabase(databaseUrl(), name, EVENTS, () => {});
  db = createDatabase(history.databaseUrl, { max: 3, applicationName: "tests" });
  // Below the oldest transaction running on the server, which an export reads up to.
  await historyReadable(db);
  server = await serveApp(testPlatform(db));
  base = server.base;
}, 600_000);

afterAll(async () => {
  server?.close();
  await db?.$client.end();
  await onTestServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
});

/** What a reader of the history finds: its count, first and last event, and the digest of ids and envelopes. */
interface Holding {
  count: number;
  first: string | undefined;
  last: string | undefined;
  digest: string;
}

/** Adds one event to a holding's running digest: its id and its envelope's text, as stored. */
function holder() {
  const hash = createHash("sha256");
  const held = { count: 0, first: undefined as string | undefined, last: undefined as string | undefined };
  return {
    add(eventId: string, envelope: string) {
      hash.update(`${eventId}\n${envelope}\n`);
      held.count++;
      held.first ??= eventId;
      held.last = eventId;
    },
    done: (): Holding => ({ ...held, digest: hash.digest("hex") }),
  };
}

/** The outbox in history order, read in keyset batches on a connection of its own. */
async function whatTheOutboxHolds(): Promise<Holding> {
  const client = new pg.Client({ connectionString: String(db.$client.options.connectionString) });
  await client.connect();
  const held = holder();
  try {
    let after = { txId: "0", position: "0" };
    for (;;) {
      const { rows } = await client.query<{
        txId: string;
        position: string;
        eventId: string;
        envelope: string;
      }>(
        `SELECT tx_id::text AS "txId", position::text AS position, event_id::text AS "eventId",
                payload::text AS envelope
           FROM outbox WHERE (tx_id, position) > ($1::xid8, $2::bigint)
          ORDER BY outbox.tx_id, outbox.position LIMIT 10000`,
        [after.txId, after.position],
      );
      for (const row of rows) held.add(row.eventId, row.envelope);
      if (rows.length < 10_000) return held.done();
      after = rows.at(-1) as (typeof rows)[number];
    }
  } finally {
    await client.end();
  }
}

describe("a large export", () => {
  it("holds every event the outbox holds, in order, each envelope as stored, and ends with its completion line", async () => {
    const expected = await whatTheOutboxHolds();
    expect(expected.count).toBe(EVENTS);

    const auditor = await caller("auditor");
    const response = await fetch(`${base}/audit/events/export?format=ndjson`, { headers: auditor.headers() });
    expect(response.status).toBe(200);
    const held = holder();
    const lines: string[] = [];
    let rest = "";
    let bytes = 0;
    const decoder = new TextDecoder();
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.byteLength;
      const text = rest + decoder.decode(chunk, { stream: true });
      const end = text.lastIndexOf("\n");
      rest = text.slice(end + 1);
      for (const line of text.slice(0, end).split("\n")) {
        if (line.startsWith('{"exportComplete"')) {
          lines.push(line);
          continue;
        }
        const envelopeAt = line.indexOf(',"envelope":');
        const { eventId } = JSON.parse(`${line.slice(0, envelopeAt)}}`) as { eventId: string };
        held.add(eventId, line.slice(envelopeAt + ',"envelope":'.length, -1));
      }
    }
    expect(rest).toBe("");
    expect(lines).toEqual([`{"exportComplete":true,"events":${EVENTS}}`]);
    expect(held.done()).toEqual(expected);
    // Large enough to matter: many times the page (1,000 events) and the chunk (a megabyte) the server reads at once.
    expect(bytes).toBeGreaterThan(20 * 1024 * 1024);
  }, 600_000);
});
