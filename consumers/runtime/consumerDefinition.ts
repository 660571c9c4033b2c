// What a team writes to consume events: a name (its consumer group and inbox), its topics, and one handler
// per event type it cares about. Records of other types on those topics are acknowledged and skipped.
import type { AggregateLock, Database, WriteTransaction } from "../../db/client.ts";
import type { EventType, TopicName, TypedEnvelope } from "../../events/index.ts";
import type { RecordOrigin } from "./deadLetters.ts";

/** Where the event was read, and the record's headers (traceparent, correlationId, ...). */
export interface ConsumedRecord extends RecordOrigin {
  headers: Readonly<Record<string, string>>;
}

export interface TransactionalContext {
  /** The transaction that also records the event in the inbox: the handler's changes commit with it or not at all. */
  tx: WriteTransaction;
  record: ConsumedRecord;
}

export interface ExternalEffectContext {
  db: Database;
  record: ConsumedRecord;
}

type Handlers<Context> = {
  [T in EventType]?: (event: TypedEnvelope<T>, context: Context) => Promise<void>;
};

/**
 * What becomes of an event about a patient who was erased. `skip` (the default): it is acknowledged unread,
 * its personal data being gone for good. `without-personal-metadata`: an event with no personal field of its
 * own (an audit record: who read whose data, when) is handled with its request metadata (IP address, user
 * agent) left out, null, as an event written after the erasure carries it; one with personal fields is still
 * skipped.
 */
export type ErasedPatients = "skip" | "without-personal-metadata";

interface ConsumerBase {
  /** The consumer group id and the inbox's name for this consumer; changing it starts over. */
  readonly name: string;
  readonly topics: readonly TopicName[];
  readonly erasedPatients?: ErasedPatients;
}

/**
 * Handlers whose whole effect is in Postgres (a read model, events appended through the outbox). Each runs
 * in a short REPEATABLE READ transaction with the inbox row: exactly one effect per event, whatever is
 * redelivered. Keep the transaction short: an open write transaction holds back the outbox relay.
 */
export interface TransactionalConsumer extends ConsumerBase {
  readonly kind: "transactional";
  readonly handlers: Handlers<TransactionalContext>;
  /**
   * The row an event's handling writes that many events share (the watch's count for one principal), when
   * there is one: the transactions of one key then wait in line (writeTransaction's lockAggregate) rather
   * than collide under REPEATABLE READ, fail and retry after a pause.
   */
  readonly lineFor?: (event: TypedEnvelope) => AggregateLock | undefined;
}

/**
 * Handlers with an effect outside Postgres (sending a message), which cannot commit with the inbox row. The
 * handler makes its effect idempotent itself (e.g. a ledger row claimed before the send); the runtime skips
 * events already in the inbox and records the event there once the handler has returned.
 */
export interface ExternalEffectConsumer extends ConsumerBase {
  readonly kind: "external-effect";
  readonly handlers: Handlers<ExternalEffectContext>;
}

export type ConsumerDefinition = TransactionalConsumer | ExternalEffectConsumer;
