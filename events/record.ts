// The Kafka record of an event, in one place: its headers (the record contract of docs/architecture.md), how big it may
// be (the topics' max.message.bytes, the largest event the write path accepts) and how its size is counted.

import { DataFreeError } from "./dataFreeError.ts";

/** Kafka's default max.message.bytes, set explicitly on every catalog topic so that the value is known. */
export const TOPIC_MAX_MESSAGE_BYTES = 1_048_588;

/**
 * What a dead-letter topic takes beyond its topic's limit: the headers a consumer adds when it parks a record
 * (consumers/runtime/deadLetters.ts, a few kilobytes at most), so that whatever the topic held, its dead-letter
 * topic takes too. A record Kafka refused there could be neither handled nor parked.
 */
export const DEAD_LETTER_HEADROOM_BYTES = 64 * 1024;

/**
 * The largest event the write path accepts: key, value and headers together. Half the topic limit, so a
 * record always fits in a batch of its own with room for the batch and record framing (under 100 bytes),
 * and a topic whose limit an operator halves still takes it.
 */
export const MAX_EVENT_BYTES = 512 * 1024;

/** Kafka's record-batch header (61 bytes) rounded up: what a batch costs beyond its records. */
export const BATCH_OVERHEAD_BYTES = 128;

/** A record's own framing in a batch (length, attributes, deltas, key and value lengths as varints), rounded up. */
const RECORD_OVERHEAD_BYTES = 32;

export interface EventHeaderFields {
  eventId: string;
  eventType: string;
  correlationId: string;
  traceparent: string | null;
  tracestate: string | null;
}

/**
 * The headers every record carries; traceparent and tracestate only when the writer had them (no null
 * headers: kafkajs cannot write one, and the Debezium relay drops them the same way).
 */
export function recordHeaders(event: EventHeaderFields): Record<string, string> {
  const headers: Record<string, string> = {
    eventId: event.eventId,
    eventType: event.eventType,
    correlationId: event.correlationId,
  };
  if (event.traceparent) headers.traceparent = event.traceparent;
  if (event.tracestate) headers.tracestate = event.tracestate;
  return headers;
}

type Bytes = string | Buffer;

export interface SizedRecord {
  key?: Bytes | null;
  value: Bytes | null;
  headers: Readonly<Record<string, Bytes | Bytes[] | undefined>>;
}

/** The bytes a record takes in a Kafka record batch, counted from above. */
export function recordBytes(record: SizedRecord): number {
  let bytes =
    RECORD_OVERHEAD_BYTES + Buffer.byteLength(record.key ?? "") + Buffer.byteLength(record.value ?? "");
  for (const [name, value] of Object.entries(record.headers)) {
    for (const one of [value ?? []].flat()) bytes += 10 + Buffer.byteLength(name) + Buffer.byteLength(one);
  }
  return bytes;
}

/**
 * Cuts records bound for one topic into successive sends that each stay under its max.message.bytes, in
 * order: a backlog of any size is then never refused as one batch too large.
 */
export function sendsUnderLimit<R extends SizedRecord>(
  records: readonly R[],
  limit = TOPIC_MAX_MESSAGE_BYTES,
): R[][] {
  const sends: R[][] = [];
  let current: R[] = [];
  let used = BATCH_OVERHEAD_BYTES;
  for (const record of records) {
    const size = recordBytes(record);
    if (current.length > 0 && used + size > limit) {
      sends.push(current);
      current = [];
      used = BATCH_OVERHEAD_BYTES;
    }
    current.push(record);
    used += size;
  }
  if (current.length > 0) sends.push(current);
  return sends;
}

/** An event too big to ever be accepted by Kafka: refused on the write path, before anything is written. */
export class EventTooLarge extends DataFreeError {
  constructor(
    readonly eventType: string,
    readonly bytes: number,
  ) {
    super(
      `A ${eventType} event of ${bytes} bytes is larger than the ${MAX_EVENT_BYTES} bytes an event may take (key, value and headers)`,
    );
    this.name = "EventTooLarge";
  }
}
