// JSON Schema (draft-07, the dialect AsyncAPI 3 schemas extend) for every event type, generated from the
// catalog's zod schemas: the envelope as it travels, with `eventType` fixed and `data` that type's own.
// Refinements that JSON Schema cannot say (a date not in the future, changedFields matching changes) stay
// in zod; the schemas describe the shape, the catalog remains the judge.
import { z } from "zod";
import { type EventType, eventDefinition, eventTypes } from "../catalog.ts";
import { envelopeSchema } from "../envelope.ts";

export type JsonSchema = Record<string, unknown>;

const toJsonSchema = (schema: z.ZodType): JsonSchema =>
  z.toJSONSchema(schema, { target: "draft-7", io: "output", unrepresentable: "any" }) as JsonSchema;

/** The schema of the `data` of one event type. */
export function eventDataJsonSchema(type: EventType): JsonSchema {
  const { $schema: _, ...schema } = toJsonSchema(eventDefinition(type).schema);
  return { $schema: "http://json-schema.org/draft-07/schema#", title: `${type} data`, ...schema };
}

/** The schema of a whole record value of one event type: the envelope around its data. */
export function eventEnvelopeJsonSchema(type: EventType): JsonSchema {
  const message = envelopeSchema.extend({
    eventType: z.literal(type),
    data: eventDefinition(type).schema,
  });
  const { $schema: _, ...schema } = toJsonSchema(message);
  return { $schema: "http://json-schema.org/draft-07/schema#", title: type, ...schema };
}

/** Every event type's envelope schema, by event type. */
export function eventJsonSchemas(): Record<EventType, JsonSchema> {
  return Object.fromEntries(eventTypes.map((type) => [type, eventEnvelopeJsonSchema(type)])) as Record<
    EventType,
    JsonSchema
  >;
}
