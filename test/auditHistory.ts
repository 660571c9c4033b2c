// A small known history for the auditor API's tests, written through appendEvents with chosen users,
// correlation ids and patients, and a reader that pages through GET /audit/events as an auditor would.
import { randomUUID } from "node:crypto";
import type { createPlatformApp } from "../apps/platform.ts";
import { type Database, writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import type { NewEvent } from "../events/index.ts";
import { eventually, testEventContext } from "./fixtures.ts";
import type { Caller } from "./tokens.ts";

type App = ReturnType<typeof createPlatformApp>;

/** Appends the events in one transaction, as `userId` with `correlationId`; returns their event ids. */
export async function append(
  db: Database,
  events: NewEvent[],
  metadata: { userId?: string | null; correlationId?: string } = {},
): Promise<string[]> {
  const context = testEventContext();
  context.metadata.userId = metadata.userId ?? null;
  context.metadata.correlationId = metadata.correlationId ?? randomUUID();
  const appended = await writeTransaction(db, (tx) => appendEvents(tx, context, events));
  return appended.map((appended) => appended.eventId);
}

export interface AuditedEvent {
  eventId: string;
  eventType: string;
  position: string;
  aggregate: { type: string; id: string };
  version: number | null;
  createdAt: string;
  envelope: { eventId: string; data: Record<string, unknown>; metadata: Record<string, unknown> };
}

export async function auditPage(app: App, auditor: Caller, query: Record<string, string>) {
  const response = await app.request(`/audit/events?${new URLSearchParams(query)}`, {
    headers: auditor.headers(),
  });
  if (response.status !== 200) throw new Error(`${response.status}: ${await response.text()}`);
  return (await response.json()) as { events: AuditedEvent[]; nextCursor: string };
}

/** Every page until a short one. */
export async function auditAll(app: App, auditor: Caller, query: Record<string, string>, limit = 1000) {
  const events: AuditedEvent[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await auditPage(app, auditor, {
      ...query,
      limit: String(limit),
      ...(cursor ? { cursor } : {}),
    });
    events.push(...page.events);
    if (page.events.length < limit) return events;
    cursor = page.nextCursor;
  }
}

/** The auditors' own access records, which queries about a patient add to that patient's history. */
export const isAuditorAccess = (event: AuditedEvent) => event.envelope.data.resourceType === "audit_history";

/** The outbox column a wait for the history names its events by. */
type HistoryColumn = "patient_id" | "aggregate_id" | "correlation_id";

/**
 * Waits until the events written so far (those whose `column` is `value`; every event when none is named) are
 * readable by GET /audit/events and its export: they read only below the oldest transaction running on the
 * server, another database's too (other test files'), so that a page never skips a row.
 */
export async function historyReadable(db: Database, where?: { column: HistoryColumn; value: string }) {
  const newest = where
    ? `(SELECT max(tx_id) FROM outbox WHERE ${where.column} = $1)`
    : "(SELECT max(tx_id) FROM outbox)";
  await eventually(async () => {
    const { rows } = await db.$client.query<{ readable: boolean }>(
      `SELECT pg_snapshot_xmin(pg_current_snapshot()) > ${newest} AS readable`,
      where ? [where.value] : [],
    );
    return rows[0]?.readable === true;
  }, 60_000);
}

/** The types of the events the outbox holds that name this user, in order: accesses they made, their refusals. */
export async function eventTypesNaming(db: Database, userId: string): Promise<string[]> {
  const { rows } = await db.$client.query<{ event_type: string }>(
    `SELECT event_type FROM outbox
      WHERE payload::jsonb -> 'data' ->> 'actorId' = $1 OR aggregate_id = $1 ORDER BY position`,
    [userId],
  );
  return rows.map((row) => row.event_type);
}
