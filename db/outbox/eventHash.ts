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
  createdAt: Date;
}

export const HASH_ALGORITHM = "sha256";

/**
 * The row hash's format. Every stored and archived hash was made with it, so it is frozen: its golden vectors
 * (eventHash.unit.test.ts) must never be edited. A new format needs a new name, a marker on the rows that use
 * it, and a verifier that still checks v1 rows with this function.
 */
export const EVENT_HASH_FORMAT = "outbox-event-hash/1";

/** sha256(previous hash ‖ JSON array of the fields in a fixed order); the first event of a chain uses no bytes. */
export function eventHash(previousHash: Buffer | null, event: HashedEventFields): Buffer {
  const canonical = JSON.stringify([
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
  ]);
  return createHash(HASH_ALGORITHM)
    .update(previousHash ?? Buffer.alloc(0))
    .update(canonical)
    .digest();
}
