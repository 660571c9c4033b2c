// The AsyncAPI 3.0 document of the platform's six topics, written from the catalog: each topic a channel
// with its partitions and retention, each event type a message whose payload is the envelope schema
// (eventJsonSchemas.ts), whose headers are the record headers and whose key is the catalog's record key.
// `@asyncapi/parser` checks it in the tests; the AsyncAPI generator needs Node 24, so it is built here.
import {
  type EventType,
  eventDefinition,
  eventTypes,
  type TopicDefinition,
  type TopicName,
  topicDefinition,
} from "../catalog.ts";
import { eventEnvelopeJsonSchema, type JsonSchema } from "./eventJsonSchemas.ts";

const KAFKA_BINDING_VERSION = "0.5.0";

export const eventTopics: readonly TopicName[] = [
  "patient-events",
  "appointment-events",
  "document-events",
  "audit-events",
  "notification-events",
  "ai-events",
];

const recordHeaders: JsonSchema = {
  type: "object",
  required: ["eventId", "eventType", "correlationId"],
  properties: {
    eventId: {
      type: "string",
      format: "uuid",
      description: "The envelope's eventId; consumers dedupe on it.",
    },
    eventType: {
      type: "string",
      description: "The envelope's eventType, readable without parsing the value.",
    },
    correlationId: { type: "string", format: "uuid", description: "The request that caused the event." },
    traceparent: {
      type: "string",
      description:
        "W3C Trace Context of the span that wrote the event, when there is one; continue its trace.",
    },
    tracestate: {
      type: "string",
      description: "W3C tracestate that came with the traceparent (vendor data), when there is one.",
    },
  },
};

function keyDescription(type: EventType): string {
  const definition = eventDefinition(type);
  return definition.keyedBy === "eventId"
    ? "The eventId: the topic is compacted, so every record keeps a key of its own."
    : `The ${definition.aggregateType} id: one ${definition.aggregateType}'s events share a partition, in commit order.`;
}

/** Which fields travel as ciphertext: the payload schema shows them as decryptEvent (phi/) opens them. */
function sealingDescription(type: EventType): string | undefined {
  const fields = eventDefinition(type).personalFields;
  if (fields.length === 0) return undefined;
  return `Personal data: when \`data.patientId\` is set, ${fields.map((field) => `\`data.${field}\``).join(", ")} travel sealed, as \`enc:v1:\` strings (AES-256-GCM under the patient's key, destroyed by erasure); the payload schema describes them as phi/decryptEvent returns them.`;
}

function message(type: EventType) {
  const description = sealingDescription(type);
  return {
    name: type,
    title: type,
    ...(description ? { description } : {}),
    contentType: "application/json",
    headers: recordHeaders,
    payload: eventEnvelopeJsonSchema(type),
    bindings: {
      kafka: {
        key: { type: "string", description: keyDescription(type) },
        bindingVersion: KAFKA_BINDING_VERSION,
      },
    },
  };
}

function channel(topic: TopicDefinition, types: EventType[]) {
  return {
    address: topic.name,
    title: topic.name,
    description: `${topic.partitions} partitions, kept ${topic.retentionDays} days, cleanup ${topic.cleanupPolicy}.`,
    messages: Object.fromEntries(types.map((type) => [type, { $ref: `#/components/messages/${type}` }])),
    bindings: {
      kafka: {
        partitions: topic.partitions,
        topicConfiguration: {
          "cleanup.policy": [topic.cleanupPolicy],
          "retention.ms": Number(topic.configs["retention.ms"]),
        },
        bindingVersion: KAFKA_BINDING_VERSION,
      },
    },
  };
}

export function asyncApiDocument(options: { kafkaHost?: string } = {}) {
  const typesOf = (topic: TopicName) => eventTypes.filter((type) => eventDefinition(type).topic === topic);
  return {
    asyncapi: "3.0.0",
    info: {
      title: "Healthcare platform events",
      version: "1.0.0",
      description:
        "Every event the platform's services commit, relayed from the Postgres outbox to Kafka: exactly the " +
        "committed events, each aggregate's in commit order on one partition. Record values are the envelope " +
        "JSON; duplicates (after a crash) carry the same eventId.",
    },
    defaultContentType: "application/json",
    servers: {
      local: {
        host: options.kafkaHost ?? "localhost:9092",
        protocol: "kafka",
        description: "The local stack's broker (npm start).",
      },
    },
    channels: Object.fromEntries(
      eventTopics.map((topic) => [topic, channel(topicDefinition(topic), typesOf(topic))]),
    ),
    operations: Object.fromEntries(
      eventTopics.map((topic) => [
        `publish-${topic}`,
        {
          action: "send",
          summary: `The platform publishes to ${topic}.`,
          channel: { $ref: `#/channels/${topic}` },
          messages: typesOf(topic).map((type) => ({ $ref: `#/channels/${topic}/messages/${type}` })),
        },
      ]),
    ),
    components: { messages: Object.fromEntries(eventTypes.map((type) => [type, message(type)])) },
  };
}
