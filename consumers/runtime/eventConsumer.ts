// The consumer runtime: runs one consumer definition as a Kafka consumer group member. Each record is decoded
// against the catalog (its personal fields opened with the patient's key), handled with the inbox (one effect per event), and only then acknowledged; a failing
// record is retried later without holding up other partitions, and finally parked in `<topic>.dlq`.
//
// Why kafkajs's eachBatch with manual offsets, and pause rather than sleep: kafkajs fetches all partitions of
// a broker in one request and fetches again only when every batch of the last response is handled, so a
// handler sleeping between retries would stall every partition. A failing partition is paused instead and
// its batch returned at once; as its offset was not resolved, the next fetch after resuming starts at the
// failed record again: it keeps its place, and the other partitions carry on meanwhile. Attempt counts live
// in memory: after a rebalance or a restart the partition's new owner counts afresh.

import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { SpanKind } from "@opentelemetry/api";
import type { Registry } from "prom-client";
import { NO_TRACESTATE_KEYS } from "../../config/tracestateKeys.ts";
import { type AggregateLock, type Database, writeTransaction } from "../../db/client.ts";
import { archivedWithoutDigests } from "../../db/outbox/archivedThrough.ts";
import { isMasterKeyFault } from "../../db/patientKeys.ts";
import { uuid } from "../../events/fields.ts";
import { eventDefinition, type TypedEnvelope } from "../../events/index.ts";
import {
  ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_KAFKA_OFFSET,
  ATTR_MESSAGING_MESSAGE_ID,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  MESSAGING_OPERATION_TYPE_VALUE_PROCESS,
  MESSAGING_SYSTEM_VALUE_KAFKA,
} from "../../events/messagingAttributes.ts";
import { admittedTracestate } from "../../events/tracestate.ts";
import { contextFromHeaders, inSpan, linkTo, type TraceHeaders } from "../../events/tracing.ts";
import {
  type Admin,
  type Consumer,
  createConsumer,
  createIdempotentProducer,
  createKafka,
  type EachBatchPayload,
  type KafkaMessage,
  type Producer,
} from "../../kafka/client.ts";
import { nonRetriableKafkaError } from "../../kafka/errors.ts";
import type { Logger } from "../../observability/logger.ts";
import type { PatientKeySource } from "../../phi/decryptEvent.ts";
import { exponentialBackoff } from "../../retry/backoff.ts";
import type { ConsumedRecord, ConsumerDefinition } from "./consumerDefinition.ts";
import { partitionLag } from "./consumerLag.ts";
import { type DeadLetterPolicy, deadLetterAfterAttempts } from "./deadLetterPolicy.ts";
import {
  DEAD_LETTER_HEADERS,
  DEAD_LETTER_REASONS,
  type DeadLetterCause,
  deadLetterMessage,
  headerText,
  type RecordOrigin,
} from "./deadLetters.ts";
import {
  type DecodedRecord,
  decodeMessage,
  type EnvelopeIdentity,
  envelopeIdentity,
  type PoisonProblem,
} from "./decodeRecord.ts";
import {
  type AppliedSince,
  type InboxVerdict,
  NOT_COMMITTED_BECAUSE,
  type NotCommitted,
  notCommittedRecord,
  processedBefore,
  type ReadEvent,
  recordAllInInbox,
  recordInInbox,
  reusedBy,
  valueDigest,
  verdictBeforeEffect,
} from "./inbox.ts";
import { type ConsumerMetrics, consumerMetrics } from "./metrics.ts";
import { type NewerEvent, newerEventsApplied } from "./newerEventsApplied.ts";
import { plainIdentifier, recordableMessage } from "./recordableMessage.ts";
import { misplacedRecord, type RecordPlacement } from "./recordContract.ts";

export interface EventConsumerOptions {
  definition: ConsumerDefinition;
  db: Database;
  kafkaBrokers: string[];
  log: Logger;
  registry: Registry;
  /** Where sealed personal fields get their patient's key: patient_keys in `db` (db/patientKeys.ts). */
  keys: PatientKeySource;
  /** Overrides the definition's name (group id and inbox name): tests run isolated copies of a consumer. */
  name?: string;
  /** Partitions handled at the same time, each in order; the platform guide's default is 3. */
  concurrency?: number;
  deadLetterPolicy?: DeadLetterPolicy;
  /** How long the group waits for a silent (killed) member before giving its partitions to the others. */
  sessionTimeoutMs?: number;
  /** Longest fetch wait, which is also how late a paused partition is fetched again after its backoff. */
  fetchWaitMs?: number;
  /** How long stop() lets the record in flight finish before abandoning it (it is then redelivered). */
  shutdownGraceMs?: number;
  /**
   * The keys of the members of a record's tracestate that its handling's trace context keeps (TRACESTATE_KEYS),
   * none by default: the events a handler appends store that context, and a record may carry any tracestate
   * (one of an event stored before the write path kept only these, or a forged one).
   */
  tracestateKeys?: ReadonlySet<string>;
  /**
   * Called when a record is done with (its effect committed, or it was parked or skipped) and before its
   * offset is committed: the worst moment for a crash, where tests kill consumers on purpose.
   */
  afterEffectCommitted?: (origin: RecordOrigin) => void | Promise<void>;
}

/** Five attempts, the last 1 to 7.5 s after the first (never sooner than 250 ms apart), then the dead-letter topic. */
export const defaultDeadLetterPolicy = deadLetterAfterAttempts({
  maxAttempts: 5,
  backoff: exponentialBackoff({ baseMs: 500, capMs: 30_000, floorMs: 250 }),
});

type Handler = NonNullable<ConsumerDefinition["handlers"][keyof ConsumerDefinition["handlers"]]>;

/** A handler's failure, to be counted against its record's attempts. */
interface HandlerFailure {
  origin: RecordOrigin;
  message: KafkaMessage;
  envelope: TypedEnvelope;
  error: unknown;
  /** When the attempt started and when it failed (`performance.now()`). */
  started: number;
  failed: number;
}

/**
 * The handler of the `index`th of the records handled together failed with `cause`. (writeTransaction still
 * retries a serialization failure among causes: it reads the cause's code.)
 */
class HandlerFailed extends Error {
  constructor(
    readonly index: number,
    /** When that handler began (performance.now()): its failed attempt is timed from there to the failure. */
    readonly started: number,
    readonly failed: number,
    override readonly cause: unknown,
  ) {
    super("the handler of a record handled together failed", { cause });
  }
}

/**
 * The inbox holds the record's event id as processed under another event type or with another value
 * (inbox.ts): the record is refused before any handler runs, and parked as poison. Among records handled
 * together, `index` is its place.
 */
class EventIdReused extends Error {
  override name = "EventIdReused";
  readonly processedAs: string;
  readonly differs: "event-type" | "value";
  constructor(
    readonly eventType: string,
    { processedAs, differs }: Extract<InboxVerdict, { kind: "id-reused" }>,
    readonly index = 0,
  ) {
    // Types only, never the values: the message goes into the dead letter's headers.
    super(
      differs === "event-type"
        ? `event id already processed as ${processedAs}; this record is ${eventType}`
        : `event id already processed as ${processedAs} with another value; this record's value differs`,
    );
    this.processedAs = processedAs;
    this.differs = differs;
  }
}

/**
 * The record's event is not a committed one (inbox.ts): neither the outbox nor the archived events' digests hold
 * its id, or one of them holds it with another value. Refused before any handler runs, and parked as poison; among
 * records handled together, `index` is its place. Its message names the event id and type only, never what the
 * record holds.
 */
class EventNotCommitted extends Error {
  override name = "EventNotCommitted";
  readonly found: NotCommitted["found"];
  constructor(
    readonly eventId: string,
    readonly eventType: string,
    { found }: NotCommitted,
    readonly index = 0,
  ) {
    super(`event ${eventId} (${eventType}) ${NOT_COMMITTED_BECAUSE[found]}`);
    this.found = found;
  }
}

/**
 * What handling a record came to: the handler's effect, or none, for an event processed before or one older than
 * an event of its aggregate applied since (inbox.ts).
 */
type Handled = { effect: "processed" | "duplicate" } | { effect: "superseded"; newer: AppliedSince };

/** A record the inbox refuses before any handler runs: it is parked as poison, never retried. */
type InboxRefusal = EventIdReused | EventNotCommitted;

function inboxRefusal(
  verdict: InboxVerdict | undefined,
  envelope: TypedEnvelope,
  index = 0,
): InboxRefusal | null {
  if (verdict?.kind === "id-reused") return new EventIdReused(envelope.eventType, verdict, index);
  if (verdict?.kind === "not-committed") {
    return new EventNotCommitted(envelope.eventId, envelope.eventType, verdict, index);
  }
  return null;
}

/** What the inbox knows the record's event by: its id, its type and its value's digest. */
function readEvent(envelope: TypedEnvelope, message: KafkaMessage): ReadEvent {
  return {
    eventId: envelope.eventId,
    eventType: envelope.eventType,
    valueSha256: valueDigest(message.value),
  };
}

/** Runs a definition's handler for the envelope's type on the envelope. */
function runHandler(handler: Handler, envelope: TypedEnvelope, context: unknown): Promise<void> {
  // The definition's handler for envelope.eventType takes exactly this envelope; TypeScript cannot follow
  // the lookup by a runtime key, hence the erased signature.
  return (handler as (event: TypedEnvelope, context: unknown) => Promise<void>)(envelope, context);
}

const CONSUMER_TRACER = "healthcare-events/consumers";

/**
 * At most this many of a partition's records are handled in one transaction: enough to spare nearly all of
 * the transactions' own round trips, few enough to keep it short (an open transaction holds back the relay).
 */
const RECORDS_PER_TRANSACTION = 25;

/** The longest a handled record's offset waits for its batch to end before it is committed anyway. */
const OFFSET_COMMIT_INTERVAL_MS = 1_000;

/** How often a dead letter Kafka refused for good is offered again: a person must act, but may have. */
const DEAD_LETTER_REFUSED_RETRY_MS = 10_000;

/**
 * How often a topic's partition count may be read again from the broker, when a record seems not to be on its
 * key's partition: partitions an operator added re-map keys, and a flood of misplaced records reads it once.
 */
const PARTITION_COUNT_REFRESH_MS = 5_000;

type RecordOutcome = { done: true } | { done: false; retryInMs: number };

/** What this version refuses in a record's value, where an earlier one may have read it. */
const VALUE_PROBLEMS: ReadonlySet<PoisonProblem> = new Set([
  "invalid-envelope",
  "unknown-event-type",
  "invalid-data",
  "not-sealed",
  "undecryptable",
]);

interface RetryState {
  /** The record being retried; another offset on the partition starts counting afresh. */
  offset: string;
  attempts: number;
  failures: number;
  /** When the first of its consecutive failures happened (`performance.now()`). */
  failingSince: number;
}

/**
 * Restarts in a row, with no fetch read whole between, after which a consumer counts as stopped: a failure that
 * passes (a broker coming back) restarts it a few times; the same failure on every attempt restarts it for ever.
 * Before it, kafkajs retries each fetch itself.
 */
const RESTARTS_THAT_STALL = 3;

/**
 * How long a record whose event id the outbox does not hold is read again before it is refused as not committed.
 * Debezium streams a transaction from the WAL once its commit is flushed, which comes before Postgres makes it
 * visible to other sessions' snapshots: a consumer fast enough reads the record in that moment (milliseconds,
 * seen once in hundreds of writes on a loaded machine), and refused a committed event as forged. The polling
 * relay sends only rows its own snapshot sees.
 */
const COMMIT_VISIBILITY_WAIT_MS = 2_000;
const COMMIT_VISIBILITY_RETRY_MS = 100;

export class EventConsumer {
  readonly name: string;
  private readonly definition: ConsumerDefinition;
  private readonly db: Database;
  private readonly log: Logger;
  private readonly metrics: ConsumerMetrics;
  private readonly policy: DeadLetterPolicy;
  private readonly keys: PatientKeySource;
  private readonly tracestateKeys: ReadonlySet<string>;
  private readonly consumer: Consumer;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly retries = new Map<string, RetryState>();
  /** Per partition, the record whose event the outbox did not show yet, and since when (`performance.now()`). */
  private readonly notVisibleYet = new Map<string, { offset: string; since: number }>();
  private readonly resumeTimers = new Set<NodeJS.Timeout>();
  private assignment = new Map<string, readonly number[]>();
  /** Each topic's partition count as last read, and when (placementOf). */
  private readonly partitionCounts = new Map<string, { partitions: number; readAt: number }>();
  private joined: Promise<void>;
  private stopping = false;
  /** The failure kafkajs stopped this consumer for, without restarting it: it reads nothing more until restarted. */
  private crashedWith: Error | null = null;
  /** Restarts after a failure since the last fetch read whole, and the last one's reason. */
  private restartsInARow = { count: 0, reason: "" };
  private readonly lagSource = () => partitionLag(this.admin, this.name, this.name, this.assignment);

  constructor(private readonly options: EventConsumerOptions) {
    this.definition = options.definition;
    this.name = options.name ?? options.definition.name;
    this.db = options.db;
    this.log = options.log.child({ component: "consumer", consumer: this.name });
    this.metrics = consumerMetrics(options.registry);
    // From 0, so that the first dead letter and the first refusal are increases Prometheus sees (the alerts
    // DeadLettersGrowing and RecordsNotCommitted): a series born at 1 shows none.
    for (const topic of this.definition.topics) {
      this.metrics.notCommitted.inc({ consumer: this.name, topic }, 0);
      for (const reason of DEAD_LETTER_REASONS)
        this.metrics.deadLettered.inc({ consumer: this.name, topic, reason }, 0);
    }
    this.policy = options.deadLetterPolicy ?? defaultDeadLetterPolicy;
    this.keys = options.keys;
    this.tracestateKeys = options.tracestateKeys ?? NO_TRACESTATE_KEYS;
    const kafka = createKafka({
      brokers: options.kafkaBrokers,
      clientId: `consumer-${this.name}-${randomUUID().slice(0, 8)}`,
    });
    this.consumer = createConsumer(kafka, {
      groupId: this.name,
      sessionTimeoutMs: options.sessionTimeoutMs,
      maxWaitTimeMs: options.fetchWaitMs,
    });
    this.producer = createIdempotentProducer(kafka);
    this.admin = kafka.admin();
    this.joined = new Promise((resolve) => {
      this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => {
        this.assignment = new Map(Object.entries(payload.memberAssignment));
        // A rebalance follows partitions added to a topic: their counts are read again.
        this.partitionCounts.clear();
        this.log.info({ assignment: payload.memberAssignment }, "joined the consumer group");
        resolve();
      });
    });
    // A retriable failure (a group coordinator still loading, as on a broker just started) restarts the consumer
    // by itself: a warning naming it. One it does not restart from leaves this member out of the group: an error.
    // A fetch answered and read whole (its batches decoded) is progress, records or none.
    this.consumer.on(this.consumer.events.FETCH, () => {
      this.restartsInARow = { count: 0, reason: "" };
    });
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) {
        this.restartsInARow = { count: this.restartsInARow.count + 1, reason: payload.error.message };
        this.log.warn(
          { reason: payload.error.message, restart: true },
          "the Kafka consumer restarts after a failure",
        );
      } else {
        this.crashedWith = payload.error;
        this.log.error({ err: payload.error, restart: false }, "the Kafka consumer crashed");
      }
    });
  }

  /**
   * Why this consumer reads nothing (null while it reads): kafkajs stopped it for good, or restarted it
   * RESTARTS_THAT_STALL times in a row with no fetch read whole between (the same failure on every attempt).
   * Readiness reports it (platformConsumers.ts).
   */
  get stalled(): Error | null {
    if (this.crashedWith) return new Error(`stopped for good, until restarted: ${this.crashedWith.message}`);
    const { count, reason } = this.restartsInARow;
    return count >= RESTARTS_THAT_STALL
      ? new Error(`restarted ${count} times in a row without a fetch read whole: ${reason}`)
      : null;
  }

  /** Resolves once this member has joined its group and been given its partitions. */
  get ready(): Promise<void> {
    return this.joined;
  }

  async start(): Promise<void> {
    await Promise.all([this.producer.connect(), this.admin.connect(), this.consumer.connect()]);
    // A new group starts from the oldest retained record: a read model needs the whole history it can get.
    await this.consumer.subscribe({ topics: [...this.definition.topics], fromBeginning: true });
    this.metrics.lagSources.add(this.lagSource);
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.concurrency ?? 3,
      eachBatch: (payload) => this.consumeBatch(payload),
    });
    this.log.info({ topics: this.definition.topics }, "consuming");
  }

  /**
   * Lets the record in flight finish (its effect and its offset commit) and leaves the group, so its
   * partitions move to the other members at once. A record still running after the grace period is
   * abandoned: its transaction commits or not as a whole, and it is redelivered to whoever takes over.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const timer of this.resumeTimers) clearTimeout(timer);
    this.resumeTimers.clear();
    this.metrics.lagSources.delete(this.lagSource);
    const graceMs = this.options.shutdownGraceMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const abandoned = new Promise<"abandoned">((resolve) => {
      timer = setTimeout(() => resolve("abandoned"), graceMs);
    });
    const outcome = await Promise.race([this.consumer.disconnect().then(() => "left" as const), abandoned]);
    clearTimeout(timer);
    if (outcome === "abandoned")
      this.log.warn({ graceMs }, "abandoned the record in flight; it will be redelivered");
    await Promise.all([this.producer.disconnect(), this.admin.disconnect()]).catch(() => {});
  }

  private async consumeBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale, pause } = payload;
    const { topic, partition } = batch;
    // The offset after the last record handled and not yet committed. Offsets are committed once per batch
    // (and at least every OFFSET_COMMIT_INTERVAL_MS within a long one), not once per record: a record is only
    // handed over after its effect committed, and one redelivered after a crash is a duplicate the inbox
    // acknowledges without a second effect.
    let uncommitted: string | undefined;
    let committedAt = performance.now();
    const commit = async () => {
      if (uncommitted === undefined) return;
      const offset = uncommitted;
      uncommitted = undefined;
      committedAt = performance.now();
      await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset }] }] });
    };
    try {
      const { messages } = batch;
      // Records to handle one at a time, after handling them together failed, and what was decoded of them;
      // then, when a handler failed among them, its record, whose failure is settled in its turn.
      let oneByOne: { from: number; until: number; decoded: DecodedRecord[]; failure?: HandlerFailure } = {
        from: 0,
        until: 0,
        decoded: [],
      };
      let index = 0;
      for (; index < messages.length; ) {
        if (this.stopping || !isRunning() || isStale()) break;
        const message = messages[index] as KafkaMessage;
        const origin = { topic, partition, offset: message.offset };
        let handled = 1;
        const outcome = await (async (): Promise<RecordOutcome> => {
          if (index >= oneByOne.until && !oneByOne.failure) {
            const together = await this.consumeTogether(topic, partition, messages.slice(index));
            if ("handled" in together) {
              handled = together.handled;
              return { done: true };
            }
            const { decoded, failed } = together;
            oneByOne = failed
              ? { from: index, until: index + failed.position, decoded, failure: failed.failure }
              : { from: index, until: index + Math.max(1, decoded.length), decoded };
          }
          if (index === oneByOne.until && oneByOne.failure) {
            const { failure } = oneByOne;
            oneByOne = { ...oneByOne, failure: undefined };
            return this.afterHandlerFailure(failure);
          }
          return this.consumeRecord(origin, message, oneByOne.decoded[index - oneByOne.from]);
        })().catch((error: unknown) => {
          // Not the handler (its failures are dealt with inside): a fault around it. Keep the place, try later.
          this.log.error(
            { ...origin, error: errorSummary(error) },
            "could not process the record; will retry",
          );
          return { done: false, retryInMs: 1_000 } as const;
        });
        if (!outcome.done) {
          this.retryLater(pause(), outcome.retryInMs);
          break;
        }
        for (const done of messages.slice(index, index + handled)) {
          await this.options.afterEffectCommitted?.({ topic, partition, offset: done.offset });
          resolveOffset(done.offset);
          // The committed offset is the next record to read.
          uncommitted = (BigInt(done.offset) + 1n).toString();
        }
        index += handled;
        if (performance.now() - committedAt >= OFFSET_COMMIT_INTERVAL_MS) await commit();
        // Throws when the group is rebalancing, which ends the batch here: the partition may be someone else's.
        await heartbeat();
      }
      // Every record handled: the offset after the batch's last entry, which a relay's transaction ends with its
      // commit marker (no record, never handed over). Committed short of it, a partition read to its end showed a
      // lag of 1 for ever.
      if (index === messages.length && messages.length > 0) {
        uncommitted = (BigInt(batch.lastOffset()) + 1n).toString();
      }
    } catch (error) {
      // Most likely a rebalance: commit what was handled if the group still takes it, else it is redelivered.
      await commit().catch(() => {});
      throw error;
    }
    await commit();
  }

  /**
   * Where the record was read, with the topic's partition count to check that its key chose that partition
   * (recordContract.ts misplacedRecord). The count is read from the broker once, and again when a record seems
   * misplaced under it (at most every PARTITION_COUNT_REFRESH_MS): partitions added since re-map keys, and a
   * record a relay placed under the new count is not misplaced. A broker that does not answer is an outage:
   * the record is retried, never parked for it.
   */
  private async placementOf(topic: string, partition: number, key: Buffer | null): Promise<RecordPlacement> {
    let known = this.partitionCounts.get(topic);
    const stale = known === undefined || Date.now() - known.readAt >= PARTITION_COUNT_REFRESH_MS;
    if (known === undefined || (stale && misplacedRecord(key, { partition, partitions: known.partitions }))) {
      const { topics } = await this.admin.fetchTopicMetadata({ topics: [topic] });
      const partitions = topics.find((one) => one.name === topic)?.partitions.length ?? 0;
      if (partitions === 0) throw new Error(`${topic}: the broker returned no partitions for the topic`);
      known = { partitions, readAt: Date.now() };
      this.partitionCounts.set(topic, known);
    }
    return { partition, partitions: known.partitions };
  }

  private retryLater(resume: () => void, delayMs: number): void {
    const timer = setTimeout(() => {
      this.resumeTimers.delete(timer);
      if (!this.stopping) resume();
    }, delayMs);
    this.resumeTimers.add(timer);
  }

  private async consumeRecord(
    origin: RecordOrigin,
    message: KafkaMessage,
    decodedAlready?: DecodedRecord,
  ): Promise<RecordOutcome> {
    const decoded =
      decodedAlready ??
      (await decodeMessage(
        origin.topic,
        message,
        this.keys,
        this.definition.erasedPatients,
        await this.placementOf(origin.topic, origin.partition, message.key),
      ));
    if (decoded.kind === "erased") {
      this.metrics.erased.inc({ consumer: this.name, event_type: decoded.eventType });
      this.log.info({ eventId: decoded.eventId, ...origin }, "skipped: the patient it concerns was erased");
      return { done: true };
    }
    if (decoded.kind === "poison") return this.parkPoison(message, origin, decoded);
    const { envelope } = decoded;
    const handler = this.definition.handlers[envelope.eventType];
    if (handler === undefined) return { done: true };
    const superseding = redriven(message) ? await this.newerAppliedThan(envelope) : null;
    if (superseding !== null) {
      this.metrics.superseded.inc({ consumer: this.name, event_type: envelope.eventType });
      this.log.warn(
        {
          eventId: envelope.eventId,
          ...origin,
          redrivenFrom: redrivenFromHeader(message),
          newerEventId: superseding.eventId,
          newerPosition: superseding.position,
        },
        "skipped: a re-driven event older than one of its aggregate this consumer has applied since",
      );
      return { done: true };
    }

    const { retryKey, attempt } = this.attemptAt(origin);
    const record: ConsumedRecord = { ...origin, headers: textHeaders(message.headers) };
    const started = performance.now();
    try {
      const handled = await this.handleInSpan(handler, envelope, record, readEvent(envelope, message));
      this.countHandled(envelope, origin, handled, {
        seconds: (performance.now() - started) / 1000,
        attempt,
      });
      this.retries.delete(retryKey);
      return { done: true };
    } catch (error) {
      if (error instanceof EventIdReused) {
        this.retries.delete(retryKey);
        return this.refuseReusedId(message, origin, envelope, error);
      }
      if (error instanceof EventNotCommitted) {
        this.retries.delete(retryKey);
        return this.refuseUncommitted(message, origin, envelope, error);
      }
      return this.afterHandlerFailure({
        origin,
        message,
        envelope,
        error,
        started,
        failed: performance.now(),
      });
    }
  }

  /**
   * Parks a poison record. One whose envelope could be read and that is no committed event is parked as that
   * (`not-committed`), whatever else is wrong with it: a record forged without the patients' keys does not open
   * (`undecryptable`) or holds plain text (`not-sealed`), one forged without the relay's headers breaks the record
   * contract, and each is a security incident all the same, which only `not-committed` counts and alerts on. A
   * committed event's record keeps its problem: a key, a configuration or a copy to look into, unless this consumer
   * processed that very record's value (an earlier version took it, a replay sends it again): a duplicate then. A
   * record larger than any event is not read for it.
   */
  private async parkPoison(
    message: KafkaMessage,
    origin: RecordOrigin,
    poison: { problem: PoisonProblem; message: string },
  ): Promise<RecordOutcome> {
    const event = poison.problem === "too-large" ? null : envelopeIdentity(message.value);
    if (event !== null) {
      const digest = valueDigest(message.value);
      const uncommitted = await notCommittedRecord(this.db, event.eventId, digest);
      if (uncommitted !== null) {
        const refusal = new EventNotCommitted(event.eventId, event.eventType, uncommitted);
        return this.refuseUncommitted(message, origin, event, refusal, poison.problem);
      }
      // A copy, byte for byte, of an event this consumer processed: the version that processed it read it, and
      // nothing this one refuses in its value (a rule tightened since) undoes what was done. A duplicate, as any
      // other; a record that breaks the record contract around it is still a producer's fault to look into.
      const processed = VALUE_PROBLEMS.has(poison.problem)
        ? await processedBefore(this.db, this.name, event.eventId)
        : null;
      const sameEvent = { eventId: event.eventId, eventType: event.eventType, valueSha256: digest };
      if (processed !== null && processed.valueSha256 !== null && reusedBy(sameEvent, processed) === null) {
        this.metrics.duplicates.inc({ consumer: this.name, event_type: event.eventType });
        this.log.info(
          { eventId: event.eventId, ...origin, problem: poison.problem },
          "already processed; acknowledged without effect, though this version refuses it",
        );
        return { done: true };
      }
    }
    return this.deadLetter(message, origin, {
      consumer: this.name,
      reason: "poison",
      error: poison.problem,
      errorMessage: poison.message,
      attempts: 0,
    });
  }

  /** Counts and logs what handling a record came to. */
  private countHandled(
    envelope: TypedEnvelope,
    origin: RecordOrigin,
    handled: Handled,
    { seconds, attempt }: { seconds: number; attempt: number },
  ): void {
    const labels = { consumer: this.name, event_type: envelope.eventType };
    this.metrics.handlerDuration.observe(labels, seconds);
    const { eventId } = envelope;
    switch (handled.effect) {
      case "processed":
        this.metrics.processed.inc(labels);
        this.log.debug({ eventId, ...origin, attempt }, "processed");
        return;
      case "duplicate":
        this.metrics.duplicates.inc(labels);
        this.log.info({ eventId, ...origin }, "already processed; acknowledged without effect");
        return;
      case "superseded":
        this.metrics.superseded.inc(labels);
        this.log.warn(
          {
            eventId,
            ...origin,
            newerEventId: handled.newer.eventId,
            newerAggregateVersion: handled.newer.aggregateVersion,
          },
          "skipped: an event older than one of its aggregate this consumer has applied (a copy sent again)",
        );
    }
  }

  /** The record's attempt: the first, or the next after those that failed at this offset before. */
  private attemptAt(origin: RecordOrigin) {
    const retryKey = `${origin.topic}/${origin.partition}`;
    const previous = this.retries.get(retryKey);
    const retrying = previous?.offset === origin.offset ? previous : undefined;
    return {
      retryKey,
      retrying,
      attempt: (retrying?.attempts ?? 0) + 1,
      failures: (retrying?.failures ?? 0) + 1,
    };
  }

  /**
   * Parks a record whose event id was processed as another event type or value: no attempt could make it
   * right, and the logs say which ids and types, never what the record holds.
   */
  private refuseReusedId(
    message: KafkaMessage,
    origin: RecordOrigin,
    envelope: TypedEnvelope,
    refusal: EventIdReused,
  ): Promise<RecordOutcome> {
    this.log.warn(
      {
        eventId: envelope.eventId,
        eventType: envelope.eventType,
        processedAs: refusal.processedAs,
        differs: refusal.differs,
        ...origin,
      },
      "refused: the event id was processed as another event",
    );
    return this.deadLetter(message, origin, {
      consumer: this.name,
      reason: "poison",
      error: "event-id-reused",
      errorMessage: refusal.message,
      attempts: 0,
    });
  }

  /**
   * Parks a record whose event is not a committed one (a forged record, or a copy of a real event's id with
   * another value): nothing is applied and nothing recorded. An event neither the outbox nor the archived events'
   * digests hold that is dated before the cutoff of the newest archive recorded before archives kept digests
   * (migration 0029) may be one that archive moved out: its committed value is in an archive file, which a
   * consumer cannot read, so it is refused too, and the message says so and names the file. The logs say ids and
   * types, never what the record holds.
   */
  private async refuseUncommitted(
    message: KafkaMessage,
    origin: RecordOrigin,
    envelope: EnvelopeIdentity,
    refusal: EventNotCommitted,
    /** What else is wrong with the record, for the log: it was poison before it was checked. */
    poison?: PoisonProblem,
  ): Promise<RecordOutcome> {
    if (refusal.found === "nothing" && this.mayNotBeVisibleYet(origin, envelope)) {
      return { done: false, retryInMs: COMMIT_VISIBILITY_RETRY_MS };
    }
    const archived = refusal.found === "nothing" ? await archivedWithoutDigests(this.db.$client) : null;
    const mayBeArchived =
      archived !== null && Date.parse(envelope.timestamp) < archived.createdBefore.getTime();
    this.log.warn(
      {
        eventId: envelope.eventId,
        eventType: envelope.eventType,
        found: refusal.found,
        mayBeArchived,
        ...(poison === undefined ? {} : { poison }),
        ...origin,
      },
      "refused: the record is not a committed event",
    );
    const outcome = await this.deadLetter(message, origin, {
      consumer: this.name,
      reason: "poison",
      error: "not-committed",
      errorMessage: mayBeArchived
        ? `event ${envelope.eventId} (${envelope.eventType}) is neither in the outbox nor among the archived events, and is dated before the cutoff of ${archived?.fileName}, archived before archives kept their events' digests: if it was archived then, its committed value is in an archive file, which a consumer cannot check it against; not applied`
        : refusal.message,
      attempts: 0,
    });
    // Once parked: a dead letter Kafka did not take yet is refused again when it is offered again.
    if (outcome.done) this.metrics.notCommitted.inc({ consumer: this.name, topic: origin.topic });
    return outcome;
  }

  /**
   * Whether a record whose event the outbox does not hold is read again (COMMIT_VISIBILITY_WAIT_MS): its commit
   * may not be visible yet. Logged once, when the wait begins.
   */
  private mayNotBeVisibleYet(origin: RecordOrigin, envelope: EnvelopeIdentity): boolean {
    const key = `${origin.topic}/${origin.partition}`;
    const seen = this.notVisibleYet.get(key);
    const now = performance.now();
    if (seen?.offset !== origin.offset) {
      this.notVisibleYet.set(key, { offset: origin.offset, since: now });
      this.log.info(
        { eventId: envelope.eventId, eventType: envelope.eventType, ...origin },
        "the outbox does not hold the record's event (yet): read again until its commit is visible",
      );
      return true;
    }
    if (now - seen.since < COMMIT_VISIBILITY_WAIT_MS) return true;
    this.notVisibleYet.delete(key);
    return false;
  }

  /** A handler's attempt failed: counted, then retried later, waited for, or parked, as the policy says. */
  private async afterHandlerFailure({
    origin,
    message,
    envelope,
    error,
    started,
    failed,
  }: HandlerFailure): Promise<RecordOutcome> {
    const { retryKey, retrying, attempt, failures } = this.attemptAt(origin);
    const labels = { consumer: this.name, event_type: envelope.eventType };
    this.metrics.handlerDuration.observe(labels, (failed - started) / 1000);
    this.metrics.failures.inc(labels);
    const failingSince = retrying?.failingSince ?? started;
    const decision = this.policy.afterFailure(error, attempt, failures, performance.now() - failingSince);
    const context = { eventId: envelope.eventId, eventType: envelope.eventType, ...origin, attempt };
    if (decision.action === "dead-letter") {
      this.log.warn({ ...context, error: errorSummary(error) }, "handler failed its last attempt");
      this.retries.delete(retryKey);
      return this.deadLetter(message, origin, {
        consumer: this.name,
        reason: decision.reason,
        error: errorSummary(error).name,
        errorMessage: recordableMessage(error),
        attempts: attempt,
      });
    }
    const cause = {
      retry: "handler",
      "wait-for-platform": "platform",
      "wait-for-prerequisite": "prerequisite",
    }[decision.action];
    this.metrics.retries.inc({ ...labels, cause });
    // Waiting for another topic's event is how a projection that fell behind looks, not a fault.
    this.log[cause === "prerequisite" ? "info" : "warn"](
      { ...context, error: errorSummary(error), cause, retryInMs: decision.delayMs },
      "handler failed; will retry",
    );
    this.retries.set(retryKey, {
      offset: origin.offset,
      attempts: decision.action === "retry" ? attempt : attempt - 1,
      failures,
      failingSince,
    });
    return { done: false, retryInMs: decision.delayMs };
  }

  /**
   * Handles the partition's next records in one transaction when a transactional consumer has several to
   * handle: one BEGIN, one inbox INSERT and one COMMIT for all of them, rather than for each. Stops before a
   * poison record. Any failure rolls them all back, and they are then handled one by one (with what was
   * decoded of them), where a failing record's attempts are counted and it is retried or parked; so is a record
   * the inbox refuses (its event id held under another type or value, or no committed event), found before any
   * handler ran.
   */
  private async consumeTogether(
    topic: string,
    partition: number,
    messages: readonly KafkaMessage[],
  ): Promise<
    { handled: number } | { decoded: DecodedRecord[]; failed?: { position: number; failure: HandlerFailure } }
  > {
    const definition = this.definition;
    const retrying = this.retries.get(`${topic}/${partition}`)?.offset === messages[0]?.offset;
    if (definition.kind !== "transactional" || messages.length < 2 || retrying) {
      return { decoded: [] };
    }
    const decoded: DecodedRecord[] = [];
    for (const message of messages.slice(0, RECORDS_PER_TRANSACTION)) {
      // A re-driven record is handled alone, where it is checked against what was applied before it.
      if (redriven(message)) break;
      const record = await decodeMessage(
        topic,
        message,
        this.keys,
        this.definition.erasedPatients,
        await this.placementOf(topic, partition, message.key),
      );
      if (record.kind === "poison") break;
      decoded.push(record);
    }
    const handled = decoded.flatMap((record, index) => {
      const handler = record.kind === "event" ? definition.handlers[record.envelope.eventType] : undefined;
      if (record.kind !== "event" || handler === undefined) return [];
      const message = messages[index] as KafkaMessage;
      const origin = { topic, partition, offset: message.offset };
      return [
        {
          handler,
          envelope: record.envelope,
          record: { ...origin, headers: textHeaders(message.headers) },
          message,
          position: index,
        },
      ];
    });
    if (handled.length < 2) return { decoded };
    let effects: Array<{ handled: Handled; seconds: number }>;
    try {
      effects = await this.handleAllInSpan(topic, partition, handled);
    } catch (error) {
      const [{ record: first }] = handled as [(typeof handled)[number]];
      this.log.debug(
        { ...first, records: handled.length, error: errorSummary(error) },
        "could not handle the records together; handling them one by one",
      );
      if (error instanceof EventIdReused || error instanceof EventNotCommitted) {
        // The records up to it one by one, where it is refused in its turn; those after it together again.
        const { position } = handled[error.index] as (typeof handled)[number];
        return { decoded: decoded.slice(0, position + 1) };
      }
      if (!(error instanceof HandlerFailed)) return { decoded };
      // The handler that failed spent the record's attempt, as it would have alone: the records before it are
      // handled one by one, and the policy then decides for it, in its turn.
      const { envelope, record, message, position } = handled[error.index] as (typeof handled)[number];
      const { headers: _, ...origin } = record;
      const failure = {
        origin,
        message,
        envelope,
        error: error.cause,
        started: error.started,
        failed: error.failed,
      };
      return { decoded: decoded.slice(0, position), failed: { position, failure } };
    }
    for (const [index, { envelope, record }] of handled.entries()) {
      const { handled: outcome, seconds } = effects[index] as (typeof effects)[number];
      const { headers: _, ...origin } = record;
      this.countHandled(envelope, origin, outcome, { seconds, attempt: 1 });
    }
    for (const [index, record] of decoded.entries()) {
      if (record.kind !== "erased") continue;
      const origin = { topic, partition, offset: (messages[index] as KafkaMessage).offset };
      this.metrics.erased.inc({ consumer: this.name, event_type: record.eventType });
      this.log.info({ eventId: record.eventId, ...origin }, "skipped: the patient it concerns was erased");
    }
    return { handled: decoded.length };
  }

  /**
   * The transaction of records handled together is a span of its own, linked to each record's writer; each
   * record's handling in it is still a child of its writer, as when it is handled alone.
   */
  private handleAllInSpan(
    topic: string,
    partition: number,
    records: ReadonlyArray<{
      handler: Handler;
      envelope: TypedEnvelope;
      record: ConsumedRecord;
      message: KafkaMessage;
    }>,
  ): Promise<Array<{ handled: Handled; seconds: number }>> {
    return inSpan(
      CONSUMER_TRACER,
      `process ${topic}`,
      {
        kind: SpanKind.CONSUMER,
        root: true,
        links: records.flatMap(({ record }) => linkTo(this.traceHeadersOf(record))),
        attributes: {
          ...this.spanAttributes(topic, partition),
          [ATTR_MESSAGING_BATCH_MESSAGE_COUNT]: records.length,
        },
      },
      () =>
        writeTransaction(this.db, { lockAggregate: this.linesOf(records) }, async (tx) => {
          const verdicts = await recordAllInInbox(
            tx,
            this.name,
            records.map(({ envelope, record, message }) => ({
              event: readEvent(envelope, message),
              origin: record,
            })),
          );
          const refused = verdicts.findIndex(
            (verdict) => verdict.kind === "id-reused" || verdict.kind === "not-committed",
          );
          if (refused >= 0) {
            // Nothing is kept of them: a refusal is a dead letter, a send to Kafka that no transaction holds, and
            // it comes in its turn, after the records before it are handled one by one.
            const { envelope } = records[refused] as (typeof records)[number];
            throw inboxRefusal(verdicts[refused], envelope, refused);
          }
          const effects: Array<{ handled: Handled; seconds: number }> = [];
          for (const [index, { handler, envelope, record }] of records.entries()) {
            const started = performance.now();
            // An event twice among them has its effect at its first record only.
            const verdict = verdicts[index];
            const handled: Handled =
              verdict?.kind === "new"
                ? { effect: "processed" }
                : verdict?.kind === "superseded"
                  ? { effect: "superseded", newer: verdict.newer }
                  : { effect: "duplicate" };
            await this.inRecordSpan(envelope, record, async () => {
              if (handled.effect === "processed") {
                await runHandler(handler, envelope, { tx, record }).catch((error: unknown) => {
                  throw new HandlerFailed(index, started, performance.now(), error);
                });
              }
              return handled;
            });
            effects.push({ handled, seconds: (performance.now() - started) / 1000 });
          }
          return effects;
        }),
    );
  }

  /** The lines the records wait in (`lineFor`): a transaction handling them together takes them all. */
  private linesOf(records: ReadonlyArray<{ envelope: TypedEnvelope }>): AggregateLock[] {
    const { definition } = this;
    if (definition.kind !== "transactional" || !definition.lineFor) return [];
    return records.flatMap(({ envelope }) => definition.lineFor?.(envelope) ?? []);
  }

  /**
   * The handling is a child of the record's trace context (the writer's span, from its traceparent and
   * tracestate headers), so a request's trace goes on into what its events cause, including the events the
   * handler appends. Each attempt is a span of its own.
   */
  private handleInSpan(
    handler: Handler,
    envelope: TypedEnvelope,
    record: ConsumedRecord,
    read: ReadEvent,
  ): Promise<Handled> {
    return this.inRecordSpan(envelope, record, () => this.handle(handler, envelope, record, read));
  }

  /** The record's trace context, its tracestate cut down to the members tracestateKeys names. */
  private traceHeadersOf(record: ConsumedRecord): TraceHeaders {
    return {
      traceparent: record.headers.traceparent ?? null,
      tracestate: admittedTracestate(record.headers.tracestate, this.tracestateKeys) ?? null,
    };
  }

  private inRecordSpan(
    envelope: TypedEnvelope,
    record: ConsumedRecord,
    work: () => Promise<Handled>,
  ): Promise<Handled> {
    return inSpan(
      CONSUMER_TRACER,
      `process ${record.topic}`,
      {
        kind: SpanKind.CONSUMER,
        parent: contextFromHeaders({ ...this.traceHeadersOf(record) }),
        attributes: {
          ...this.spanAttributes(record.topic, record.partition),
          [ATTR_MESSAGING_KAFKA_OFFSET]: Number(record.offset),
          [ATTR_MESSAGING_MESSAGE_ID]: envelope.eventId,
          "event.type": envelope.eventType,
        },
      },
      async (span) => {
        const handled = await work();
        span.setAttribute("consumer.effect", handled.effect);
        return handled;
      },
    );
  }

  private spanAttributes(topic: string, partition: number) {
    return {
      [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_VALUE_KAFKA,
      [ATTR_MESSAGING_OPERATION_TYPE]: MESSAGING_OPERATION_TYPE_VALUE_PROCESS,
      [ATTR_MESSAGING_OPERATION_NAME]: "process",
      [ATTR_MESSAGING_DESTINATION_NAME]: topic,
      [ATTR_MESSAGING_DESTINATION_PARTITION_ID]: String(partition),
      [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: this.name,
    };
  }

  /**
   * For a re-driven event this consumer has not applied: the newest event of its aggregate on its topic, later than
   * it, that this consumer has applied (everything before the copy on its partition has been handled by now); null
   * when there is none, or when the topic keeps no order between events (audit-events, keyed by eventId). Null too
   * when the outbox does not hold the event: the inbox then judges it, refusing one that is no committed event (a
   * re-drive's header is anyone's to write, and a forgery must not pass for an old event skipped) and finding an
   * archived one's place by its aggregate version.
   */
  private async newerAppliedThan(envelope: TypedEnvelope): Promise<NewerEvent | null> {
    const definition = eventDefinition(envelope.eventType);
    if (definition.keyedBy !== "aggregate") return null;
    if ((await processedBefore(this.db, this.name, envelope.eventId)) !== null) return null;
    const [place] = await newerEventsApplied(this.db.$client, [
      {
        eventId: envelope.eventId,
        consumer: this.name,
        topic: definition.topic,
        aggregateType: definition.aggregateType,
        aggregateId: definition.aggregateId(envelope.data),
      },
    ]);
    if (place === undefined || place.createdAt === null) return null;
    return place.newerApplied;
  }

  /**
   * Runs the handler with the inbox; no effect when the event had been processed before ("duplicate"), or when
   * the consumer has applied a newer event of its aggregate ("superseded"). Throws, before the handler,
   * EventIdReused when its id was processed as another event type or with another value, and EventNotCommitted
   * when the record is not a committed event (inbox.ts).
   */
  private async handle(
    handler: Handler,
    envelope: TypedEnvelope,
    record: ConsumedRecord,
    read: ReadEvent,
  ): Promise<Handled> {
    if (this.definition.kind === "transactional") {
      const lockAggregate = this.definition.lineFor?.(envelope);
      return writeTransaction(this.db, { lockAggregate }, async (tx) => {
        const verdict = await recordInInbox(tx, this.name, read, record);
        const refusal = inboxRefusal(verdict, envelope);
        if (refusal !== null) throw refusal;
        if (verdict.kind === "duplicate") return { effect: "duplicate" };
        if (verdict.kind === "superseded") return { effect: "superseded", newer: verdict.newer };
        await runHandler(handler, envelope, { tx, record });
        return { effect: "processed" };
      });
    }
    const verdict = await verdictBeforeEffect(this.db, this.name, read, record.topic);
    const refusal = inboxRefusal(verdict, envelope);
    if (refusal !== null) throw refusal;
    if (verdict.kind === "duplicate") return { effect: "duplicate" };
    if (verdict.kind === "superseded") return { effect: "superseded", newer: verdict.newer };
    await runHandler(handler, envelope, { db: this.db, record });
    // One statement, atomic on its own: no transaction around it. Its verdict comes after the effect, too late
    // to matter: the check above is what keeps a duplicate, a reused id or an uncommitted event from an effect.
    await recordInInbox(this.db, this.name, read, record);
    return { effect: "processed" };
  }

  /**
   * Parks the record in its topic's dead-letter topic; while Kafka refuses, the record is retried later. A
   * refusal no retry cures is an error with a metric of its own: the record is never skipped, so its partition
   * waits for a person (a dead-letter topic deleted or made read-only, its limit lowered below the topic's).
   */
  private async deadLetter(
    message: KafkaMessage,
    origin: RecordOrigin,
    cause: DeadLetterCause,
  ): Promise<RecordOutcome> {
    const dlqTopic = `${origin.topic}.dlq`;
    try {
      await this.producer.send({
        topic: dlqTopic,
        acks: -1,
        messages: [deadLetterMessage(message, origin, cause)],
      });
    } catch (error) {
      const refusal = nonRetriableKafkaError(error);
      if (refusal) {
        this.metrics.deadLetterRefusals.inc({ consumer: this.name, topic: origin.topic, code: refusal });
        this.log.error(
          { ...origin, dlqTopic, code: refusal },
          "the dead-letter topic refuses this record for good: its partition waits until the cause is fixed",
        );
        return { done: false, retryInMs: DEAD_LETTER_REFUSED_RETRY_MS };
      }
      this.log.warn(
        { ...origin, dlqTopic, error: errorSummary(error) },
        "cannot reach the dead-letter topic",
      );
      return { done: false, retryInMs: 1_000 };
    }
    this.metrics.deadLettered.inc({ consumer: this.name, topic: origin.topic, reason: cause.reason });
    this.log.warn(
      {
        ...origin,
        dlqTopic,
        eventId: eventIdHeader(message),
        reason: cause.reason,
        error: cause.error,
      },
      "record sent to the dead-letter topic",
    );
    return { done: true };
  }
}

/** Whether the record is a dead letter sent back to its topic (`npm run dlq -- redrive`). */
function redriven(message: KafkaMessage): boolean {
  return headerText(message.headers?.[DEAD_LETTER_HEADERS.redrivenFrom] ?? null) !== null;
}

/**
 * The record's eventId header, for a log line: null unless it is a UUID. A record parked for what it is (not JSON,
 * headers not its value's) may carry anything in its headers, patient data included, and no log line repeats it.
 */
function eventIdHeader(message: KafkaMessage): string | null {
  const eventId = headerText(message.headers?.eventId ?? null);
  return eventId !== null && uuid.safeParse(eventId).success ? eventId : null;
}

/** The dead letter a re-driven record came from (`<topic>.dlq/<partition>/<offset>`), for a log line: else null. */
function redrivenFromHeader(message: KafkaMessage): string | null {
  const from = headerText(message.headers?.[DEAD_LETTER_HEADERS.redrivenFrom] ?? null);
  return from !== null && /^[a-z-]+\.dlq\/\d+\/\d+$/.test(from) ? from : null;
}

function textHeaders(headers: KafkaMessage["headers"]): Record<string, string> {
  const text: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const decoded = headerText(value);
    if (decoded !== null) text[name] = decoded;
  }
  return text;
}

/**
 * What the logs say about an error: its class and code, and for a master key fault the id of the key the
 * operator must fix. Not its message, which may quote patient data (Postgres repeats the value it refused);
 * the dead-letter record carries what of it may be kept (recordableMessage.ts).
 */
function errorSummary(error: unknown): { name: string; code?: string; masterKeyId?: string } {
  if (!(error instanceof Error)) return { name: typeof error };
  if (isMasterKeyFault(error)) return { name: error.name, masterKeyId: error.masterKeyId };
  // A library may name or code its error after what it was given: then the name is left out as well.
  const name = plainIdentifier(error.name) ?? "an error";
  const code = plainIdentifier(
    (error as { code?: unknown }).code ?? (error.cause as { code?: unknown } | undefined)?.code,
  );
  return code === null ? { name } : { name, code };
}
