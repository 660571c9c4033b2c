// The dead-letter record: the original record's key, value and headers unchanged (so a re-drive sends the
// same bytes, with the same eventId), plus `dlq.*` headers saying who gave up on it, why, and where it was.
import { uuid } from "../../events/fields.ts";
import { envelopeSchema } from "../../events/index.ts";
import { BATCH_OVERHEAD_BYTES, recordBytes, TOPIC_MAX_MESSAGE_BYTES } from "../../events/record.ts";
import type { IHeaders, KafkaMessage, Message } from "../../kafka/client.ts";

export const DEAD_LETTER_HEADERS = {
  consumer: "dlq.consumer",
  /** `poison` (no attempt could process it) or `attempts-exhausted`. */
  reason: "dlq.reason",
  /**
   * For poison, the problem (`not-json`, `invalid-data`, ..., `event-id-reused`, `not-committed`: README
   * "Poison codes"); otherwise the error's class, e.g. `TypeError`.
   */
  error: "dlq.error",
  errorMessage: "dlq.error.message",
  attempts: "dlq.attempts",
  originalTopic: "dlq.original.topic",
  originalPartition: "dlq.original.partition",
  originalOffset: "dlq.original.offset",
  deadLetteredAt: "dlq.dead-lettered.at",
  /** Set on a record re-driven to its topic: the dead letter it came from, `topic/partition/offset`. */
  redrivenFrom: "dlq.redriven.from",
  /**
   * Set when the dead letter holds no key, value or headers of its record, which was too large to park whole:
   * how many bytes the record took. The record stays where `dlq.original.*` says, for its topic's retention.
   */
  recordOmitted: "dlq.record.omitted",
} as const;

/**
 * The largest record a dead letter carries whole: what its topic takes uncompressed, less a batch's framing. A
 * topic's max.message.bytes counts a batch as compressed, so a record that only compression got under it (a
 * repetitive value of megabytes) can be larger uncompressed than any dead-letter topic takes, whatever codec
 * parks it: Kafka would refuse its dead letter for good, and its partition could never move on.
 */
const WHOLE_RECORD_MAX_BYTES = TOPIC_MAX_MESSAGE_BYTES - BATCH_OVERHEAD_BYTES;

/**
 * Headers are for people reading a listing: a handler's message can be long, so it is cut, and so are the
 * other free texts. Together they stay far under the room a dead-letter topic has beyond its topic's limit
 * (DEAD_LETTER_HEADROOM_BYTES), so that every record the topic held can be parked.
 */
const ERROR_MESSAGE_MAX_LENGTH = 1_000;
const NAME_MAX_LENGTH = 200;

/** Why a record is parked: unprocessable as it is, or its handler failed every attempt. */
export const DEAD_LETTER_REASONS = ["poison", "attempts-exhausted"] as const;

export interface DeadLetterCause {
  consumer: string;
  reason: (typeof DEAD_LETTER_REASONS)[number];
  error: string;
  errorMessage: string;
  attempts: number;
}

export interface RecordOrigin {
  topic: string;
  partition: number;
  offset: string;
}

export function deadLetterMessage(
  record: Pick<KafkaMessage, "key" | "value" | "headers">,
  origin: RecordOrigin,
  cause: DeadLetterCause,
  now: Date = new Date(),
): Message {
  const originalHeaders = withoutDeadLetterHeaders(record.headers ?? {});
  const bytes = recordBytes({ key: record.key, value: record.value, headers: originalHeaders });
  const whole = bytes <= WHOLE_RECORD_MAX_BYTES;
  return {
    // Too large to park whole, the dead letter says only where the record is and why it was parked.
    key: whole ? record.key : null,
    value: whole ? record.value : null,
    // The same partition number rather than the key's hash: a record that was sent to a chosen partition
    // stays findable where an operator would look, and one partition's dead letters stay in their order.
    partition: origin.partition,
    headers: {
      ...(whole
        ? originalHeaders
        : { ...contractHeaders(originalHeaders), [DEAD_LETTER_HEADERS.recordOmitted]: String(bytes) }),
      [DEAD_LETTER_HEADERS.consumer]: cause.consumer.slice(0, NAME_MAX_LENGTH),
      [DEAD_LETTER_HEADERS.reason]: cause.reason,
      [DEAD_LETTER_HEADERS.error]: cause.error.slice(0, NAME_MAX_LENGTH),
      [DEAD_LETTER_HEADERS.errorMessage]: cause.errorMessage.slice(0, ERROR_MESSAGE_MAX_LENGTH),
      [DEAD_LETTER_HEADERS.attempts]: String(cause.attempts),
      [DEAD_LETTER_HEADERS.originalTopic]: origin.topic,
      [DEAD_LETTER_HEADERS.originalPartition]: String(origin.partition),
      [DEAD_LETTER_HEADERS.originalOffset]: origin.offset,
      [DEAD_LETTER_HEADERS.deadLetteredAt]: now.toISOString(),
    },
  };
}

/** A dead letter as the `dlq` command shows it: where it is, where it came from, and why. No payload. */
export interface DeadLetter {
  dlqTopic: string;
  partition: number;
  offset: string;
  eventId: string | null;
  eventType: string | null;
  consumer: string;
  reason: string;
  error: string;
  errorMessage: string;
  attempts: number;
  original: RecordOrigin;
  deadLetteredAt: string;
  redrivenFrom: string | null;
  /** The bytes of a record too large to park whole, of which the dead letter holds nothing; else null. */
  recordOmitted: number | null;
}

export function readDeadLetter(dlqTopic: string, partition: number, message: KafkaMessage): DeadLetter {
  const headers = message.headers ?? {};
  const header = (name: string) => headerText(headers[name]);
  return {
    dlqTopic,
    partition,
    offset: message.offset,
    eventId: ofEventIdForm(header("eventId")),
    eventType: ofEventTypeForm(header("eventType")),
    consumer: header(DEAD_LETTER_HEADERS.consumer) ?? "",
    reason: header(DEAD_LETTER_HEADERS.reason) ?? "",
    error: header(DEAD_LETTER_HEADERS.error) ?? "",
    errorMessage: header(DEAD_LETTER_HEADERS.errorMessage) ?? "",
    attempts: Number(header(DEAD_LETTER_HEADERS.attempts) ?? 0),
    original: {
      topic: header(DEAD_LETTER_HEADERS.originalTopic) ?? "",
      partition: Number(header(DEAD_LETTER_HEADERS.originalPartition) ?? -1),
      offset: header(DEAD_LETTER_HEADERS.originalOffset) ?? "",
    },
    deadLetteredAt: header(DEAD_LETTER_HEADERS.deadLetteredAt) ?? "",
    redrivenFrom: header(DEAD_LETTER_HEADERS.redrivenFrom),
    recordOmitted: wholeNumberOrNull(header(DEAD_LETTER_HEADERS.recordOmitted)),
  };
}

/**
 * A dead letter's eventId and eventType headers are whatever its record carried: one parked for what it is (not
 * JSON, headers not its value's, a forged record) may hold anything there, patient data or a terminal's control
 * characters included, and `dlq list` prints them, as a re-drive's refusals name them. Each is read only when it has
 * the form of an event id (a UUID in lower case) or of an event type (dotted lower case, a type this code may not
 * know yet included), else as absent, as the consumer's log line reads the eventId.
 */
function ofEventIdForm(text: string | null): string | null {
  return text !== null && uuid.safeParse(text).success ? text : null;
}

function ofEventTypeForm(text: string | null): string | null {
  return text !== null && envelopeSchema.shape.eventType.safeParse(text).success ? text : null;
}

/**
 * The record's eventId, eventType and correlationId headers, each once and short, for a dead letter that holds
 * nothing else of it: what `dlq list` shows and `dlq redrive --event` selects by.
 */
function contractHeaders(headers: IHeaders): IHeaders {
  return Object.fromEntries(
    ["eventId", "eventType", "correlationId"].flatMap((name) => {
      const text = headerText(headers[name] ?? null);
      return text !== null && text.length <= NAME_MAX_LENGTH ? [[name, text]] : [];
    }),
  );
}

function wholeNumberOrNull(text: string | null): number | null {
  return text !== null && /^\d{1,15}$/.test(text) ? Number(text) : null;
}

/** The record to send back to its topic: the original key, value and headers, and where it was parked. */
export function redriveMessage(letter: DeadLetter, message: KafkaMessage): Message {
  return {
    key: message.key,
    value: message.value,
    headers: {
      ...withoutDeadLetterHeaders(message.headers ?? {}),
      [DEAD_LETTER_HEADERS.redrivenFrom]: `${letter.dlqTopic}/${letter.partition}/${letter.offset}`,
    },
  };
}

/** A header's text; `null` when absent or sent without a value (Kafka allows a header with a null value). */
export function headerText(value: IHeaders[string] | null): string | null {
  const first: unknown = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === null ? null : String(first);
}

function withoutDeadLetterHeaders(headers: IHeaders): IHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !name.startsWith("dlq.")));
}
