// JSON Schema (draft-07, the dialect AsyncAPI 3 schemas extend) for every event type, generated from the
// catalog's zod schemas: the envelope as it travels, with `eventType` fixed and `data` that type's own.
// Refinements that JSON Schema cannot say (a date not in the future, changedFields matching changes) stay
// in zod; the schemas describe the shape, the catalog remains the judge. Personal fields are described as
// they travel, sealed (sealedFields.ts).
import { z } from "zod";
import { type EventType, eventDefinition, eventTypes } from "../catalog.ts";
import { envelopeSchema } from "../envelope.ts";
import { sealedDataSchema, sealedMetadataRule } from "./sealedFields.ts";
import { withStrictEnds } from "./strictEnds.ts";

export type JsonSchema = Record<string, unknown>;

const toJsonSchema = (schema: z.ZodType): JsonSchema =>
  withStrictEnds(
    z.toJSONSchema(schema, { target: "draft-7", io: "output", unrepresentable: "any" }) as JsonSchema,
  );

/** The schema of the `data` of one event type. */
export function eventDataJsonSchema(type: EventType): JsonSchema {
  const { $schema: _, ...schema } = toJsonSchema(eventDefinition(type).schema);
  return { $schema: "http://json-schema.org/draft-07/schema#", title: `${type} data`, ...schema };
}

/**
 * The schema of a whole record value of one event type, as it travels: the envelope around its data, the
 * personal fields sealed, and the request metadata sealed (or null) when the data names a patient.
 */
export function eventEnvelopeJsonSchema(type: EventType): JsonSchema {
  const message = envelopeSchema.extend({ eventType: z.literal(type) });
  const { $schema: _, ...schema } = toJsonSchema(message);
  const { $schema: __, ...data } = toJsonSchema(eventDefinition(type).schema);
  const properties = schema.properties as Record<string, JsonSchema>;
  // The sealed values' patterns are added here, after the zod schemas' ends were made strict: theirs too.
  return withStrictEnds({
    $schema: "http://json-schema.org/draft-07/schema#",
    title: type,
    ...schema,
    properties: { ...properties, data: sealedDataSchema(type, data) },
    ...sealedMetadataRule(),
  });
}

/** Every event type's envelope schema, by event type. */
export function eventJsonSchemas(): Record<EventType, JsonSchema> {
  return Object.fromEntries(eventTypes.map((type) => [type, eventEnvelopeJsonSchema(type)])) as Record<
    EventType,
    JsonSchema
  >;
}
