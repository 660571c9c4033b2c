// The auditor API: the outbox history queried by patient, aggregate, acting user, event type, correlation id
// and time, page by page or exported as a stream; one event with its delivery status; and the verification
// of the history, whole or a range. Auditors only; every query is itself recorded as an audit.data.accessed
// event, in a transaction of its own, before any of what it read leaves the server: one per patient whose
// events it returns, so that "who saw this patient's data" finds it whatever the filter. Records of access are
// nobody's data: reading them records nothing more (else every page would write the next one).
import type { KeyObject } from "node:crypto";
import type { Context } from "hono";
import type { Registry } from "prom-client";
import { type HistoryRange, historyRange, RangeProblem } from "../../audit/historySpan.ts";
import { type VerificationOutcome, verificationMetrics } from "../../audit/metrics.ts";
import { loadSigningKey } from "../../audit/signingKey.ts";
import {
  type RememberedCheckpoint,
  type VerificationReport,
  verifyHistory,
} from "../../audit/verifyHistory.ts";
import { type Database, writeTransaction } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import type { NewEvent } from "../../events/index.ts";
import type { Logger } from "../../observability/logger.ts";
import { requireAcceptable } from "../http/acceptable.ts";
import { actorRole } from "../http/auditEvents.ts";
import { eventContext } from "../http/eventContext.ts";
import { json, problem, retryLater, securedRoute } from "../http/openapi.ts";
import { entityTagHeader, streamedAnswer } from "../http/preconditions.ts";
import { HttpProblem } from "../http/problem.ts";
import { createRouter, type ServiceEnv } from "../http/service.ts";
import { exportFormats } from "./exportFormats.ts";
import { ArchivedWhileExporting, exportStream } from "./exportStream.ts";
import { NamedPatients } from "./namedPatients.ts";
import {
  decodeCursor,
  encodeCursor,
  eventIdParam,
  eventResponse,
  exportBodies,
  exportQuery,
  historyFilter,
  historyPageResponse,
  historyQuery,
  notIssuedCursor,
  verificationResponse,
  verifyQuery,
} from "./schemas.ts";
import { archivedPast, archiveOfEvent, newestArchiveCut } from "./sql/archivedPast.ts";
import { eventWithDelivery } from "./sql/eventDelivery.ts";
import {
  type HistoryEvent,
  type HistoryPlace,
  historyEventsAt,
  historyHolds,
  historyHorizon,
  historyPlaces,
  START_OF_HISTORY,
} from "./sql/historyPage.ts";
import { relayedBy, relayProgress } from "./sql/relayProgress.ts";
import { VERIFY_RETRY_AFTER_SECONDS, VerificationSlots } from "./verificationSlots.ts";

export const AUDIT_SERVICE = "audit-service";

/** Public keys by key id, for the signatures of the history's checkpoints. */
export type CheckpointKeys = () => Promise<ReadonlyMap<string, KeyObject>>;

/**
 * The key the checkpoint sealer signs with (AUDIT_SIGNING_KEY, or the development key), and those it replaced
 * (AUDIT_PREVIOUS_PUBLIC_KEYS).
 */
export const configuredCheckpointKeys: CheckpointKeys = async () => loadSigningKey().trusted;

/** Rows per keyset page while exporting: the places read at once (their events a chunk at a time). */
const EXPORT_PAGE = 1000;
/** The patients an export remembers having named (apps/audit/namedPatients.ts): a few megabytes at most. */
const EXPORT_NAMED_PATIENTS = 50_000;

const access = { source: AUDIT_SERVICE, resource: "audit_history", roles: ["auditor"] as const };

const routes = {
  list: securedRoute(access, {
    method: "get",
    path: "/audit/events",
    summary: "Query the history, in commit order, a page at a time (emits audit.data.accessed)",
    description:
      "Filters combine (AND). Pages never skip or repeat an event while new ones are written: only events of transactions older than every running one are read.",
    request: { query: historyQuery },
    responses: {
      200: {
        description: "A page of events",
        headers: {
          ETag: {
            description: `${entityTagHeader.ETag.description} Absent on a page of more than a megabyte of envelopes, which is streamed as it is read: the tag is a digest of the whole body.`,
            schema: { type: "string" },
          },
        },
        content: json(historyPageResponse),
      },
      400: problem("Invalid filter or cursor"),
    },
  }),
  export: securedRoute(access, {
    method: "get",
    path: "/audit/events/export",
    summary: "Export the events a query matches, streamed as NDJSON or CSV (emits audit.data.accessed)",
    description:
      "One cut of the history: the events of transactions that had ended when the export started. " +
      "Each event's `createdAt` (the NDJSON field, the CSV column) is as GET /audit/events answers it: UTC, to the microsecond stored, three fraction digits on a whole millisecond and six otherwise. " +
      'A whole export ends with its completion line, after the last event: `{"exportComplete":true,"events":<n>}` ' +
      "in NDJSON, and in CSV a row whose first field is `# export complete: <n> events` and whose ten others are " +
      "empty; n counts the events above it. Should the export fail after this 200 has been sent, the connection " +
      "is broken off without the last chunk of the chunked body (the client sees an incomplete transfer) and no " +
      "completion line is sent: take an export without it for cut off, never for whole.",
    request: { query: exportQuery },
    responses: {
      200: {
        description: "One event per line, then the completion line",
        headers: {
          "Content-Disposition": {
            description:
              '`attachment; filename="audit-history.ndjson"` (or `.csv`): a browser saves the export as a file.',
            schema: { type: "string" },
          },
        },
        content: {
          "application/x-ndjson": { schema: exportBodies.ndjson },
          "text/csv": { schema: exportBodies.csv },
        },
      },
      400: problem("Invalid filter"),
    },
  }),
  get: securedRoute(access, {
    method: "get",
    path: "/audit/events/{eventId}",
    summary: "One event, with whether the relay has delivered it (emits audit.data.accessed)",
    request: { params: eventIdParam },
    responses: {
      200: { description: "The event", content: json(eventResponse) },
      404: problem("No event has this id"),
    },
  }),
  verify: securedRoute(access, {
    method: "get",
    path: "/audit/verify",
    summary:
      "Verify the history's hashes, chains and signed checkpoints, whole or a range (emits audit.data.accessed)",
    description:
      "A range by position (from, to) or by time (since, until: through the checkpoints' sealing times) always starts right after a sealed checkpoint, whose signed running hash anchors it, so every checkpoint inside is recomputed; links to events before the range are checked against their stored hashes. The answer names the span verified.",
    request: { query: verifyQuery },
    responses: {
      200: {
        description: "Intact up to a position, or the first broken link",
        content: json(verificationResponse),
      },
      400: problem("Invalid range, or a position the outbox does not hold"),
      503: retryLater("As many verifications as allowed are running; retry after the Retry-After seconds"),
    },
  }),
};

export interface AuditRouteOptions {
  /** Where an export cut off by a failure is reported. */
  log: Logger;
  /** Verifications that may run at once (AUDIT_VERIFY_CONCURRENCY); each holds a pooled connection. */
  concurrentVerifications?: number;
  /** Where `audit_verifications_total` is counted. */
  registry?: Registry;
}

export const DEFAULT_CONCURRENT_VERIFICATIONS = 2;

export function auditRoutes(
  db: Database,
  checkpointKeys: CheckpointKeys,
  { log, concurrentVerifications = DEFAULT_CONCURRENT_VERIFICATIONS, registry }: AuditRouteOptions,
) {
  const verifications = new VerificationSlots(concurrentVerifications);
  const outcomes = registry ? verificationMetrics(registry) : null;
  return (
    createRouter()
      .openapi(routes.list, async (c) => {
        const query = c.req.valid("query");
        const filter = historyFilter(query);
        const after = query.cursor === undefined ? START_OF_HISTORY : decodeCursor(query.cursor, filter);
        if (!(await historyHolds(db.$client, after))) throw notIssuedCursor();
        // The page's places first, then its events a chunk of envelopes at a time: a page of a thousand large
        // events is never in memory at once. The first chunk (the whole page, unless its envelopes are over
        // HISTORY_CHUNK_BYTES) is read before anything is answered, so that its failure is a 500; a page
        // larger than that is streamed, and broken off, incomplete, if a later chunk fails (exportStream).
        const places = await historyPlaces(db.$client, filter, after, query.limit);
        const chunks = historyEventsAt(db.$client, filter, after, places);
        const first = (await chunks.next()).value ?? [];
        const progress = await relayProgress(db.$client);
        // The first page records the query, whatever it found; a later one, only the patients whose data it holds.
        const firstPage = query.cursor === undefined;
        const patients = patientsOf(places, firstPage ? filter.patientId : undefined);
        if (firstPage || patients.length > 0) await recordAccess(c, db, "SEARCH", c.req.path, patients);
        const nextCursor = encodeCursor(places.at(-1) ?? after, filter);
        const listed = (events: readonly HistoryEvent[]) =>
          events.map((event) => ({ ...toResponse(event), relayed: relayedBy(event, progress) }));
        if (first.length === places.length) return c.json({ events: listed(first), nextCursor }, 200);
        const sent = { events: 0 };
        async function* page() {
          const json = (events: readonly HistoryEvent[]) =>
            listed(events).map((event) => JSON.stringify(event));
          yield `{"events":[${json(first).join(",")}`;
          sent.events += first.length;
          for await (const events of chunks) {
            yield `,${json(events).join(",")}`;
            sent.events += events.length;
          }
          yield `],"nextCursor":${JSON.stringify(nextCursor)}}`;
        }
        c.header("Content-Type", "application/json");
        const correlationId = c.get("requestContext")?.metadata.correlationId;
        return streamedAnswer(
          c.body(exportStream(page(), sent, { log, correlationId, what: "audit page" }), 200),
        );
      })
      // Declared before /audit/events/{eventId}, which it would otherwise be taken for.
      .openapi(routes.export, async (c) => {
        const { format, ...query } = c.req.valid("query");
        const filter = historyFilter(query);
        const { contentType, header, line, complete } = exportFormats[format];
        // The format asked for is one of the two the route answers in: Accept must admit this one.
        requireAcceptable(c, [contentType]);
        const below = await historyHorizon(db.$client);
        const cutAtStart = await newestArchiveCut(db.$client);
        // The query itself, before anything is sent; then each page's patients not yet named, before that page.
        await recordAccess(c, db, "EXPORT", c.req.path, patientsOf([], filter.patientId));
        const named = new NamedPatients(
          EXPORT_NAMED_PATIENTS,
          filter.patientId === undefined ? [] : [filter.patientId],
        );
        const progress = { events: 0 };
        async function* exported() {
          if (header) yield header;
          let after = START_OF_HISTORY;
          for (;;) {
            const places = await historyPlaces(db.$client, filter, after, EXPORT_PAGE, { below });
            // An archive committed since the export started, whose cut lies past `after`, may have taken
            // events this page would hold: it is broken off rather than ended whole-looking with a gap. (A
            // chunk that lacks one of these places throws too: historyEventsAt.)
            if (await archivedPast(db.$client, cutAtStart, after)) throw new ArchivedWhileExporting();
            const unnamed = named.name(patientsOf(places));
            if (unnamed.length > 0) await recordAccess(c, db, "EXPORT", c.req.path, unnamed);
            for await (const events of historyEventsAt(db.$client, filter, after, places)) {
              progress.events += events.length;
              yield events.map(line).join("");
            }
            if (places.length < EXPORT_PAGE) break;
            after = places.at(-1) as HistoryPlace;
          }
          // Only here, after the last event: a body without it was cut off.
          yield complete(progress.events);
        }
        c.header("Content-Type", contentType);
        c.header("Content-Disposition", `attachment; filename="audit-history.${format}"`);
        const correlationId = c.get("requestContext")?.metadata.correlationId;
        return c.body(exportStream(exported(), progress, { log, correlationId }), 200);
      })
      .openapi(routes.get, async (c) => {
        const { eventId } = c.req.valid("param");
        const found = await eventWithDelivery(db.$client, eventId);
        // A 404 returns nothing and, as every refusal, writes nothing. An archived event is told so: it is in
        // an archive file, not gone.
        if (!found) throw new HttpProblem(404, "Not Found", await notFoundDetail(db, eventId));
        await recordAccess(c, db, "READ", eventId, patientsOf([found]));
        const delivery = {
          relayMode: found.relayMode,
          relayed: found.relayed,
          ...(found.checkpointSavedAt ? { acknowledgedBy: found.checkpointSavedAt } : {}),
        };
        const chain = { previousHash: found.previousHash, hash: found.hash };
        return c.json({ event: toResponse(found), delivery, chain }, 200);
      })
      .openapi(routes.verify, async (c) => {
        const query = c.req.valid("query");
        const range = historyRange(query);
        const release = verifications.tryTake();
        if (!release) {
          c.header("Retry-After", String(VERIFY_RETRY_AFTER_SECONDS));
          throw new HttpProblem(
            503,
            "Service Unavailable",
            `${verifications.size} verifications of the history are running, as many as may run at once; retry in ${VERIFY_RETRY_AFTER_SECONDS} seconds.`,
          );
        }
        const report = await verifyRange(db, checkpointKeys, range, query.expectCheckpoint).finally(release);
        outcomes?.inc({ outcome: verificationOutcome(report) });
        await recordAccess(c, db, "READ", c.req.path, []);
        return c.json(report, 200);
      })
  );
}

function verificationOutcome(report: VerificationReport): VerificationOutcome {
  if (report.intact) return "intact";
  return report.brokenLink.cause === "expectCheckpoint" ? "not_as_expected" : "broken";
}

/** One verification, on a connection of its own (one snapshot over the whole span). */
async function verifyRange(
  db: Database,
  checkpointKeys: CheckpointKeys,
  range: HistoryRange,
  expectCheckpoint: RememberedCheckpoint | undefined,
) {
  const keys = await checkpointKeys();
  const client = await db.$client.connect();
  try {
    return await verifyHistory(client, keys, range, expectCheckpoint ? { expectCheckpoint } : {});
  } catch (error) {
    if (error instanceof RangeProblem)
      throw HttpProblem.invalid([{ field: `query.${error.parameter}`, message: error.reason }]);
    throw error;
  } finally {
    client.release();
  }
}

function toResponse(event: HistoryEvent) {
  return {
    eventId: event.eventId,
    eventType: event.eventType,
    position: event.position,
    aggregate: { type: event.aggregateType, id: event.aggregateId },
    version: event.aggregateVersion,
    createdAt: event.createdAt,
    envelope: JSON.parse(event.envelope) as Record<string, unknown>,
  };
}

/** What every query of the history writes, and what the platform's other services write for each read. */
const ACCESS_RECORD = "audit.data.accessed";

/**
 * The distinct patients whose data these events hold, and the one the query asked about even if none came back.
 * A record of access (audit.data.accessed) holds none: it says who looked at whom, not what happened to them.
 * Counted, it would write the next page: a page's own records of access would be the next page's events, each
 * page as long as the one before, and a query paged to its end would never reach it.
 */
function patientsOf(
  events: readonly { eventType: string; patientId: string | null }[],
  asked?: string,
): string[] {
  const patients = new Set(asked === undefined ? [] : [asked]);
  for (const event of events) {
    if (event.patientId !== null && event.eventType !== ACCESS_RECORD) patients.add(event.patientId);
  }
  return [...patients];
}

/**
 * The auditor's access, committed before the answer is sent: one event per patient whose data it returned,
 * so that each patient's own history shows who looked at it; one naming nobody when it returned no one's.
 */
async function recordAccess(
  c: Context<ServiceEnv>,
  db: Database,
  action: "READ" | "SEARCH" | "EXPORT",
  resourceId: string,
  patientIds: readonly string[],
): Promise<void> {
  const principal = c.get("principal");
  const accessOf = (patientId: string | null): NewEvent => ({
    type: ACCESS_RECORD,
    data: {
      actorId: principal.userId,
      actorRole: actorRole(principal.role),
      resourceType: "audit_history",
      resourceId,
      patientId,
      action,
      fields: null,
    },
  });
  const events = patientIds.length === 0 ? [accessOf(null)] : patientIds.map(accessOf);
  await writeTransaction(db, (tx) => appendEvents(tx, eventContext(c, AUDIT_SERVICE), events));
}

/** Why the outbox holds no event `eventId`: never written, or moved out to an archive file. */
async function notFoundDetail(db: Database, eventId: string): Promise<string> {
  const archive = await archiveOfEvent(db.$client, eventId);
  if (archive === undefined) return `No event has the id ${eventId}.`;
  const which = archive === null ? "an archive" : `archive ${archive}`;
  return `The event ${eventId} was archived: ${which} moved it out of the outbox into its file, which npm run audit:verify-archive checks.`;
}
