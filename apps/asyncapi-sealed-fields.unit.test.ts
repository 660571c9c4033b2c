// /asyncapi.json describes personal fields as they travel: a record whose personal fields (and, in an event
// about a patient, the request's IP address and user agent) are sealed by phi/ validates against its
// message, and the same record with any one of them in plain text does not. Each sealed field is marked
// `x-sealed` and `x-personal` and says who can open it.
import { randomBytes, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { exampleData } from "../events/examples.ts";
import { eventDefinition, eventTypes } from "../events/index.ts";
import { KEY_BYTES } from "../phi/fieldCipher.ts";
import { sealPersonalFields, sealPersonalMetadata } from "../phi/personalFields.ts";
import { type PublishedRecord, publishedEvents } from "../test/asyncapiRecords.ts";

const patientKey = randomBytes(KEY_BYTES);
const patientId = "3b241101-e2bb-4255-8caf-4136c566a962";

function record(
  type: string,
  data: Record<string, unknown>,
  metadata: Record<string, unknown>,
): PublishedRecord {
  const eventId = String(metadata.eventId);
  const { eventId: _, ...rest } = metadata;
  const envelope = {
    eventId,
    eventType: type,
    timestamp: "2024-01-15T10:30:00Z",
    source: "patient-service",
    version: "1.0",
    data,
    metadata: rest,
  };
  const definition = eventDefinition(type);
  return {
    topic: definition.topic,
    key: definition.keyedBy === "eventId" ? eventId : definition.aggregateId(data as never),
    value: JSON.stringify(envelope),
    headers: { eventId, eventType: type, correlationId: String(rest.correlationId) },
  };
}

/** A record of `type` as the write path makes it: personal fields and request metadata sealed. */
function sealedRecord(type: string, data: Record<string, unknown>) {
  const eventId = randomUUID();
  const metadata = {
    correlationId: randomUUID(),
    userId: randomUUID(),
    ipAddress: "203.0.113.7",
    userAgent: "client/1.0",
    sessionId: randomUUID(),
  };
  return {
    eventId,
    data: sealPersonalFields(type, eventId, data, patientKey),
    metadata: { eventId, ...sealPersonalMetadata(eventId, metadata, patientKey) },
    plainMetadata: { eventId, ...metadata },
  };
}

const personalTypes = eventTypes.filter((type) => eventDefinition(type).personalFields.length > 0);

/** Sets the value at a dotted path, where the path exists. */
function withValueAt(data: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const [name, ...rest] = path.split(".") as [string, ...string[]];
  if (!(name in data)) return data;
  if (rest.length === 0) return { ...data, [name]: value };
  return { ...data, [name]: withValueAt(data[name] as Record<string, unknown>, rest.join("."), value) };
}

function valueAt(data: Record<string, unknown>, path: string): unknown {
  return path
    .split(".")
    .reduce<unknown>((at, name) => (at as Record<string, unknown> | undefined)?.[name], data);
}

describe("sealed fields in /asyncapi.json", () => {
  it.each(personalTypes)(
    "%s: the sealed record validates; each personal field in plain text does not",
    (type) => {
      const data = { ...(exampleData[type] as Record<string, unknown>), patientId };
      const sealed = sealedRecord(type, data);
      expect(publishedEvents.problems(record(type, sealed.data, sealed.metadata))).toEqual([]);

      const present = eventDefinition(type).personalFields.filter(
        (path) => valueAt(data, path) !== undefined,
      );
      expect(present.length, `${type}: the example carries personal fields`).toBeGreaterThan(0);
      const { sealedSince } = eventDefinition(type);
      for (const path of present) {
        const plain = withValueAt(sealed.data, path, valueAt(data, path));
        const problems = publishedEvents.problems(record(type, plain, sealed.metadata));
        // A field sealed only since a later catalog: events written before hold it in plain text.
        if (Object.hasOwn(sealedSince, path)) expect(problems, `${type}: ${path} written before`).toEqual([]);
        else expect(problems.length, `${type}: ${path} in plain text`).toBeGreaterThan(0);
      }
      expect(
        publishedEvents.problems(record(type, sealed.data, sealed.plainMetadata)).length,
        `${type}: the request's IP address and user agent in plain text`,
      ).toBeGreaterThan(0);
    },
  );

  it("a login attempt's username is sealed when it names a patient, written as given when it names none", () => {
    const type = "audit.login.attempt";
    const anonymous = exampleData[type] as Record<string, unknown>;
    const plain = sealedRecord(type, anonymous);
    expect(publishedEvents.problems(record(type, plain.data, plain.plainMetadata))).toEqual([]);

    const aboutPatient = sealedRecord(type, { ...anonymous, patientId });
    expect(publishedEvents.problems(record(type, aboutPatient.data, aboutPatient.metadata))).toEqual([]);
    const unsealed = { ...aboutPatient.data, username: anonymous.username };
    expect(publishedEvents.problems(record(type, unsealed, aboutPatient.metadata)).length).toBeGreaterThan(0);
  });

  it("says of a field sealed only since a later catalog that events written before hold it in plain text", () => {
    type Fields = { properties?: Record<string, { anyOf?: unknown[] }> };
    const schema = publishedEvents.document.components.messages["appointment.booked"]?.payload as {
      properties: { data: { properties: { location: { oneOf: Fields[] } } } };
    };
    // A visit in person has an address; a virtual one, a URL.
    const inPerson = schema.properties.data.properties.location.oneOf.find(
      (form) => form.properties?.address,
    );
    const address = inPerson?.properties?.address;
    expect(address?.anyOf).toEqual([
      expect.objectContaining({ "x-sealed": true }),
      expect.objectContaining({
        "x-plain-before": "2026-12-07",
        description: expect.stringMatching(/before 2026-12-07/),
      }),
    ]);
  });

  it("marks each sealed field x-sealed and x-personal, says who can open it, and keeps the plain schema", () => {
    const schema = publishedEvents.document.components.messages["patient.created"]?.payload as {
      properties: { data: { properties: Record<string, Record<string, unknown>> } };
    };
    const email = schema.properties.data.properties.email;
    expect(email).toMatchObject({
      type: "string",
      pattern: "^enc:v1:[A-Za-z0-9_-]+$(?!\\n)",
      "x-sealed": true,
      "x-personal": true,
      "x-unsealed": { type: "string", format: "email" },
    });
    expect(email?.description).toMatch(/patient's key|PHI_MASTER_KEYS/);
    expect(schema.properties.data.properties.patientId?.["x-sealed"]).toBeUndefined();
  });
});
