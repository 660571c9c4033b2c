// What a chaos run found: the committed history (the outbox) against what a read_committed consumer reads back
// from Kafka, and how late events became visible around each fault. Pure: chaos/main.ts gathers the inputs.

/** An event as the outbox committed it. */
export interface CommittedEvent {
  eventId: string;
  topic: string;
  key: string;
  value: string;
  /** (tx_id, position): the history's order, which is commit order for one aggregate. */
  order: bigint;
  createdAtMs: number;
}

/** A record as Kafka holds it, read with read_committed isolation. */
export interface ReadRecord {
  topic: string;
  partition: number;
  offset: bigint;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
  eventId: string | null;
}

/** One fault: when it was injected and when it ended (the process or node back, or at once for a kill). */
export interface FaultWindow {
  name: string;
  injectedAtMs: number;
  endedAtMs: number;
  /** What the fault did, for the table (a node, a pid, fenced or not). */
  note: string;
  /** False when it could not be injected: the run then proved nothing about it, and fails. */
  injected: boolean;
}

export interface ChaosFindings {
  committed: number;
  lost: string[];
  phantoms: string[];
  /** Keys whose events, first deliveries in offset order, are not in commit order (or span partitions). */
  reorderedKeys: string[];
  duplicates: number;
  duplicatesByteIdentical: number;
  faults: Array<FaultWindow & { longestDelayMs: number | null; recoveryMs: number | null }>;
}

export function chaosFindings(
  committedEvents: readonly CommittedEvent[],
  records: readonly ReadRecord[],
  /** When the live consumer first saw each event id. */
  visibleAtMs: ReadonlyMap<string, number>,
  faults: readonly FaultWindow[],
): ChaosFindings {
  const byId = new Map(committedEvents.map((event) => [event.eventId, event]));
  const seen = new Map<string, ReadRecord>();
  const phantoms: string[] = [];
  let duplicates = 0;
  let duplicatesByteIdentical = 0;
  for (const record of records) {
    const id = record.eventId ?? `${record.topic}/${record.partition}@${record.offset}`;
    if (!record.eventId || !byId.has(record.eventId)) {
      phantoms.push(id);
      continue;
    }
    const first = seen.get(id);
    if (!first) {
      seen.set(id, record);
      continue;
    }
    duplicates++;
    if (sameBytes(first, record)) duplicatesByteIdentical++;
  }
  const lost = committedEvents.filter((event) => !seen.has(event.eventId)).map((event) => event.eventId);

  const reorderedKeys: string[] = [];
  const byKey = new Map<string, CommittedEvent[]>();
  for (const event of committedEvents) {
    const key = `${event.topic}/${event.key}`;
    byKey.set(key, [...(byKey.get(key) ?? []), event]);
  }
  const deliveredByKey = new Map<string, ReadRecord[]>();
  for (const record of seen.values()) {
    const key = `${record.topic}/${record.key}`;
    deliveredByKey.set(key, [...(deliveredByKey.get(key) ?? []), record]);
  }
  for (const [key, events] of byKey) {
    const delivered = deliveredByKey.get(key) ?? [];
    const expected = [...events]
      .sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0))
      .map((event) => event.eventId)
      .filter((id) => seen.has(id));
    const actual = [...delivered]
      .sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0))
      .map((record) => record.eventId);
    const partitions = new Set(delivered.map((record) => record.partition));
    if (partitions.size > 1 || expected.join() !== actual.join()) reorderedKeys.push(key);
  }

  return {
    committed: committedEvents.length,
    lost,
    phantoms,
    reorderedKeys,
    duplicates,
    duplicatesByteIdentical,
    faults: faults.map((fault) => ({ ...fault, ...faultDelays(fault, committedEvents, visibleAtMs) })),
  };
}

/**
 * Recovery: from the fault's end until Kafka held every event committed before that end. Longest delay: the
 * longest commit-to-visible time of the events committed from the injection to the recovery.
 */
function faultDelays(
  fault: FaultWindow,
  events: readonly CommittedEvent[],
  visibleAtMs: ReadonlyMap<string, number>,
): { longestDelayMs: number | null; recoveryMs: number | null } {
  const visible = (event: CommittedEvent) => visibleAtMs.get(event.eventId);
  let caughtUpAt: number | null = null;
  for (const event of events) {
    if (event.createdAtMs > fault.endedAtMs) continue;
    if (event.createdAtMs < fault.injectedAtMs - 60_000) continue;
    const at = visible(event);
    if (at === undefined) continue;
    caughtUpAt = Math.max(caughtUpAt ?? at, at);
  }
  const recoveryMs = caughtUpAt === null ? null : Math.max(0, caughtUpAt - fault.endedAtMs);
  const until = fault.endedAtMs + (recoveryMs ?? 0);
  let longestDelayMs: number | null = null;
  for (const event of events) {
    if (event.createdAtMs < fault.injectedAtMs || event.createdAtMs > until) continue;
    const at = visible(event);
    if (at === undefined) continue;
    longestDelayMs = Math.max(longestDelayMs ?? 0, at - event.createdAtMs);
  }
  return { longestDelayMs, recoveryMs };
}

function sameBytes(a: ReadRecord, b: ReadRecord): boolean {
  return (
    a.topic === b.topic &&
    a.partition === b.partition &&
    a.key === b.key &&
    a.value === b.value &&
    JSON.stringify(Object.entries(a.headers).sort()) === JSON.stringify(Object.entries(b.headers).sort())
  );
}

/** The run failed when anything was lost, invented or re-ordered; duplicates are the at-least-once contract. */
export function chaosFailed(findings: ChaosFindings): boolean {
  return (
    findings.lost.length > 0 ||
    findings.phantoms.length > 0 ||
    findings.reorderedKeys.length > 0 ||
    findings.faults.some((fault) => !fault.injected)
  );
}
