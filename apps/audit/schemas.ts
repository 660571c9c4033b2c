// The audit API's query parameters and answers: history filters, an opaque cursor over (tx_id, position),
// and events as the outbox stored them (the envelope verbatim, with where it sits in the history).
import { createHash } from "node:crypto";
import { z } from "zod";
import { expectedCheckpointInput, historyRangeInput } from "../../audit/historySpan.ts";
import {
  instantWithOffset,
  OFFSET_WITHIN_YEARS,
  positiveIntegerUpTo,
  STORABLE_PATTERN,
  storable,
  storedTime,
} from "../../events/fields.ts";
import { eventDefinition, eventTypes } from "../../events/index.ts";
import { instantText } from "../../events/instant.ts";
import { anyCaseUuid } from "../http/ids.ts";
import { HttpProblem } from "../http/problem.ts";
import type { HistoryFilter, HistoryKey } from "./sql/historyPage.ts";

export const MAX_PAGE = 1000;

/** A filter's text: any, but what Postgres cannot hold (U+0000, an unpaired surrogate), refused as published. */
const name = storable(z.string().min(1).max(200)).meta({ pattern: STORABLE_PATTERN });

/**
 * A page size's one spelling: 1 to MAX_PAGE in decimal digits without leading zeros, as a position's (`01` is
 * refused there, and here too). Published as this pattern beside the integer's bounds.
 */
const PAGE_SIZE = new RegExp(`^(?:${positiveIntegerUpTo(BigInt(MAX_PAGE))})$`);
const PAGE_SIZE_PROBLEM = `must be a whole number from 1 to ${MAX_PAGE}, without leading zeros`;

/**
 * A page size in decimal digits, documented as the integer it is. z.coerce would take Number()'s other forms
 * too: "1e2" (100), "0x10" (16), " 5", and "01" is another spelling of 1.
 */
const pageSize = z
  .preprocess(
    (value) => (typeof value === "string" && PAGE_SIZE.test(value) ? Number(value) : value),
    z
      .number({ error: PAGE_SIZE_PROBLEM })
      .int(PAGE_SIZE_PROBLEM)
      .min(1, PAGE_SIZE_PROBLEM)
      .max(MAX_PAGE, PAGE_SIZE_PROBLEM),
  )
  .meta({ pattern: PAGE_SIZE.source });

/** Every aggregate type an event of the catalog belongs to. */
const aggregateTypes = [...new Set(eventTypes.map((type) => eventDefinition(type).aggregateType))];

/**
 * One of the kinds the catalog lists, published as their enum. Any other (`patient.create`, `Patient`) is no
 * kind an event of the history has: answered with an empty page, it would read as "nothing of the kind happened".
 */
function knownKind(kinds: readonly string[], what: string, hint: string) {
  return z.enum(kinds as [string, ...string[]], { error: `is no ${what} the catalog lists (${hint})` });
}

const filterFields = {
  patientId: anyCaseUuid.optional(),
  aggregateType: knownKind(aggregateTypes, "aggregate type", aggregateTypes.join(", ")).optional(),
  aggregateId: name
    .meta({
      description:
        "Only with aggregateType. A UUID is found in any case (ids are stored in lower case); a login by an unknown name is its actor's event under the username as typed, found under that spelling too.",
      "x-requires": "aggregateType",
    })
    .optional(),
  userId: anyCaseUuid.optional(),
  eventType: knownKind(
    eventTypes,
    "event type",
    "the document's enum names them, e.g. patient.created",
  ).optional(),
  correlationId: anyCaseUuid.optional(),
  from: instantWithOffset.optional().describe(`created at or after (inclusive). ${OFFSET_WITHIN_YEARS}`),
  // One description: a later .describe() replaces the .meta() one, which said "Later than from." no more.
  to: instantWithOffset
    .meta({ "x-later-than": "from" })
    .optional()
    .describe(`created before (exclusive); later than from. ${OFFSET_WITHIN_YEARS}`),
};

export const historyQuery = z.strictObject({
  ...filterFields,
  cursor: z
    .string()
    .max(200)
    .meta({
      description:
        "nextCursor of the previous page, as given, with that page's filters (the page size may change)",
      "x-from-response": "GET /audit/events#/nextCursor",
      "x-same-query": true,
    })
    .optional(),
  limit: pageSize.default(100),
});

export const exportQuery = z.strictObject({
  ...filterFields,
  format: z.enum(["ndjson", "csv"]).default("ndjson"),
});

export const eventIdParam = z.strictObject({
  eventId: anyCaseUuid.meta({
    description: "An event's eventId, as GET /audit/events lists them.",
    "x-from-response": "GET /audit/events#/events/*/eventId",
  }),
});

type FilterInput = z.output<z.ZodObject<typeof filterFields>>;

/**
 * The filter a query names; an aggregate id means nothing without its type, and a time range must hold an
 * instant: swapped ends would be answered "no events", which reads as "nothing happened then".
 */
export function historyFilter(query: FilterInput): HistoryFilter {
  if (query.aggregateId !== undefined && query.aggregateType === undefined) {
    throw HttpProblem.invalid([{ field: "query.aggregateType", message: "required with aggregateId" }]);
  }
  if (query.from && query.to && query.to.epochNanoseconds <= query.from.epochNanoseconds) {
    throw HttpProblem.invalid([{ field: "query.to", message: "must be later than from" }]);
  }
  const filter: HistoryFilter = {};
  if (query.patientId) filter.patientId = query.patientId;
  if (query.aggregateType) filter.aggregateType = query.aggregateType;
  // Most aggregate ids are UUIDs, stored in lower case; a login's typed username is kept as typed, and one typed
  // as a UUID in upper case is found under that spelling too.
  if (query.aggregateId) {
    const lowerCase = anyCaseUuid.safeParse(query.aggregateId).data;
    filter.aggregateId = lowerCase ?? query.aggregateId;
    if (lowerCase !== undefined && lowerCase !== query.aggregateId)
      filter.aggregateIdAsTyped = query.aggregateId;
  }
  if (query.userId) filter.userId = query.userId;
  if (query.eventType) filter.eventType = query.eventType;
  if (query.correlationId) filter.correlationId = query.correlationId;
  if (query.from) filter.from = query.from;
  if (query.to) filter.to = query.to;
  return filter;
}

/**
 * Which query a cursor belongs to: a digest of the filters as the API reads them (ids in lower case, times as
 * instants), the page size aside. A cursor is a place in the history, and another query read after it would
 * start there, silently without that query's earlier events. Not a secret: it guards against a mistake (a
 * script that changes its filters and keeps paging), not against an auditor, who may run any query.
 */
function queryOf(filter: HistoryFilter): string {
  const named = [
    filter.patientId,
    filter.aggregateType,
    filter.aggregateId,
    // (only when there is one: the cursors issued before it existed still hold)
    ...(filter.aggregateIdAsTyped === undefined ? [] : [filter.aggregateIdAsTyped]),
    filter.userId,
    filter.eventType,
    filter.correlationId,
    // toISOString()'s text for an instant on a millisecond: a cursor issued before finer ones were read holds.
    filter.from && instantText(filter.from),
    filter.to && instantText(filter.to),
  ];
  return createHash("sha256").update(JSON.stringify(named)).digest("hex").slice(0, 16);
}

/** Opaque to clients: base64url of "txId:position:query". */
export function encodeCursor(key: HistoryKey, filter: HistoryFilter): string {
  return Buffer.from(`${key.txId}:${key.position}:${queryOf(filter)}`).toString("base64url");
}

/** The largest transaction id (`xid8`, unsigned) and outbox position (`bigint`) the database holds. */
const MAX_TX_ID = 2n ** 64n - 1n;
const MAX_POSITION = 2n ** 63n - 1n;

export const notIssuedCursor = () =>
  HttpProblem.invalid([{ field: "query.cursor", message: "not a cursor this API returned" }]);

/** The place a cursor names, for the query it was returned for; any other cursor is a 400 naming it. */
export function decodeCursor(cursor: string, filter: HistoryFilter): HistoryKey {
  const decoded = Buffer.from(cursor, "base64url").toString("utf8");
  // Node's decoder skips what is not base64url (`!`, `=`, `+`, `/`): a cursor is one this API returned only if
  // encoding what it decodes to gives it back, character for character.
  const match = /^(0|[1-9]\d{0,19}):(0|[1-9]\d{0,18}):([0-9a-f]{16})$/.exec(decoded);
  // A tampered cursor with numbers beyond the columns' range would otherwise reach the query as an error.
  if (
    !match ||
    Buffer.from(decoded).toString("base64url") !== cursor ||
    BigInt(match[1] as string) > MAX_TX_ID ||
    BigInt(match[2] as string) > MAX_POSITION
  ) {
    throw notIssuedCursor();
  }
  if (match[3] !== queryOf(filter)) {
    throw HttpProblem.invalid([
      {
        field: "query.cursor",
        message:
          "is a cursor of another query: send it with the filters of the page that returned it, or start without one",
      },
    ]);
  }
  return { txId: match[1] as string, position: match[2] as string };
}

export const historyEvent = z.object({
  eventId: z.uuid(),
  eventType: z.string(),
  position: z.string().describe("the outbox position (a 64-bit integer, as a string)"),
  aggregate: z.object({ type: z.string(), id: z.string() }),
  version: z.number().nullable().describe("the aggregate's version; null for audit events"),
  createdAt: storedTime.describe(
    "when the event was written: the outbox's created_at, in UTC to the microsecond it holds, three fraction digits on a whole millisecond and six otherwise, never cut; passed back as from (or to) it selects this event (or stops just before it)",
  ),
  envelope: z.record(z.string(), z.unknown()).describe("the envelope, as stored and sent to Kafka"),
});

export const historyPageResponse = z.object({
  events: z.array(
    historyEvent.extend({
      relayed: z
        .boolean()
        .nullable()
        .describe("delivered to Kafka: as `delivery.relayed` of GET /audit/events/{eventId}"),
    }),
  ),
  nextCursor: z
    .string()
    .describe(
      "pass it back as `cursor` for the events after this page; a page shorter than `limit` means the history has no more yet",
    ),
});

/** What GET /audit/events/export streams, in each format (exportFormats.ts writes them). */
export const exportBodies = {
  ndjson: z
    .string()
    .describe(
      'One JSON object per line, per event: `{"eventId", "position", "eventType", "aggregate": {"type", "id"}, ' +
        '"version", "createdAt", "envelope"}` (the envelope as stored); then `{"exportComplete":true,"events":<n>}`',
    ),
  csv: z
    .string()
    .describe(
      "RFC 4180: a header row (eventId, position, eventType, aggregateType, aggregateId, version, createdAt, " +
        "correlationId, userId, patientId, envelope), one row per event (a would-be formula prefixed `'`), then the " +
        "row `# export complete: <n> events` and ten empty fields",
    ),
};

export const eventResponse = z.object({
  event: historyEvent,
  delivery: z.object({
    relayMode: z.enum(["polling", "debezium"]).describe("the relay that publishes the outbox now"),
    relayed: z
      .boolean()
      .nullable()
      .describe(
        "true: the polling relay's checkpoint has passed it, Kafka acknowledged it; false: not yet; null: Debezium publishes it, and its progress (a WAL position) does not tell one event's delivery",
      ),
    acknowledgedBy: storedTime
      .describe(
        "when the polling relay last saved its checkpoint, which covers the event: Kafka had acknowledged it by then at the latest. The relay keeps only its latest checkpoint, so this bound moves on with each one (and the answer's ETag with it); the exact send time is not recorded. In UTC to the microsecond stored, as createdAt",
      )
      .optional(),
  }),
  chain: z
    .object({
      previousHash: z
        .string()
        .nullable()
        .describe("hex; the hash of the aggregate's previous event (null: its first, or an audit event)"),
      hash: z.string().describe("hex; sha256 over previousHash and the event's stored fields"),
    })
    .describe("the event's link in its aggregate's hash chain, as stored"),
});

/** GET /audit/verify: the range to verify, by outbox position or by time; none means the whole history. */
export const verifyQuery = historyRangeInput.extend({ expectCheckpoint: expectedCheckpointInput.optional() });

const verifiedRange = z
  .object({
    afterCheckpoint: z
      .number()
      .describe(
        "verification started right after this sealed checkpoint (0: the start of the history), from its signed running hash",
      ),
    afterPosition: z.string().nullable().describe("that checkpoint's last event"),
    rowsBefore: z.number().describe("events sealed by that checkpoint, before the range: not read"),
    archivedRows: z.number().describe("of those, events moved out to archive files"),
    throughPosition: z
      .string()
      .nullable()
      .describe("the range's last event; null: the end of the history, whose chain heads were checked too"),
  })
  .describe("the span verified");

export const verificationResponse = z.union([
  z.object({
    intact: z.literal(true),
    range: verifiedRange,
    rows: z.number().describe("events verified, all in the range"),
    checkpoints: z.number().describe("checkpoints in the range recomputed from the events"),
    chainedAggregates: z.number(),
    linksToEarlierRows: z
      .number()
      .describe("links to events before the range, checked against their stored hashes only"),
    linksToArchivedRows: z
      .number()
      .describe("links to archived events, checked against the hashes archiving recorded"),
    upToPosition: z.string().nullable(),
    lastCheckpoint: z
      .object({
        sequence: z.number(),
        chainHash: z.string().describe("the running hash it signs, hexadecimal"),
        rowCount: z.number(),
        sealedAt: storedTime.describe(
          "when it was sealed, in UTC to the microsecond stored, as an event's createdAt (GET /audit/events)",
        ),
      })
      .nullable()
      .describe(
        "the range's last signed checkpoint (its starting one when none is inside it; null: none yet). Write its sequence and chain hash down outside the platform: a later verification must find the same checkpoint under that sequence, or the history was rolled back",
      ),
  }),
  z.object({
    intact: z.literal(false),
    range: verifiedRange
      .nullable()
      .describe(
        "null when the archive records themselves are broken, or when the checkpoint expectCheckpoint names is not the one the history holds",
      ),
    rows: z.number(),
    brokenLink: z.object({
      position: z.string().optional(),
      eventId: z.string().optional(),
      checkpoint: z.number().optional(),
      archive: z.number().optional(),
      aggregate: z.string().optional(),
      problem: z.string(),
      cause: z
        .literal("expectCheckpoint")
        .optional()
        .describe(
          "present when the link found wrong is the checkpoint expectCheckpoint named: the history does not hold it as remembered, because it was rolled back and signed again or because the checkpoint was remembered wrong; the history was not verified past it",
        ),
    }),
  }),
]);
