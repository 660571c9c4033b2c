// A large outbox for the query benchmark (auditQueries.bench.ts), made with set-based SQL in its own database
// and kept there, so that the next run reuses it instead of spending minutes on it again.
//
// The rows look like the platform's: requests (one transaction, one correlation id each) of one to three
// events of the catalog's types, about ~100,000 patients of very unequal activity, by staff, by the patients
// themselves or by background jobs, over two years, with the example payloads of events/examples.ts in real
// envelopes. Their hashes are not the chain's (any 32 bytes): this history is for reading, not verifying.
import { createHash } from "node:crypto";
import pg from "pg";
import { startProgress } from "../cli/progress.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { exampleData } from "../events/examples.ts";
import { type EventType, eventDefinition, eventTypes } from "../events/index.ts";

/** Patients, numbered 0..PATIENTS-1; patient n is `patientId(n)`. Lower numbers have more events. */
export const PATIENTS = 100_000;
/** Staff and providers who act on patients' records, with very unequal activity too. */
const STAFF = 5_000;
/** The history spans two years from here, one request after the other. */
export const HISTORY_START = new Date("2024-01-01T00:00:00Z");
export const HISTORY_DAYS = 730;
/** Rows per transaction while loading: a chunk commits in well under a minute. */
const CHUNK_ROWS = 1_000_000;
/** Bump when the rows' shape changes, so that an older database is rebuilt rather than reused. */
const GENERATOR_VERSION = 2;

type Actor = "staff" | "patientOrStaff" | "system";

/** What the platform does, how often (relative weights), and the events each request appends. */
interface RequestKind {
  weight: number;
  source: string;
  actor: Actor;
  events: EventType[];
}

const requestKinds: RequestKind[] = [
  // Every read of a record is audited: the most frequent event of all.
  { weight: 30, source: "patient-service", actor: "staff", events: ["audit.data.accessed"] },
  {
    weight: 10,
    source: "patient-service",
    actor: "patientOrStaff",
    events: ["patient.updated", "audit.data.modified"],
  },
  {
    weight: 2,
    source: "patient-service",
    actor: "patientOrStaff",
    events: ["patient.consent.changed", "audit.data.modified"],
  },
  {
    weight: 1,
    source: "patient-service",
    actor: "staff",
    events: ["patient.created", "audit.data.modified", "notification.email.requested"],
  },
  {
    weight: 0.1,
    source: "patient-service",
    actor: "staff",
    events: ["patient.deleted", "audit.data.modified"],
  },
  {
    weight: 8,
    source: "appointment-service",
    actor: "patientOrStaff",
    events: ["appointment.booked", "audit.data.modified", "notification.email.requested"],
  },
  {
    weight: 6,
    source: "appointment-service",
    actor: "system",
    events: ["appointment.reminder", "notification.sms.requested"],
  },
  {
    weight: 6,
    source: "appointment-service",
    actor: "staff",
    events: ["appointment.completed", "audit.data.modified"],
  },
  {
    weight: 2,
    source: "appointment-service",
    actor: "patientOrStaff",
    events: ["appointment.cancelled", "audit.data.modified", "notification.email.requested"],
  },
  {
    weight: 5,
    source: "document-service",
    actor: "patientOrStaff",
    events: ["document.uploaded", "audit.data.modified"],
  },
  {
    weight: 5,
    source: "document-service",
    actor: "system",
    events: ["document.processed", "notification.push.requested"],
  },
  {
    weight: 1,
    source: "document-service",
    actor: "patientOrStaff",
    events: ["consent.given", "audit.data.modified"],
  },
  {
    weight: 0.5,
    source: "document-service",
    actor: "staff",
    events: ["document.deleted", "audit.data.modified"],
  },
  {
    weight: 4,
    source: "ai-service",
    actor: "system",
    events: ["ai.prediction.generated", "ai.insight.created"],
  },
  { weight: 0.1, source: "ai-service", actor: "system", events: ["ai.model.performance.updated"] },
  { weight: 0.02, source: "ai-service", actor: "system", events: ["ai.model.trained"] },
  { weight: 8, source: "login-audit-service", actor: "patientOrStaff", events: ["audit.login.attempt"] },
  { weight: 0.3, source: "patient-service", actor: "staff", events: ["audit.compliance.violation"] },
];

// A type added to the catalog since this list was written still shows up, as a rare request of its own.
for (const type of eventTypes) {
  if (!requestKinds.some((kind) => kind.events.includes(type))) {
    requestKinds.push({ weight: 0.05, source: "bench", actor: "staff", events: [type] });
  }
}

if (requestKinds.some((kind) => kind.events.length > 8)) {
  throw new Error(
    "a request kind has more than 8 events: aggregate_version = request * 8 + step would collide",
  );
}

const totalWeight = requestKinds.reduce((sum, kind) => sum + kind.weight, 0);
const eventsPerRequest =
  requestKinds.reduce((sum, kind) => sum + kind.weight * kind.events.length, 0) / totalWeight;

const examplePatientId = exampleData["patient.created"].patientId;

/** One row per event of each request kind: what the SQL needs to write it. */
const steps = requestKinds.flatMap((kind, kindIndex) =>
  kind.events.map((type, step) => {
    const definition = eventDefinition(type);
    const data = exampleData[type] as unknown as { patientId?: unknown };
    return {
      kind: kindIndex,
      step,
      event_type: type,
      topic: definition.topic,
      aggregate_type: definition.aggregateType,
      keyed_by: definition.keyedBy,
      source: kind.source,
      // The example's data, in which its patient and its aggregate's id are replaced with the row's.
      template: JSON.stringify(data),
      example_aggregate_id: definition.aggregateId(data as never),
      concerns_patient: typeof data.patientId === "string",
    };
  }),
);

/**
 * The id of patient n, as the SQL makes it: md5('patient-' || n) with the version and variant digits of a
 * random (version 4) UUID, which the event catalog requires of a patient's id: the auditor API records an
 * access naming each patient whose events it returns, and refuses to write one naming a malformed id.
 */
export function patientId(n: number): string {
  const md5 = createHash("md5").update(`patient-${n}`).digest("hex");
  const hex = `${md5.slice(0, 12)}4${md5.slice(13, 16)}8${md5.slice(17)}`;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// One chunk of requests g = $2..$3, each appended in its own (made-up, past) transaction $4 + g. Request g
// happens at HISTORY_START + g * $9 seconds. Patients and staff are drawn as floor(count * random()^2): the
// lowest numbers are by far the busiest (patient 0 has ~0.3% of all events), the highest have about half
// the mean. Rows come out in request order (a nested loop over generate_series), so that positions follow
// transaction ids as they do in a live outbox, and the LIMIT cuts the last chunk at the requested size.
const insertChunk = `
WITH steps AS MATERIALIZED (
  SELECT * FROM json_to_recordset($1::json) AS step(kind int, step int, event_type text, topic text,
    aggregate_type text, keyed_by text, source text, template text, example_aggregate_id text,
    concerns_patient boolean)
)
INSERT INTO outbox (tx_id, event_id, event_type, aggregate_type, aggregate_id, aggregate_version, topic,
                    message_key, payload, correlation_id, traceparent, created_at, previous_hash, hash, patient_id)
SELECT ($4::bigint + g)::text::xid8, event_id, event_type, aggregate_type, aggregate_id,
       CASE WHEN keyed_by = 'aggregate' THEN g * 8 + step END,
       topic, CASE WHEN keyed_by = 'aggregate' THEN aggregate_id ELSE event_id::text END,
       envelope::json, correlation_id, traceparent, created_at,
       CASE WHEN keyed_by = 'aggregate' THEN sha256(int8send(g * 8 + step - 1)) END,
       sha256(convert_to(envelope, 'UTF8')),
       CASE WHEN concerns_patient THEN patient_id END
  FROM (
    SELECT event.*,
           '{"eventId":"' || event_id || '","eventType":"' || event_type || '","timestamp":"'
           || to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
           || '","source":"' || source || '","version":"1.0","data":'
           || replace(replace(template, $6, patient_id::text), example_aggregate_id, aggregate_id)
           || ',"metadata":{"correlationId":"' || correlation_id || '","userId":'
           || CASE WHEN user_id IS NULL THEN 'null,"ipAddress":null,"userAgent":null,"sessionId":null}}'
              ELSE '"' || user_id || '","ipAddress":"10.' || g % 250 || '.' || g / 250 % 250 || '.'
                   || g / 62500 % 250 || '","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) '
                   || 'AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36","sessionId":"'
                   || md5('session-' || user_id || '-' || g / 1000)::uuid || '"}}' END AS envelope
      FROM (
        SELECT request.*, step.*, gen_random_uuid() AS event_id,
               CASE step.aggregate_type
                 WHEN 'patient' THEN request.patient_id::text
                 -- A patient's appointments and documents: one per fortnight, one per quarter.
                 WHEN 'appointment' THEN md5('appointment-' || patient_no || '-' || g / $7)::uuid::text
                 WHEN 'document' THEN md5('document-' || patient_no || '-' || g / ($7 * 6))::uuid::text
                 WHEN 'actor' THEN coalesce(user_id, staff_id)::text
                 WHEN 'model' THEN md5('model-' || g % 3)::uuid::text
                 ELSE gen_random_uuid()::text
               END AS aggregate_id
          FROM (
            SELECT g, kind, patient_no, overlay(overlay(md5('patient-' || patient_no) placing '4' from 13) placing '8' from 17)::uuid AS patient_id, staff_id,
                   CASE ($8::text[])[kind + 1]
                     WHEN 'system' THEN NULL
                     WHEN 'staff' THEN staff_id
                     ELSE CASE WHEN by_patient THEN md5('patient-user-' || patient_no)::uuid ELSE staff_id END
                   END AS user_id,
                   md5('request-' || g)::uuid AS correlation_id,
                   CASE WHEN g % 2 = 0 THEN '00-' || md5('trace-' || g) || '-' || left(md5('span-' || g), 16) || '-01'
                   END AS traceparent,
                   $10::timestamptz + g * ($9::float8 * interval '1 second') AS created_at
              FROM (
                SELECT g, width_bucket(random(), $5::float8[]) AS kind,
                       floor(${PATIENTS} * random() ^ 2)::int AS patient_no,
                       md5('staff-' || floor(${STAFF} * random() ^ 2)::int)::uuid AS staff_id,
                       random() < 0.3 AS by_patient
                  FROM generate_series($2::bigint, $3::bigint) AS g
              ) AS drawn
          ) AS request
          CROSS JOIN LATERAL (SELECT * FROM steps WHERE steps.kind = request.kind) AS step
      ) AS event
     OFFSET 0 -- keeps each envelope built once, not once per column that uses it
  ) AS outbox_row
 LIMIT $11`;

export interface LargeHistory {
  databaseUrl: string;
  /** How long building it took, this run or the one that built it. */
  buildSeconds: number;
  reused: boolean;
}

interface BuildRecord {
  generator: number;
  rows: number;
  buildSeconds: number;
}

/**
 * The database `name` on `serverUrl`, holding an outbox of exactly `rows` events: the one a previous run
 * built if it completed with the same size and generator, else built now (dropped and made again).
 */
export async function largeHistoryDatabase(
  serverUrl: string,
  name: string,
  rows: number,
  log: (line: string) => void,
): Promise<LargeHistory> {
  const databaseUrl = withDatabase(serverUrl, name);
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    // The database's comment is written last: it is there only when a build completed.
    const found = await admin.query<{ comment: string | null }>(
      `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
      [name],
    );
    const record = parseRecord(found.rows[0]?.comment ?? null);
    if (record?.generator === GENERATOR_VERSION && record.rows === rows) {
      // Migrations added since it was built are applied to it (a new index is built over the rows as they are).
      await migrateDatabase(databaseUrl);
      return { databaseUrl, buildSeconds: record.buildSeconds, reused: true };
    }
    const started = performance.now();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
    await migrateDatabase(databaseUrl);
    await fill(databaseUrl, rows, log);
    const buildSeconds = (performance.now() - started) / 1000;
    const built: BuildRecord = { generator: GENERATOR_VERSION, rows, buildSeconds };
    await admin.query(`COMMENT ON DATABASE ${name} IS '${JSON.stringify(built)}'`);
    return { databaseUrl, buildSeconds, reused: false };
  } finally {
    await admin.end();
  }
}

async function fill(databaseUrl: string, rows: number, log: (line: string) => void): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: "bench-large-history" });
  await client.connect();
  try {
    // Building the migrations' indexes once over the loaded rows is several times faster than keeping them up
    // to date row by row; the primary key stays (positions only ever grow, which it keeps cheaply).
    const indexes = await client.query<{ name: string; definition: string }>(
      `SELECT indexname AS name, indexdef AS definition FROM pg_indexes
        WHERE schemaname = current_schema() AND tablename = 'outbox' AND indexname <> 'outbox_pkey'`,
    );
    for (const index of indexes.rows) await client.query(`DROP INDEX ${index.name}`);

    const firstTx = BigInt((await client.query("SELECT pg_current_xact_id()::text AS xid")).rows[0].xid);
    const requests = Math.ceil(rows / eventsPerRequest);
    const perRequestSeconds = (HISTORY_DAYS * 86_400) / requests;
    const requestsPerFortnight = Math.max(1, Math.round((14 * 86_400) / perRequestSeconds));
    const chunkRequests = Math.ceil(CHUNK_ROWS / eventsPerRequest);
    let cumulative = 0;
    const thresholds = requestKinds.slice(0, -1).map((kind) => {
      cumulative += kind.weight / totalWeight;
      return cumulative;
    });
    await client.query("SET work_mem = '64MB'");
    let written = 0;
    let nextRequest = 0;
    const progress = startProgress({ label: "build history", total: rows });
    for (let chunk = 0; written < rows; chunk++) {
      // The last chunk draws a few more requests than the rows left need, not a whole chunk's worth: every
      // request drawn is a transaction id to move the server past below.
      const requestsDrawn = Math.min(
        chunkRequests,
        Math.ceil(((rows - written) / eventsPerRequest) * 1.05) + 100,
      );
      // Each chunk draws the same rows on every build.
      await client.query("SELECT setseed($1)", [(chunk % 1000) / 1000]);
      const result = await client.query(insertChunk, [
        JSON.stringify(steps),
        nextRequest,
        nextRequest + requestsDrawn - 1,
        String(firstTx),
        thresholds,
        examplePatientId,
        requestsPerFortnight,
        requestKinds.map((kind) => kind.actor),
        perRequestSeconds,
        HISTORY_START,
        rows - written,
      ]);
      written += result.rowCount ?? 0;
      nextRequest += requestsDrawn;
      progress.advance(result.rowCount ?? 0);
    }
    progress.finish("rows written");

    // The rows name transactions up to firstTx + nextRequest, made up: move the server's transaction counter
    // past them, or readers that stop at the oldest running transaction (the auditor API, the relay) would
    // take them for transactions still running. Empty transactions, so cheap: ~200,000 a second.
    const lastTx = firstTx + BigInt(nextRequest);
    await client.query("SET synchronous_commit = off");
    for (;;) {
      const current = BigInt((await client.query("SELECT pg_current_xact_id()::text AS xid")).rows[0].xid);
      if (current > lastTx) break;
      const count = Number(lastTx - current + 1n < 1_000_000n ? lastTx - current + 1n : 1_000_000n);
      await client.query(
        `DO $$ BEGIN FOR i IN 1..${count} LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$`,
      );
    }
    await client.query("RESET synchronous_commit");

    await client.query("SET maintenance_work_mem = '1GB'");
    for (const index of indexes.rows) {
      const started = performance.now();
      await client.query(index.definition);
      log(`  index ${index.name} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    }
    // Sets the visibility map and the planner's statistics, as autovacuum would have on a live outbox.
    const started = performance.now();
    await client.query("VACUUM (ANALYZE) outbox");
    log(`  vacuum and analyze (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  } finally {
    await client.end();
  }
}

function parseRecord(comment: string | null): BuildRecord | undefined {
  if (comment === null) return undefined;
  try {
    return JSON.parse(comment) as BuildRecord;
  } catch {
    return undefined;
  }
}

function withDatabase(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
