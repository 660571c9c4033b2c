// Decoding as a specification: a valid envelope becomes a typed event with its personal fields opened; an
// event about an erased patient is skipped (or, asked for, one without personal fields read without its
// request metadata); everything else is named poison.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  MasterKeyMissing,
  MasterKeyRejected,
  PatientErased,
  PatientKeyMissing,
} from "../../db/patientKeys.ts";
import { exampleData } from "../../events/examples.ts";
import type { PatientKeySource } from "../../phi/decryptEvent.ts";
import { sealPersonalFields, sealPersonalMetadata } from "../../phi/personalFields.ts";
import { decodeRecord } from "./decodeRecord.ts";

const envelope = {
  eventId: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
  eventType: "patient.created",
  timestamp: "2024-01-15T10:30:00Z",
  source: "patient-service",
  version: "1.0",
  data: exampleData["patient.created"],
  metadata: {
    correlationId: "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9",
    userId: null,
    ipAddress: null,
    userAgent: null,
    sessionId: null,
  },
};
const patientId = envelope.data.patientId;
const key = randomBytes(32);
const sealed = {
  ...envelope,
  data: sealPersonalFields(envelope.eventType, envelope.eventId, envelope.data, key),
};

/** Keys held in memory: the patient of the example has `key`, unless erased. */
function keysOf(state: "live" | "erased" | "none"): PatientKeySource {
  return {
    async dataKey(id) {
      if (state === "erased") throw new PatientErased(id);
      if (state === "none" || id !== patientId) throw new PatientKeyMissing(id);
      return key;
    },
  };
}
const keys = keysOf("live");
const encode = (value: unknown) => Buffer.from(JSON.stringify(value));

describe("decoding a record", () => {
  it("returns the typed envelope of a valid event, its sealed personal fields opened", async () => {
    expect(JSON.stringify(sealed)).not.toContain(envelope.data.lastName);
    expect(await decodeRecord("patient-events", encode(sealed), keys)).toEqual({ kind: "event", envelope });
  });

  it("needs no key for an event without personal data", async () => {
    const consent = {
      ...envelope,
      eventType: "patient.consent.changed",
      data: exampleData["patient.consent.changed"],
    };
    expect(await decodeRecord("patient-events", encode(consent), keysOf("none"))).toEqual({
      kind: "event",
      envelope: consent,
    });
  });

  it("parks an event with personal data in plain text where the write path seals it, naming the paths only", async () => {
    const plain = await decodeRecord("patient-events", encode(envelope), keys);
    expect(plain).toMatchObject({ kind: "poison", problem: "not-sealed" });
    expect(plain.kind === "poison" && plain.message).toContain("data.firstName");
    expect(plain.kind === "poison" && plain.message).not.toContain(envelope.data.firstName);
    // One sealed field replaced by a plain value: it would escape the binding of the ciphertext it replaced.
    const swapped = { ...sealed, data: { ...sealed.data, email: "mallory@example.org" } };
    expect(await decodeRecord("patient-events", encode(swapped), keys)).toMatchObject({
      kind: "poison",
      problem: "not-sealed",
      message: "patient.created carries data.email in plain text, where it is sealed about a patient",
    });
    // The request's IP address in plain text in an event about a patient.
    const plainIp = { ...sealed, metadata: { ...sealed.metadata, ipAddress: "10.1.2.3" } };
    expect(await decodeRecord("patient-events", encode(plainIp), keys)).toMatchObject({
      kind: "poison",
      problem: "not-sealed",
      message: "patient.created carries metadata.ipAddress in plain text, where it is sealed about a patient",
    });
  });

  it("reads a field sealed only since a later catalog in plain text, as events written before hold it", async () => {
    // A booking written before its location was sealed (2026-12-07): its notes sealed, its location as given.
    const booked = { ...envelope, eventType: "appointment.booked", data: exampleData["appointment.booked"] };
    const written = {
      ...booked,
      data: {
        ...sealPersonalFields(booked.eventType, booked.eventId, booked.data, key),
        location: booked.data.location,
      },
    };
    expect(booked.data.patientId).toBe(patientId);
    expect(await decodeRecord("appointment-events", encode(written), keys)).toEqual({
      kind: "event",
      envelope: booked,
    });
    // Its notes, sealed since the first catalog, are not read so.
    const plainNotes = { ...written, data: { ...written.data, notes: booked.data.notes } };
    expect(await decodeRecord("appointment-events", encode(plainNotes), keys)).toMatchObject({
      kind: "poison",
      problem: "not-sealed",
      message: "appointment.booked carries data.notes in plain text, where it is sealed about a patient",
    });
  });

  it("skips an event whose patient was erased, and parks one whose fields do not open", async () => {
    expect(await decodeRecord("patient-events", encode(sealed), keysOf("erased"))).toEqual({
      kind: "erased",
      eventId: envelope.eventId,
      eventType: "patient.created",
    });
    const otherKey: PatientKeySource = { dataKey: async () => randomBytes(32) };
    expect(await decodeRecord("patient-events", encode(sealed), otherKey)).toMatchObject({
      kind: "poison",
      problem: "undecryptable",
    });
    // A sealed value moved to another event does not open: its associated data names the event.
    const moved = { ...sealed, eventId: "9a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d" };
    expect(await decodeRecord("patient-events", encode(moved), keys)).toMatchObject({
      kind: "poison",
      problem: "undecryptable",
    });
    expect(await decodeRecord("patient-events", encode(sealed), keysOf("none"))).toMatchObject({
      kind: "poison",
      problem: "undecryptable",
    });
  });

  it("throws, for the record to be retried, when this process's master keys cannot unwrap the patient's key", async () => {
    // The operator's to fix (a key missing from PHI_MASTER_KEYS, or other bytes under its id): parked, every
    // record about those patients would be lost to the dead-letter topic.
    for (const fault of [new MasterKeyMissing("2026-01"), new MasterKeyRejected("2026-01", patientId)]) {
      const misconfigured: PatientKeySource = {
        dataKey: async () => {
          throw fault;
        },
      };
      await expect(decodeRecord("patient-events", encode(sealed), misconfigured)).rejects.toBe(fault);
    }
  });

  it("reads an audit record about an erased patient without its request metadata, to a consumer that asks", async () => {
    const access = {
      ...envelope,
      eventType: "audit.data.accessed",
      source: "patient-service",
      data: exampleData["audit.data.accessed"],
      metadata: sealPersonalMetadata(
        envelope.eventId,
        { ...envelope.metadata, ipAddress: "10.1.2.3", userAgent: "curl/8.5.0" },
        key,
      ),
    };
    expect(access.data.patientId).toBe(patientId);
    expect(await decodeRecord("audit-events", encode(access), keysOf("erased"))).toEqual({
      kind: "erased",
      eventId: access.eventId,
      eventType: "audit.data.accessed",
    });
    expect(
      await decodeRecord("audit-events", encode(access), keysOf("erased"), "without-personal-metadata"),
    ).toEqual({
      kind: "event",
      envelope: { ...access, metadata: { ...envelope.metadata, ipAddress: null, userAgent: null } },
    });
    // An event with personal fields of its own is skipped all the same: its data is what the key shredded.
    expect(
      await decodeRecord("patient-events", encode(sealed), keysOf("erased"), "without-personal-metadata"),
    ).toMatchObject({ kind: "erased" });
  });

  it("parks an event whose patient id is not one, before looking a key up under it", async () => {
    const lookups: string[] = [];
    const recording: PatientKeySource = {
      async dataKey(id) {
        lookups.push(id);
        throw new Error(`invalid input syntax for type uuid: "${id}"`);
      },
    };
    for (const notAnId of ["x", patientId.toUpperCase(), ` ${patientId}`]) {
      const record = { ...sealed, data: { ...sealed.data, patientId: notAnId } };
      expect(await decodeRecord("patient-events", encode(record), recording)).toEqual({
        kind: "poison",
        problem: "invalid-data",
        message: "data.patientId of patient.created is not a UUID in lower case",
      });
    }
    expect(lookups).toEqual([]);
  });

  it("calls a record without a value, or with a value that is not JSON, poison", async () => {
    expect(await decodeRecord("patient-events", null, keys)).toMatchObject({
      kind: "poison",
      problem: "empty-value",
    });
    expect(await decodeRecord("patient-events", Buffer.from("Ada Lovelace, born 1815"), keys)).toEqual({
      kind: "poison",
      problem: "not-json",
      message: "the record value is not JSON",
    });
  });

  it("counts the unknown fields of a record without quoting their names, which the record chose", async () => {
    const forged = "Ada Lovelace, born 1815";
    const sealed = sealPersonalFields(envelope.eventType, envelope.eventId, envelope.data, key);
    const badData = await decodeRecord(
      "patient-events",
      encode({ ...envelope, data: { ...sealed, [forged]: 1, adaLovelace: 1 } }),
      keys,
    );
    expect(badData).toEqual({
      kind: "poison",
      problem: "invalid-data",
      message: 'Invalid data for event type "patient.created":\n  - data: unknown field (2 times)',
    });
    const badEnvelope = await decodeRecord("patient-events", encode({ ...envelope, [forged]: 1 }), keys);
    expect(badEnvelope).toMatchObject({ kind: "poison", problem: "invalid-envelope" });
    expect(badEnvelope.kind === "poison" && badEnvelope.message).not.toContain("Ada");
  });

  it("names the envelope's bad fields, and the data's, without quoting their values", async () => {
    const badEnvelope = await decodeRecord("patient-events", encode({ ...envelope, version: "2.0" }), keys);
    expect(badEnvelope).toMatchObject({ kind: "poison", problem: "invalid-envelope" });
    const badEmail = { ...envelope.data, email: "ada-at-example.org" };
    const badData = await decodeRecord(
      "patient-events",
      encode({ ...envelope, data: sealPersonalFields(envelope.eventType, envelope.eventId, badEmail, key) }),
      keys,
    );
    expect(badData).toMatchObject({ kind: "poison", problem: "invalid-data" });
    expect(badData.kind === "poison" && badData.message).toContain("data.email");
    expect(badData.kind === "poison" && badData.message).not.toContain("ada-at-example.org");
  });

  it("parks an event type the catalog does not know yet, and an event on another event's topic", async () => {
    expect(
      await decodeRecord("patient-events", encode({ ...envelope, eventType: "patient.merged" }), keys),
    ).toMatchObject({ kind: "poison", problem: "unknown-event-type" });
    expect(await decodeRecord("appointment-events", encode(envelope), keys)).toMatchObject({
      kind: "poison",
      problem: "wrong-topic",
      message: 'event type "patient.created" belongs on patient-events, not appointment-events',
    });
  });
});
