// The catalog as a specification: every event type's schema, topic and key, and the topics' exact numbers.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { appointmentLocationSchema } from "./appointment.ts";
import {
  type EventType,
  eventDefinition,
  eventTypes,
  type NewEvent,
  parseEventData,
  recordKey,
  type TopicName,
  topics,
} from "./catalog.ts";
import { documentUploadedSchema } from "./document.ts";
import { EventValidationError, UnknownEventTypeError } from "./errors.ts";
import { exampleData } from "./examples.ts";
import { DEAD_LETTER_HEADROOM_BYTES } from "./record.ts";
import { forRequests } from "./requestRules.ts";

/** Runs a parse that must fail and returns the paths of the fields it named. */
function rejectedPaths(type: EventType, data: unknown): string[] {
  try {
    parseEventData(type, data);
  } catch (error) {
    expect(error).toBeInstanceOf(EventValidationError);
    const validation = error as EventValidationError;
    expect(validation.eventType).toBe(type);
    expect(validation.message).toContain(`"${type}"`);
    for (const problem of validation.problems) expect(validation.message).toContain(`${problem.path}: `);
    return validation.problems.map((problem) => problem.path);
  }
  throw new Error(`${type}: the invalid example was accepted`);
}

function example<T extends EventType>(type: T): Record<string, unknown> {
  return structuredClone(exampleData[type]) as Record<string, unknown>;
}

/** One clearly broken payload per event type, and the field its error must name. */
const invalidExamples: { [T in EventType]: { data: unknown; path: string } } = {
  "patient.created": {
    data: { ...example("patient.created"), dateOfBirth: "2999-01-01" },
    path: "dateOfBirth",
  },
  "patient.updated": {
    data: { ...example("patient.updated"), changes: { email: "ada@example.org", phone: "+442071234568" } },
    path: "changes.phone",
  },
  "patient.deleted": {
    data: { ...example("patient.deleted"), deletedAt: "2024-06-30T10:00:00+02:00" },
    path: "deletedAt",
  },
  "patient.consent.changed": {
    data: { ...example("patient.consent.changed"), consentType: "newsletter" },
    path: "consentType",
  },
  "appointment.booked": {
    data: { ...example("appointment.booked"), durationMinutes: 600 },
    path: "durationMinutes",
  },
  "appointment.cancelled": {
    data: { ...example("appointment.cancelled"), cancelledBy: "NOBODY" },
    path: "cancelledBy",
  },
  "appointment.completed": {
    data: { ...example("appointment.completed"), completedAt: "yesterday" },
    path: "completedAt",
  },
  "appointment.reminder": {
    data: { ...example("appointment.reminder"), hoursBefore: 0 },
    path: "hoursBefore",
  },
  "document.uploaded": {
    data: { ...example("document.uploaded"), checksum: { algorithm: "sha256", value: "ABC123" } },
    path: "checksum.value",
  },
  "document.deleted": { data: { ...example("document.deleted"), documentId: "doc-1" }, path: "documentId" },
  "consent.given": { data: { ...example("consent.given"), purpose: "MARKETING" }, path: "purpose" },
  "document.processed": {
    data: {
      documentId: "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f",
      status: "FAILED",
      ...processedBaseOfExample(),
    },
    path: "failureReason",
  },
  "audit.data.accessed": { data: { ...example("audit.data.accessed"), action: "DELETE" }, path: "action" },
  "audit.data.modified": {
    data: { ...example("audit.data.modified"), actorRole: "INTRUDER" },
    path: "actorRole",
  },
  "audit.login.attempt": {
    data: { ...example("audit.login.attempt"), success: false, reason: null },
    path: "reason",
  },
  "audit.compliance.violation": {
    data: withoutField(example("audit.compliance.violation"), "severity"),
    path: "severity",
  },
  "audit.compliance.alert": {
    data: {
      ...example("audit.compliance.alert"),
      window: { start: "2024-01-15T10:00:00Z", end: "2024-01-15T09:00:00Z" },
    },
    path: "window.end",
  },
  "audit.history.replayed": {
    data: { ...example("audit.history.replayed"), toTopic: "", events: -1 },
    path: "events",
  },
  "audit.operator.decrypted": {
    data: { ...example("audit.operator.decrypted"), fields: [] },
    path: "fields",
  },
  "notification.email.requested": {
    data: { ...example("notification.email.requested"), to: "not-an-address" },
    path: "to",
  },
  "notification.sms.requested": {
    data: { ...example("notification.sms.requested"), to: "07700 900123" },
    path: "to",
  },
  "notification.push.requested": {
    data: { ...example("notification.push.requested"), title: "  " },
    path: "title",
  },
  "ai.model.trained": {
    data: { ...example("ai.model.trained"), metrics: { auc: "high" } },
    path: "metrics.auc",
  },
  "ai.prediction.generated": {
    data: { ...example("ai.prediction.generated"), confidence: 1.5 },
    path: "confidence",
  },
  "ai.insight.created": { data: { ...example("ai.insight.created"), severity: "URGENT" }, path: "severity" },
  "ai.model.performance.updated": {
    data: {
      ...example("ai.model.performance.updated"),
      window: { start: "2024-02-01T00:00:00Z", end: "2024-01-01T00:00:00Z" },
    },
    path: "window.end",
  },
};

function withoutField(data: Record<string, unknown>, field: string): Record<string, unknown> {
  const { [field]: _removed, ...rest } = data;
  return rest;
}

function processedBaseOfExample(): Record<string, unknown> {
  const { patientId, processor, processedAt } = exampleData["document.processed"];
  return { patientId, processor, processedAt };
}

describe("event schemas", () => {
  // The platform guide's topic table lists 4 + 4 + 4 + 4 + 3 + 4 event types; the compliance watch adds one,
  // the replay command one, and the tail's opening of sealed fields one.
  it("catalog the 23 event types of the platform guide, the compliance alert, the replay record and the operator's decryption record, dotted lower case", () => {
    expect(eventTypes).toHaveLength(26);
    for (const type of eventTypes) expect(type).toMatch(/^[a-z]+(\.[a-z]+)+$/);
  });

  it.each(eventTypes)("%s: the example payload passes its schema unchanged", (type) => {
    expect(parseEventData(type, exampleData[type])).toEqual(exampleData[type]);
  });

  it.each(eventTypes)("%s: a clearly invalid payload is refused, naming the bad field", (type) => {
    const { data, path } = invalidExamples[type];
    expect(rejectedPaths(type, data)).toContain(path);
  });

  it("refuse unknown fields at any depth, naming each one", () => {
    const created = example("patient.created");
    const data = {
      ...created,
      nickname: "Ada",
      insuranceInfo: { ...(created.insuranceInfo as object), groupNumber: "G-1" },
    };
    expect(rejectedPaths("patient.created", data).sort()).toEqual(["insuranceInfo.groupNumber", "nickname"]);
  });

  it("can say what is wrong without a name the value chose: unknown fields counted, a map's keys hidden", () => {
    const trained = example("ai.model.trained");
    const data = {
      ...trained,
      "Ada Lovelace, born 1815": true,
      adaLovelace: true,
      metrics: { "Ada Lovelace": 0.5, auc: "high" },
      datasetSize: -1,
    };
    let refusal: unknown;
    try {
      parseEventData("ai.model.trained", data);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(EventValidationError);
    const message = (refusal as EventValidationError).messageNamingNothingFromTheValue();
    expect(message.split("\n").slice(1).sort()).toEqual(
      [
        "  - (the value itself): unknown field (2 times)",
        "  - metrics[key]: Invalid key in record",
        "  - metrics.auc: Invalid input: expected number, received string",
        "  - datasetSize: Too small: expected number to be >=1",
      ].sort(),
    );
    expect(message).not.toMatch(/Ada|ada/);
    // The full message, for the writer who made the event, names them all.
    expect((refusal as EventValidationError).message).toContain("Ada Lovelace, born 1815");
  });

  it("name every bad field of one payload, with array positions", () => {
    const data = { ...example("patient.created"), phone: "020 7123 4567", allergies: ["penicillin", ""] };
    expect(rejectedPaths("patient.created", data).sort()).toEqual(["allergies[1]", "phone"]);
  });

  it("accept a birth date of today but not a date that does not exist", () => {
    const today = new Date().toISOString().slice(0, 10);
    expect(() =>
      parseEventData("patient.created", { ...example("patient.created"), dateOfBirth: today }),
    ).not.toThrow();
    const leapless = { ...example("patient.created"), dateOfBirth: "2023-02-29" };
    expect(rejectedPaths("patient.created", leapless)).toEqual(["dateOfBirth"]);
  });

  it("refuse insurance that expires before it takes effect", () => {
    const created = example("patient.created");
    const insuranceInfo = {
      ...(created.insuranceInfo as object),
      effectiveDate: "2024-06-01",
      expiryDate: "2024-01-01",
    };
    expect(rejectedPaths("patient.created", { ...created, insuranceInfo })).toEqual([
      "insuranceInfo.expiryDate",
    ]);
  });

  it("patient.updated: changedFields and changes must name the same fields, and a change to null is a change", () => {
    const insuranceRemoved = { patientId: exampleData["patient.updated"].patientId };
    expect(() =>
      parseEventData("patient.updated", {
        ...insuranceRemoved,
        changedFields: ["insuranceInfo"],
        changes: { insuranceInfo: null },
      }),
    ).not.toThrow();
    expect(
      rejectedPaths("patient.updated", { ...insuranceRemoved, changedFields: ["email"], changes: {} }),
    ).toEqual(["changes.email"]);
    expect(
      rejectedPaths("patient.updated", { ...insuranceRemoved, changedFields: ["patientId"], changes: {} }),
    ).toContain("changedFields[0]");
    expect(rejectedPaths("patient.updated", { ...insuranceRemoved, changedFields: [], changes: {} })).toEqual(
      ["changedFields"],
    );
  });

  it("appointment.booked: a virtual visit needs an https link, an in-person visit an address", () => {
    const booked = example("appointment.booked");
    expect(rejectedPaths("appointment.booked", { ...booked, location: { type: "VIRTUAL" } })).toEqual([
      "location.url",
    ]);
    expect(
      rejectedPaths("appointment.booked", {
        ...booked,
        location: { type: "VIRTUAL", url: "http://meet.example.org/x" },
      }),
    ).toEqual(["location.url"]);
    expect(
      rejectedPaths("appointment.booked", {
        ...booked,
        location: { type: "IN_PERSON", url: "https://x.example" },
      }),
    ).toEqual(expect.arrayContaining(["location.address", "location.url"]));
    const inPerson = {
      ...booked,
      location: { type: "IN_PERSON", address: "1 Harley Street, London W1G 9QD" },
    };
    expect(() => parseEventData("appointment.booked", inPerson)).not.toThrow();
  });

  it("take a link in a request only in the one spelling every URL parser reads alike, and refuse it with the field named", () => {
    const booked = example("appointment.booked");
    const uploaded = example("document.uploaded");
    const videoLink = forRequests(appointmentLocationSchema.options[0].shape.url) as z.ZodType;
    const storageUrl = forRequests(documentUploadedSchema.shape.storageUrl) as z.ZodType;
    const refusedInRequests = [
      "https:/\\evil.example/room", // a WHATWG parser reads the host evil.example; others read none
      "https:evil.example/room",
      "https:///evil.example",
      "https://meet.example.org\\@evil.example/",
      "https://doctor:secret@meet.example.org/room",
      "https://meet.example.org/room 42",
      "https://meet.example.org/room\u0007",
      "https://meet.example.org/r\u00e4um",
      " https://meet.example.org/room",
      "HTTPS://meet.example.org/room",
      "https://meet.example.org:0/room", // no port a connection can reach
      "https://meet.example.org:00443/room", // 443 in another spelling
      "https://999/room",
      "https://10.0.0.1/room",
      `https://meet.example.org/${"a".repeat(2_048)}`,
    ];
    for (const url of refusedInRequests) {
      expect(videoLink.safeParse(url).success, url).toBe(false);
      expect(storageUrl.safeParse(url).success, url).toBe(false);
      // Events written before the rule was tightened (as z.url() took them) stay readable.
      const virtual = { ...booked, location: { type: "VIRTUAL", url } };
      expect(() => parseEventData("appointment.booked", virtual), url).not.toThrow();
      expect(() => parseEventData("document.uploaded", { ...uploaded, storageUrl: url }), url).not.toThrow();
    }
    // What no event ever took: no URL, or another scheme.
    for (const url of [
      "meet.example.org/room",
      "https://meet.example.org:123456/room",
      "",
      "ftp://records/a.pdf",
    ]) {
      expect(
        rejectedPaths("appointment.booked", { ...booked, location: { type: "VIRTUAL", url } }),
        url,
      ).toEqual(["location.url"]);
      expect(rejectedPaths("document.uploaded", { ...uploaded, storageUrl: url }), url).toEqual([
        "storageUrl",
      ]);
    }
    for (const url of [
      "https://meet.example.org",
      "https://meet.example.org:8443/room-42?pin=1#start",
      "https://xn--bcher-kva.example:65535",
      "https://meet.example.org:1/room",
      "https://meet.example.org:10000/room",
    ]) {
      expect(videoLink.safeParse(url).success, url).toBe(true);
      const virtual = { ...booked, location: { type: "VIRTUAL", url } };
      expect(() => parseEventData("appointment.booked", virtual), url).not.toThrow();
    }
    for (const url of [
      "s3://records/ada/scan%20one.pdf",
      "gs://records/a/b.pdf",
      "https://files.example.org/x",
    ]) {
      expect(storageUrl.safeParse(url).success, url).toBe(true);
      expect(() => parseEventData("document.uploaded", { ...uploaded, storageUrl: url }), url).not.toThrow();
    }
    // Bounded as published (maxLength, maximum): a 60,000-character MIME type was stored and sent.
    const mimeTypeInRequests = forRequests(documentUploadedSchema.shape.mimeType) as z.ZodType;
    for (const mimeType of [`application/${"a".repeat(128)}`, `${"a".repeat(128)}/pdf`]) {
      expect(mimeTypeInRequests.safeParse(mimeType).success, mimeType).toBe(false);
      expect(() => parseEventData("document.uploaded", { ...uploaded, mimeType }), mimeType).not.toThrow();
    }
    for (const mimeType of ["application/", "Application/pdf", "pdf"]) {
      expect(rejectedPaths("document.uploaded", { ...uploaded, mimeType }), mimeType).toEqual(["mimeType"]);
    }
    expect(rejectedPaths("document.uploaded", { ...uploaded, sizeBytes: 2 ** 53 })).toEqual(["sizeBytes"]);
    for (const fits of [{ mimeType: `application/${"a".repeat(126)}` }, { sizeBytes: 2 ** 53 - 1 }]) {
      expect(() => parseEventData("document.uploaded", { ...uploaded, ...fits })).not.toThrow();
    }
  });

  it("accept an id only in lower case, the one spelling it has as a record key and a data key's owner", () => {
    const { patientId } = exampleData["patient.created"];
    expect(
      rejectedPaths("patient.created", {
        ...exampleData["patient.created"],
        patientId: patientId.toUpperCase(),
      }),
    ).toEqual(["patientId"]);
    const upperUser = { ...exampleData["notification.push.requested"], userId: randomUUID().toUpperCase() };
    expect(rejectedPaths("notification.push.requested", upperUser)).toEqual(["userId"]);
  });

  it("say that a missing field is required", () => {
    const { deletedAt: _missing, ...data } = exampleData["patient.deleted"];
    expect(() => parseEventData("patient.deleted", data)).toThrow("deletedAt: is required");
  });

  // Checked by `tsc`, not at run time: NewEvent ties each event's data to its type.
  it("type-check an appended event's data against its event type", () => {
    const valid: NewEvent = { type: "patient.deleted", data: exampleData["patient.deleted"] };
    const deleted = exampleData["patient.deleted"];
    // @ts-expect-error patient.deleted has no `reason` field
    const extraField: NewEvent = { type: "patient.deleted", data: { ...deleted, reason: "x" } };
    // @ts-expect-error the data of patient.created lacks patient.deleted's `deletedAt`
    const otherType: NewEvent = { type: "patient.deleted", data: exampleData["patient.created"] };
    expect([valid, extraField, otherType]).toHaveLength(3);
  });

  it("every data schema converts to JSON Schema (for the AsyncAPI document)", () => {
    for (const type of eventTypes) {
      expect(() => z.toJSONSchema(eventDefinition(type).schema), type).not.toThrow();
    }
  });
});

describe("event definitions", () => {
  it("throw an error naming an unknown event type", () => {
    expect(() => eventDefinition("patient.exploded")).toThrow(UnknownEventTypeError);
    expect(() => eventDefinition("patient.exploded")).toThrow(/"patient\.exploded"/);
  });

  it("put every event type on one of the six topics, as the platform guide lists them", () => {
    const byTopic: Record<TopicName, string[]> = {
      "patient-events": ["patient.created", "patient.updated", "patient.deleted", "patient.consent.changed"],
      "appointment-events": [
        "appointment.booked",
        "appointment.cancelled",
        "appointment.completed",
        "appointment.reminder",
      ],
      "document-events": ["document.uploaded", "document.deleted", "consent.given", "document.processed"],
      "audit-events": [
        "audit.data.accessed",
        "audit.data.modified",
        "audit.login.attempt",
        "audit.compliance.violation",
        "audit.compliance.alert",
        "audit.history.replayed",
        "audit.operator.decrypted",
      ],
      "notification-events": [
        "notification.email.requested",
        "notification.sms.requested",
        "notification.push.requested",
      ],
      "ai-events": [
        "ai.model.trained",
        "ai.prediction.generated",
        "ai.insight.created",
        "ai.model.performance.updated",
      ],
    };
    const actual: Record<string, string[]> = {};
    for (const type of eventTypes) {
      const topic = eventDefinition(type).topic;
      actual[topic] = [...(actual[topic] ?? []), type];
    }
    expect(actual).toEqual(byTopic);
  });

  it("key audit events by their eventId, so compaction can never drop one", () => {
    const eventId = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    for (const type of eventTypes) {
      const definition = eventDefinition(type);
      const key = recordKey(type, eventId, exampleData[type]);
      if (definition.topic === "audit-events") {
        expect(definition.keyedBy, type).toBe("eventId");
        expect(key, type).toBe(eventId);
      } else {
        expect(definition.keyedBy, type).toBe("aggregate");
        expect(key, type).toBe(definition.aggregateId(exampleData[type]));
      }
    }
  });

  it("key every other event by its aggregate, a patient's predictions by the patient", () => {
    const eventId = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    const keyOf = <T extends EventType>(type: T) => recordKey(type, eventId, exampleData[type]);
    expect(keyOf("patient.consent.changed")).toBe(exampleData["patient.consent.changed"].patientId);
    expect(keyOf("appointment.reminder")).toBe(exampleData["appointment.reminder"].appointmentId);
    expect(keyOf("consent.given")).toBe(exampleData["consent.given"].documentId);
    expect(keyOf("notification.sms.requested")).toBe(
      exampleData["notification.sms.requested"].notificationId,
    );
    expect(keyOf("ai.model.performance.updated")).toBe(exampleData["ai.model.performance.updated"].modelId);
    expect(keyOf("ai.prediction.generated")).toBe(exampleData["ai.prediction.generated"].patientId);
    expect(keyOf("ai.insight.created")).toBe(exampleData["ai.insight.created"].insightId);
  });
});

describe("topics", () => {
  const deadLetter = (topic: string, partitions: number) => ({
    name: `${topic}.dlq`,
    partitions,
    cleanupPolicy: "delete",
    retentionMs: String(30 * 24 * 60 * 60 * 1000),
  });

  it("have exactly the platform guide's partitions, retention and cleanup policy, then the dead-letter topics", () => {
    const day = 24 * 60 * 60 * 1000;
    expect(
      topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitions,
        cleanupPolicy: topic.configs["cleanup.policy"],
        retentionMs: topic.configs["retention.ms"],
      })),
    ).toEqual([
      { name: "patient-events", partitions: 6, cleanupPolicy: "delete", retentionMs: String(7 * day) },
      { name: "appointment-events", partitions: 8, cleanupPolicy: "delete", retentionMs: String(30 * day) },
      { name: "document-events", partitions: 4, cleanupPolicy: "delete", retentionMs: String(90 * day) },
      { name: "audit-events", partitions: 12, cleanupPolicy: "compact", retentionMs: String(365 * day) },
      { name: "notification-events", partitions: 4, cleanupPolicy: "delete", retentionMs: String(7 * day) },
      { name: "ai-events", partitions: 6, cleanupPolicy: "delete", retentionMs: String(180 * day) },
      deadLetter("patient-events", 6),
      deadLetter("appointment-events", 8),
      deadLetter("document-events", 4),
      deadLetter("audit-events", 12),
      deadLetter("notification-events", 4),
      deadLetter("ai-events", 6),
    ]);
  });

  it("give each topic a dead-letter topic with its partitions and key, kept 30 days and never compacted", () => {
    for (const topic of topics.filter((candidate) => !candidate.name.endsWith(".dlq"))) {
      const deadLetter = topics.find((candidate) => candidate.name === `${topic.name}.dlq`);
      expect(deadLetter, topic.name).toMatchObject({
        partitions: topic.partitions,
        keyedBy: topic.keyedBy,
        cleanupPolicy: "delete",
        retentionDays: 30,
      });
      // Whatever the topic took, its dead letter (the record and the consumer's headers) fits.
      expect(Number(deadLetter?.configs["max.message.bytes"]), topic.name).toBe(
        Number(topic.configs["max.message.bytes"]) + DEAD_LETTER_HEADROOM_BYTES,
      );
    }
  });

  it("keep audit records out of the cleaner's reach for the whole retention period", () => {
    const audit = topics.find((topic) => topic.name === "audit-events");
    expect(audit?.keyedBy).toBe("eventId");
    expect(audit?.configs["min.compaction.lag.ms"]).toBe(audit?.configs["retention.ms"]);
    expect(audit?.configs["unclean.leader.election.enable"]).toBe("false");
  });
});
