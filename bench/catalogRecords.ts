// Kafka records as the relay sends them, for the benchmarks that need realistic ones: envelopes of every catalog
// type in turn, personal fields sealed as the write path seals them, the record contract's key and headers.
import { randomBytes, randomUUID } from "node:crypto";
import { exampleEvent } from "../events/examples.ts";
import { ENVELOPE_VERSION, eventDefinition, eventTypes, recordKey } from "../events/index.ts";
import { recordHeaders } from "../events/record.ts";
import { carriesPersonalFields, sealPersonalFields } from "../phi/personalFields.ts";

export interface CatalogRecord {
  /** The catalog topic the event type belongs to. */
  topic: string;
  key: string;
  value: string;
  headers: Record<string, string>;
}

export function catalogRecords(count: number): CatalogRecord[] {
  const dataKey = randomBytes(32);
  return Array.from({ length: count }, (_, index) => {
    const type = eventTypes[index % eventTypes.length] as (typeof eventTypes)[number];
    const eventId = randomUUID();
    const { data } = exampleEvent(type);
    const plain = data as Record<string, unknown>;
    const envelope = {
      eventId,
      eventType: type,
      timestamp: new Date().toISOString(),
      source: "bench",
      version: ENVELOPE_VERSION,
      data: carriesPersonalFields(type, plain) ? sealPersonalFields(type, eventId, plain, dataKey) : plain,
      metadata: {
        correlationId: randomUUID(),
        userId: randomUUID(),
        ipAddress: null,
        userAgent: "bench",
        sessionId: null,
      },
    };
    return {
      topic: eventDefinition(type).topic,
      key: recordKey(type, eventId, data as never),
      value: JSON.stringify(envelope),
      headers: recordHeaders({
        eventId,
        eventType: type,
        correlationId: envelope.metadata.correlationId,
        traceparent: null,
        tracestate: null,
      }),
    };
  });
}
