// What a record around a valid event must say of it (docs/architecture.md, "The record contract"): its key is
// the event's aggregate id (the event id on a topic keyed by event), and its eventId, eventType and
// correlationId headers are the envelope's, once each. Both relays, a replay and a re-drive always write them so;
// a record that does not is forged or broken. Its key decided its partition: an event under another key was
// ordered among another aggregate's events, and applied it could overtake its own aggregate's older events (a
// consent withdrawal applied before the grant it withdraws). Its headers are what the `dlq` tool lists, selects
// and re-drives dead letters by. And it is no larger than the write path lets an event be (MAX_EVENT_BYTES).
import { eventDefinition, recordKey, type TypedEnvelope } from "../../events/index.ts";
import { MAX_EVENT_BYTES, recordBytes } from "../../events/record.ts";
import type { IHeaders, KafkaMessage } from "../../kafka/client.ts";
import { partitionOfKey } from "../../kafka/keyPartitioner.ts";
import { DEAD_LETTER_HEADERS } from "./deadLetters.ts";

export type ContractProblem = "too-large" | "wrong-key" | "wrong-headers" | "wrong-partition";

/**
 * Why the record is larger than any event the write path accepts (appendEvents refuses one, EventTooLarge), or
 * null when it is not: counted as the write path counts it, without the one header a re-drive adds
 * (`dlq.redriven.from`, a few dozen bytes), so an event of the largest size can still be re-driven; any other
 * header counts, `dlq.` or not (a re-drive sends none other). Checked before its value is read at all.
 */
export function oversizedRecord(
  record: Pick<KafkaMessage, "key" | "value" | "headers">,
): { problem: ContractProblem; message: string } | null {
  const headers = Object.entries(record.headers ?? {}).filter(
    ([name]) => name !== DEAD_LETTER_HEADERS.redrivenFrom,
  );
  const bytes = recordBytes({ key: record.key, value: record.value, headers: Object.fromEntries(headers) });
  if (bytes <= MAX_EVENT_BYTES) return null;
  return {
    problem: "too-large",
    message: `the record takes ${bytes} bytes, more than the ${MAX_EVENT_BYTES} an event may take (key, value and headers)`,
  };
}

/**
 * Why the record's key or headers do not fit its event, or null when they do. The message names the key's
 * field and the headers, never a value: a forged key or header can hold anything, patient data included.
 */
export function recordContractBreach(
  record: Pick<KafkaMessage, "key" | "headers">,
  envelope: TypedEnvelope,
): { problem: ContractProblem; message: string } | null {
  const headers = headerProblems(record.headers ?? {}, {
    eventId: envelope.eventId,
    eventType: envelope.eventType,
    correlationId: envelope.metadata.correlationId,
  });
  if (headers.length > 0) {
    return { problem: "wrong-headers", message: `the record's ${headers.join(", ")}` };
  }
  if (record.key?.toString("utf8") !== recordKey(envelope.eventType, envelope.eventId, envelope.data)) {
    return { problem: "wrong-key", message: `the record's key is not ${keyName(envelope)}` };
  }
  return null;
}

/** One phrase per header that is not once and exactly the envelope's value. */
function headerProblems(headers: IHeaders, expected: Record<string, string>): string[] {
  return Object.entries(expected).flatMap(([name, value]) => {
    const given = [headers[name] ?? []].flat();
    if (given.length === 0) return [`${name} header is missing`];
    if (given.length > 1) return [`${name} header is given ${given.length} times`];
    return String(given[0]) === value ? [] : [`${name} header is not the envelope's ${name}`];
  });
}

/** What the key of the envelope's event is: its id, or its aggregate's, as the catalog keys its topic. */
function keyName({ eventType }: TypedEnvelope): string {
  const definition = eventDefinition(eventType);
  return definition.keyedBy === "eventId"
    ? `the eventId of its ${eventType} event`
    : `the ${definition.aggregateType} id of its ${eventType} event`;
}

/** Where a record is: its partition, and how many the topic has now. */
export interface RecordPlacement {
  partition: number;
  partitions: number;
}

/**
 * Why the record is not on the partition its key hashes to among the topic's partitions (murmur2, as Java's
 * clients and both relays place it: kafka/keyPartitioner.ts), or null when it is, or has no key (wrong-key's).
 * Names the partitions, never the key.
 */
export function misplacedRecord(
  key: Buffer | null,
  { partition, partitions }: RecordPlacement,
): { problem: ContractProblem; message: string } | null {
  if (key === null) return null;
  const keys = partitionOfKey(key, partitions);
  if (keys === partition) return null;
  return {
    problem: "wrong-partition",
    message: `the record is on partition ${partition}, not ${keys}, the one of the topic's ${partitions} its key hashes to`,
  };
}
