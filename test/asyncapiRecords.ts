// Kafka records checked against the published /asyncapi.json, as a client team would check them: the
// channel by the record's topic, the message by its eventType header (or the channel's only message), then
// the value against the message's payload schema, the key against its Kafka binding and the headers against
// its headers schema. The document is fetched from the platform's own route, never built from the catalog.

import { Ajv, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { expect } from "vitest";
import type { Database } from "../db/client.ts";
import type { KafkaMessage } from "../kafka/client.ts";
import { testPlatform } from "./tokens.ts";

/** A record as read from a topic, headers as text. */
export interface PublishedRecord {
  topic: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

type Schema = Record<string, unknown>;
interface Message {
  payload?: Schema;
  headers?: Schema;
  bindings?: { kafka?: { key?: Schema } };
  "x-original-channel"?: string;
}
interface AsyncApiDocument {
  channels: Record<string, { address: string; messages: Record<string, { $ref: string }> }>;
  components: { messages: Record<string, Message> };
}

export function recordOf(topic: string, message: KafkaMessage): PublishedRecord {
  return {
    topic,
    key: message.key?.toString() ?? null,
    value: message.value?.toString() ?? null,
    headers: Object.fromEntries(
      Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]),
    ),
  };
}

export class PublishedEvents {
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly compiled = new Map<Schema, ValidateFunction>();
  /** Records found valid, by topic. */
  readonly validatedByTopic = new Map<string, number>();
  /** The component message ids that valid records matched. */
  readonly seenMessages = new Set<string>();

  constructor(readonly document: AsyncApiDocument) {
    addFormats.default(this.ajv);
  }

  /** Every message of the document, by component id. */
  messageIds(): string[] {
    return Object.keys(this.document.components.messages);
  }

  /** What is wrong with a record by the document: empty when it is a message of its topic's channel. */
  problems(record: PublishedRecord): string[] {
    const found = this.messageFor(record);
    if (typeof found === "string") return [found];
    const [id, message] = found;
    let payload: unknown = record.value;
    try {
      payload = JSON.parse(record.value ?? "");
    } catch {
      // Not JSON: only a payload schema that accepts any value (a poison dead letter's) takes it as is.
    }
    const problems = [
      ...this.check(message.payload ?? {}, payload, "value"),
      ...this.check(message.bindings?.kafka?.key ?? {}, record.key, "key"),
      ...this.check(message.headers ?? {}, record.headers, "headers"),
      ...headersMatchValue(record.headers, payload),
    ];
    const original = message["x-original-channel"];
    if (original && record.headers["dlq.reason"] === "attempts-exhausted") {
      // Parked after it was read and checked: the original record is a message of its own topic.
      const headers = Object.fromEntries(
        Object.entries(record.headers).filter(([name]) => !name.startsWith("dlq.")),
      );
      const address = this.document.channels[original]?.address ?? original;
      problems.push(
        ...this.problems({ ...record, topic: address, headers }).map((problem) => `original: ${problem}`),
      );
    }
    if (problems.length === 0) {
      this.seenMessages.add(id);
      this.validatedByTopic.set(record.topic, (this.validatedByTopic.get(record.topic) ?? 0) + 1);
    }
    return problems;
  }

  private messageFor(record: PublishedRecord): [string, Message] | string {
    const channel = Object.values(this.document.channels).find(({ address }) => address === record.topic);
    if (!channel) return `no channel has the address ${record.topic}`;
    const refs = Object.entries(channel.messages);
    const ref =
      channel.messages[record.headers.eventType ?? ""] ?? (refs.length === 1 ? refs[0]?.[1] : undefined);
    if (!ref) return `${record.topic} has no message for eventType ${record.headers.eventType}`;
    const id = ref.$ref.replace("#/components/messages/", "");
    const message = this.document.components.messages[id];
    return message ? [id, message] : `${ref.$ref} does not resolve`;
  }

  private check(schema: Schema, value: unknown, part: string): string[] {
    let validate = this.compiled.get(schema);
    if (!validate) {
      const { $schema: _, ...own } = schema;
      validate = this.ajv.compile(own);
      this.compiled.set(schema, validate);
    }
    if (validate(value)) return [];
    return (validate.errors ?? []).map(
      (error) => `${part}${error.instancePath} ${error.message} ${JSON.stringify(error.params)}`,
    );
  }
}

/** The headers repeat the value's ids: they must say the same. */
function headersMatchValue(headers: Record<string, string>, payload: unknown): string[] {
  if (payload === null || typeof payload !== "object") return [];
  const envelope = payload as {
    eventId?: unknown;
    eventType?: unknown;
    metadata?: { correlationId?: unknown };
  };
  const pairs: Array<[string, unknown]> = [
    ["eventId", envelope.eventId],
    ["eventType", envelope.eventType],
    ["correlationId", envelope.metadata?.correlationId],
  ];
  return pairs
    .filter(([name, value]) => headers[name] !== undefined && value !== undefined && headers[name] !== value)
    .map(([name, value]) => `headers.${name} ${headers[name]} is not the value's ${String(value)}`);
}

/** The document the platform serves at /asyncapi.json (building the app touches no database). */
export async function servedAsyncApi(): Promise<AsyncApiDocument> {
  const response = await testPlatform({} as Database).request("/asyncapi.json");
  if (response.status !== 200) throw new Error(`/asyncapi.json answered ${response.status}`);
  return (await response.json()) as AsyncApiDocument;
}

/** One checker per test file, from the served document: the Kafka assertions validate every record they see. */
export const publishedEvents = new PublishedEvents(await servedAsyncApi());

/** Asserts that every record is a message of the published document. */
export function expectPublished(records: Iterable<PublishedRecord>): void {
  const problems = [...records].flatMap((record) =>
    publishedEvents
      .problems(record)
      .map(
        (problem) =>
          `${record.topic} ${record.headers.eventType ?? "?"} ${record.headers.eventId ?? ""}: ${problem}`,
      ),
  );
  expect(problems, "records off the published /asyncapi.json").toEqual([]);
}
