// The hash that makes the outbox tamper-evident: it covers every stored field of an event and the hash of
// the aggregate's previous event, so changing, removing or re-ordering a row breaks the chain after it.
import { createHash } from "node:crypto";

export interface HashedEventFields {
  eventId: string;
  eventType: string;
  aggregateType: string;
  aggregateId: string;
  aggregateVersion: number | null;
  topic: string;
  messageKey: string;
  /** The envelope text exactly as stored (ciphertext where fields are encrypted, so no key is ever needed). */
  payload: string;
  correlationId: string;
  traceparent: string | null;
  /** Hashed only when present (see eventHash), so every row written before the column existed keeps its hash. */
  tracestate: string | null;
  createdAt: Date;
}

export const HASH_ALGORITHM = "sha256";

/**
 * The row hash's format. Every stored and archived hash was made with it, so it is frozen: its golden vectors
 * (eventHash.unit.test.ts) must never be edited. A new format needs a new name, a marker on the rows that use
 * it, and a verifier that still checks v1 rows with this function.
 */
export const EVENT_HASH_FORMAT = "outbox-event-hash/1";

/**
 * sha256(previous hash ‖ JSON array of the fields in a fixed order); the first event of a chain uses no bytes.
 * A tracestate, when the row has one, is one more element at the end: an array of eleven elements (every row
 * without one, which includes every row written before the column existed) is hashed exactly as before, and a
 * row's tracestate is covered as soon as it has one, with no marker needed to tell the two apart.
 */
export function eventHash(previousHash: Buffer | null, event: HashedEventFields): Buffer {
  const fields: unknown[] = [
    event.eventId,
    event.eventType,
    event.aggregateType,
    event.aggregateId,
    event.aggregateVersion,
    event.topic,
    event.messageKey,
    event.payload,
    event.correlationId,
    event.traceparent,
    event.createdAt.toISOString(),
  ];
  if (event.tracestate !== null) fields.push(event.tracestate);
  const canonical = JSON.stringify(fields);
  return createHash(HASH_ALGORITHM)
    .update(previousHash ?? Buffer.alloc(0))
    .update(canonical)
    .digest();
}
