// The AsyncAPI 3.0 document of every topic the platform writes, written from the catalog: each of the six
// event topics a channel with its partitions and retention, each event type a message whose payload is the
// envelope schema as it travels (eventJsonSchemas.ts, personal fields sealed), whose headers are the record
// headers and whose key is the catalog's record key; and each topic's dead-letter topic, where the consumers
// park what they cannot process (consumers/runtime/deadLetters.ts).
// `@asyncapi/parser` checks it in the tests; the AsyncAPI generator needs Node 24, so it is built here.
import {
  deadLetterTopicName,
  type EventType,
  eventDefinition,
  eventTypes,
  type TopicDefinition,
  type TopicName,
  topicDefinition,
  topics,
} from "../catalog.ts";
import { eventEnvelopeJsonSchema, type JsonSchema } from "./eventJsonSchemas.ts";
import { withStrictEnds } from "./strictEnds.ts";

const KAFKA_BINDING_VERSION = "0.5.0";

export const eventTopics: readonly TopicName[] = [
  "patient-events",
  "appointment-events",
  "document-events",
  "audit-events",
  "notification-events",
  "ai-events",
];

const CANONICAL_UUID = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

/** Set on a record that `npm run dlq` re-drove from a dead-letter topic: where it was parked. */
const redrivenFromHeader: JsonSchema = {
  type: "string",
  pattern: "^[a-z-]+\\.dlq/[0-9]+/[0-9]+$",
  description:
    "Only on a re-driven record: the dead letter it came from, `<topic>.dlq/<partition>/<offset>`.",
};

/** The headers of an event record: exactly these, every one a string as Kafka carries it. */
function recordHeaders(type: EventType): JsonSchema {
  return {
    type: "object",
    required: ["eventId", "eventType", "correlationId"],
    additionalProperties: false,
    properties: {
      eventId: {
        type: "string",
        pattern: CANONICAL_UUID,
        description: "The envelope's eventId; consumers dedupe on it.",
      },
      eventType: {
        type: "string",
        const: type,
        description: "The envelope's eventType, readable without parsing the value.",
      },
      correlationId: {
        type: "string",
        pattern: CANONICAL_UUID,
        description: "The request that caused the event.",
      },
      traceparent: {
        type: "string",
        pattern: "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        description:
          "W3C Trace Context of the span that wrote the event, when there is one; continue its trace.",
      },
      tracestate: {
        type: "string",
        description:
          "W3C tracestate of the span that wrote the event, when it has one: of a caller's, only the members under keys the platform's operator allows (none by default); a record of an event written before that rule may carry any.",
      },
      "dlq.redriven.from": redrivenFromHeader,
    },
  };
}

function keyDescription(type: EventType): string {
  const definition = eventDefinition(type);
  return definition.keyedBy === "eventId"
    ? "The eventId: the topic is compacted, so every record keeps a key of its own."
    : `The ${definition.aggregateType} id: one ${definition.aggregateType}'s events share a partition, in commit order.`;
}

/** Which fields travel as ciphertext: the payload schema describes their sealed form (`x-sealed`). */
function sealingDescription(type: EventType): string | undefined {
  const definition = eventDefinition(type);
  const fields = definition.personalFields;
  if (fields.length === 0) return undefined;
  const when = definition.personalOnlyAboutPatient ? "when `data.patientId` names a patient, " : "";
  return `Personal data: ${when}${fields.map((field) => `\`data.${field}\``).join(", ")} travel sealed, as \`enc:v1:\` strings (AES-256-GCM under the patient's data key, destroyed by erasure; marked \`x-sealed\` in the payload schema, the value inside under \`x-unsealed\`). Only the platform's processes, holding the master key, open them (phi/decryptEvent).`;
}

function message(type: EventType) {
  const description = sealingDescription(type);
  return {
    name: type,
    title: type,
    ...(description ? { description } : {}),
    contentType: "application/json",
    headers: recordHeaders(type),
    payload: eventEnvelopeJsonSchema(type),
    bindings: {
      kafka: {
        key: { type: "string", pattern: CANONICAL_UUID, description: keyDescription(type) },
        bindingVersion: KAFKA_BINDING_VERSION,
      },
    },
  };
}

/**
 * A record a consumer parked: the original record's key, value and headers unchanged, plus `dlq.*` headers.
 * Its payload is whatever the original was: a readable event of the topic when it was parked after its
 * attempts ran out, anything at all when it was poison (not JSON, an unknown type, data off its schema).
 */
function deadLetterMessage(topic: TopicName) {
  const text = (description: string, extra: JsonSchema = {}) => ({ type: "string", description, ...extra });
  const number = (description: string) => text(description, { pattern: "^[0-9]+$" });
  return {
    name: deadLetterTopicName(topic),
    title: `A dead letter of ${topic}`,
    summary: `A record of ${topic} that a consumer could not process, parked as it was.`,
    description:
      `The original record's key, value and headers, byte for byte, plus the \`dlq.*\` headers. When ` +
      `\`dlq.reason\` is \`attempts-exhausted\` the record was read and checked: its value and its headers ` +
      `without \`dlq.*\` are a message of ${topic} (\`x-original-channel\`). When it is \`poison\`, nothing ` +
      "could read it, and the value is whatever was sent. `npm run dlq` lists and re-drives them.",
    "x-original-channel": topic,
    contentType: "application/json",
    headers: {
      type: "object",
      required: [
        "dlq.consumer",
        "dlq.reason",
        "dlq.error",
        "dlq.error.message",
        "dlq.attempts",
        "dlq.original.topic",
        "dlq.original.partition",
        "dlq.original.offset",
        "dlq.dead-lettered.at",
      ],
      properties: {
        "dlq.consumer": text("The consumer group that gave up on the record."),
        "dlq.reason": text("Why: no attempt could process it, or every attempt failed.", {
          enum: ["poison", "attempts-exhausted"],
        }),
        "dlq.error": text(
          "For poison, the problem: `empty-value`, `not-json`, `invalid-envelope`, `invalid-data`, " +
            "`unknown-event-type`, `wrong-topic`, `undecryptable`, `not-sealed`, `too-large`, `wrong-key`, " +
            "`wrong-headers`, `wrong-partition`, `event-id-reused` or `not-committed` (no committed event: neither the outbox nor the " +
            "archived events hold its event id, or one holds it with another payload); else the error's class.",
        ),
        "dlq.error.message": text("The error, cut at 1,000 characters.", { maxLength: 1000 }),
        "dlq.attempts": number("How many times the consumer tried."),
        "dlq.original.topic": text("The topic the record was read from.", { const: topic }),
        "dlq.original.partition": number("Its partition there (the dead letter keeps the number)."),
        "dlq.original.offset": number("Its offset there."),
        "dlq.dead-lettered.at": text("When it was parked (UTC).", { format: "date-time" }),
      },
      // The original's headers ride along unchanged: a poison record's are whatever its sender set.
      additionalProperties: { type: "string" },
    },
    payload: {
      description: `The original record's value, unchanged: a ${topic} envelope unless the record was poison.`,
    },
    bindings: {
      kafka: {
        key: { type: ["string", "null"], description: "The original record's key, unchanged." },
        bindingVersion: KAFKA_BINDING_VERSION,
      },
    },
  };
}

function channel(topic: TopicDefinition, messages: Record<string, string>) {
  return {
    address: topic.name,
    title: topic.name,
    description: `${topic.partitions} partitions, kept ${topic.retentionDays} days, cleanup ${topic.cleanupPolicy}.`,
    messages: Object.fromEntries(
      Object.entries(messages).map(([name, id]) => [name, { $ref: `#/components/messages/${id}` }]),
    ),
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

function deadLetterTopic(topic: TopicName): TopicDefinition {
  const definition = topics.find((candidate) => candidate.name === deadLetterTopicName(topic));
  if (!definition) throw new Error(`the catalog has no dead-letter topic for ${topic}`);
  return definition;
}

/** Its patterns end strictly in every regex dialect (strictEnds.ts). */
export function asyncApiDocument(options: AsyncApiOptions = {}) {
  return withStrictEnds(asyncApiDocumentAsWritten(options));
}

export interface AsyncApiOptions {
  /**
   * The brokers the platform writes to (`host:port` each), as a client reading the document must reach them;
   * left out (the document generated offline), the local stack's default broker.
   */
  kafkaBrokers?: readonly string[];
  /** Whether they are reached over TLS (KAFKA_SSL): AsyncAPI's `kafka-secure` protocol. */
  kafkaTls?: boolean;
}

/** A server per broker: a client generated from the document connects where the platform's records are. */
function brokerServers({ kafkaBrokers, kafkaTls = false }: AsyncApiOptions) {
  if (kafkaBrokers === undefined || kafkaBrokers.length === 0) {
    return {
      local: {
        host: "localhost:9092",
        protocol: "kafka",
        description: "The local stack's broker (npm start).",
      },
    };
  }
  return Object.fromEntries(
    kafkaBrokers.map((host, index) => [
      kafkaBrokers.length === 1 ? "kafka" : `kafka-${index + 1}`,
      {
        host,
        protocol: kafkaTls ? "kafka-secure" : "kafka",
        description: "A broker the platform writes its records to (KAFKA_BROKERS, or the local stack's).",
      },
    ]),
  );
}

function asyncApiDocumentAsWritten(options: AsyncApiOptions) {
  const typesOf = (topic: TopicName) => eventTypes.filter((type) => eventDefinition(type).topic === topic);
  return {
    asyncapi: "3.0.0",
    info: {
      title: "Healthcare platform events",
      version: "1.0.0",
      description:
        "Every event the platform's services commit, relayed from the Postgres outbox to Kafka: exactly the " +
        "committed events, each aggregate's in commit order on one partition. Record values are the envelope " +
        "JSON; duplicates (after a crash) carry the same eventId. Personal fields travel sealed (`x-sealed`). " +
        "Each topic has a dead-letter topic `<topic>.dlq` where the consumers park what they cannot process.",
    },
    defaultContentType: "application/json",
    servers: brokerServers(options),
    channels: Object.fromEntries([
      ...eventTopics.map((topic) => [
        topic,
        channel(topicDefinition(topic), Object.fromEntries(typesOf(topic).map((type) => [type, type]))),
      ]),
      ...eventTopics.map((topic) => [
        deadLetterTopicName(topic),
        channel(deadLetterTopic(topic), { deadLetter: deadLetterTopicName(topic) }),
      ]),
    ]),
    operations: Object.fromEntries([
      ...eventTopics.map((topic) => [
        `publish-${topic}`,
        {
          action: "send",
          summary: `The platform publishes to ${topic}.`,
          channel: { $ref: `#/channels/${topic}` },
          messages: typesOf(topic).map((type) => ({ $ref: `#/channels/${topic}/messages/${type}` })),
        },
      ]),
      ...eventTopics.map((topic) => [
        `park-${deadLetterTopicName(topic)}`,
        {
          action: "send",
          summary: `The platform's consumers park what they cannot process of ${topic} in ${deadLetterTopicName(topic)}.`,
          channel: { $ref: `#/channels/${deadLetterTopicName(topic)}` },
          messages: [{ $ref: `#/channels/${deadLetterTopicName(topic)}/messages/deadLetter` }],
        },
      ]),
    ]),
    components: {
      messages: Object.fromEntries([
        ...eventTypes.map((type) => [type, message(type)]),
        ...eventTopics.map((topic) => [deadLetterTopicName(topic), deadLetterMessage(topic)]),
      ]),
    },
  };
}
