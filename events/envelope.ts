// The envelope: the JSON value of every Kafka record and of every outbox row, whatever the event type.
// Its `data` is checked against the event type's own schema by the catalog (catalog.ts), not here.
import { z } from "zod";
import { utcTimestamp, uuid } from "./fields.ts";

export const ENVELOPE_VERSION = "1.0";

/** `eventMetadata` cuts longer user agents, so that one client header cannot swell every event it causes. */
const USER_AGENT_MAX_LENGTH = 1024;

/**
 * Who and what caused the event. Unknown values are `null`, never missing keys: every envelope has the same
 * JSON shape, so consumers, JSON Schema and column mappings need no "absent versus null" case. A service
 * without authentication yet writes `userId: null`; a background job writes `null` for the request fields.
 */
/** A value sealed under a patient's key (phi/fieldCipher.ts): in an event about a patient, see below. */
export const SEALED_VALUE_PATTERN = /^enc:v1:[A-Za-z0-9_-]+$/;
const sealedValue = z.string().regex(SEALED_VALUE_PATTERN, "must be a sealed value (enc:v1:...)");

export const eventMetadataSchema = z.strictObject({
  correlationId: uuid,
  userId: uuid.nullable(),
  /** Sealed (or null) in an event about a patient, like `userAgent`: they point at a person. */
  ipAddress: z.union([z.ipv4(), z.ipv6(), sealedValue]).nullable(),
  /** Any string: the header is the client's to choose, and a committed event must never fail to parse. */
  userAgent: z.string().nullable(),
  sessionId: uuid.nullable(),
});

export const envelopeSchema = z.strictObject({
  eventId: uuid,
  /** Kept a plain string here so that a consumer can read, then park, an event type newer than itself. */
  eventType: z.string().regex(/^[a-z]+(\.[a-z]+)+$/, "must be dotted lower case, e.g. patient.created"),
  timestamp: utcTimestamp,
  /** The service that wrote the event, e.g. `patient-service`. */
  source: z.string().regex(/^[a-z][a-z0-9-]*$/, "must be a lower-case service name, e.g. patient-service"),
  version: z.literal(ENVELOPE_VERSION),
  data: z.record(z.string(), z.unknown()),
  metadata: eventMetadataSchema,
});

export type Envelope = z.infer<typeof envelopeSchema>;
export type EventMetadata = z.infer<typeof eventMetadataSchema>;

/** What a request knows about its caller; anything it does not know becomes `null` in the metadata. */
export type EventMetadataInput = Pick<EventMetadata, "correlationId"> &
  Partial<Omit<EventMetadata, "correlationId">>;

/**
 * Fills the metadata's unknown fields with `null`, the one place where "absent" is spelled, and trims the
 * user agent (a header the client controls) to what the schema accepts.
 */
export function eventMetadata(input: EventMetadataInput): EventMetadata {
  const userAgent = input.userAgent?.trim().slice(0, USER_AGENT_MAX_LENGTH);
  return {
    correlationId: input.correlationId,
    userId: input.userId ?? null,
    ipAddress: input.ipAddress ?? null,
    userAgent: userAgent ? userAgent : null,
    sessionId: input.sessionId ?? null,
  };
}
