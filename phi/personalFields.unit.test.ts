// Sealing personal fields, on the catalog's own examples: every declared path is a real field, sealed values
// show nothing of the plaintext, open back to it exactly, and do not open anywhere else.
import { randomBytes, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { exampleData } from "../events/examples.ts";
import { eventDefinition, eventTypes } from "../events/index.ts";
import { CiphertextRejected, isSealed, openValue, sealValue } from "./fieldCipher.ts";
import { loadMasterKeys, parseMasterKeys } from "./masterKeys.ts";
import {
  isAnyFieldSealed,
  isMetadataSealed,
  openPersonalFields,
  openPersonalMetadata,
  sealPersonalFields,
  sealPersonalMetadata,
} from "./personalFields.ts";

const key = randomBytes(32);
const eventId = randomUUID();
const valueAt = (data: unknown, path: string) =>
  path
    .split(".")
    .reduce<unknown>((value, name) => (value as Record<string, unknown> | undefined)?.[name], data);
const typesWithPersonalData = eventTypes.filter((type) => eventDefinition(type).personalFields.length > 0);

describe("personal fields", () => {
  it.each(typesWithPersonalData)(
    "%s: each declared field is sealed, and opens back to the example",
    (type) => {
      const data = exampleData[type] as Record<string, unknown>;
      const sealed = sealPersonalFields(type, eventId, data, key);
      for (const path of eventDefinition(type).personalFields) {
        if (valueAt(data, path) === undefined) continue;
        expect(isSealed(valueAt(sealed, path)), path).toBe(true);
      }
      expect(isAnyFieldSealed(type, sealed)).toBe(true);
      expect(openPersonalFields(type, eventId, sealed, key)).toEqual(data);
      // Same key order as the plaintext, so a sealed envelope reads like the plain one.
      expect(Object.keys(sealed)).toEqual(Object.keys(data));
    },
  );

  it("declares only paths that the examples hold", () => {
    for (const type of typesWithPersonalData) {
      const present = eventDefinition(type).personalFields.filter(
        (path) => valueAt(exampleData[type], path) !== undefined,
      );
      expect(present.length, type).toBeGreaterThan(0);
    }
  });

  it("shows none of the patient's personal values once sealed", () => {
    const data = exampleData["patient.created"];
    const text = JSON.stringify(sealPersonalFields("patient.created", eventId, data, key));
    for (const value of [
      data.firstName,
      data.lastName,
      data.dateOfBirth,
      data.email,
      data.phone,
      ...data.allergies,
    ])
      expect(text).not.toContain(value);
    expect(text).toContain(data.patientId);
  });

  it("refuses a sealed value under another key, another field or another event", () => {
    const sealed = sealValue(key, "Ada", `${eventId}/firstName`);
    expect(openValue(key, sealed, `${eventId}/firstName`)).toBe("Ada");
    expect(() => openValue(randomBytes(32), sealed, `${eventId}/firstName`)).toThrow(CiphertextRejected);
    expect(() => openValue(key, sealed, `${eventId}/lastName`)).toThrow(CiphertextRejected);
    expect(() => openValue(key, sealed, `${randomUUID()}/firstName`)).toThrow(CiphertextRejected);
    const flipped = `${sealed.slice(0, -2)}${sealed.at(-2) === "A" ? "B" : "A"}${sealed.at(-1)}`;
    expect(() => openValue(key, flipped, `${eventId}/firstName`)).toThrow(CiphertextRejected);
  });
});

describe("request metadata of an event about a patient", () => {
  const metadata = {
    correlationId: randomUUID(),
    userId: randomUUID(),
    ipAddress: "203.0.113.7",
    userAgent: "Mozilla/5.0 (X11; Linux x86_64)",
    sessionId: randomUUID(),
  };

  it("seals the address and user agent, keeps the ids, and opens back to the original", () => {
    const sealed = sealPersonalMetadata(eventId, metadata, key);
    expect(isSealed(sealed.ipAddress)).toBe(true);
    expect(isSealed(sealed.userAgent)).toBe(true);
    expect(JSON.stringify(sealed)).not.toContain("203.0.113.7");
    expect(sealed).toMatchObject({ correlationId: metadata.correlationId, userId: metadata.userId });
    expect(isMetadataSealed(sealed)).toBe(true);
    expect(openPersonalMetadata(eventId, sealed, key)).toEqual(metadata);
    expect(() => openPersonalMetadata(randomUUID(), sealed, key)).toThrow(CiphertextRejected);
  });

  it("leaves them out when the patient has no key any more (erased), and leaves null alone", () => {
    expect(sealPersonalMetadata(eventId, metadata, null)).toEqual({
      ...metadata,
      ipAddress: null,
      userAgent: null,
    });
    const unknown = { ...metadata, ipAddress: null, userAgent: null };
    expect(sealPersonalMetadata(eventId, unknown, key)).toEqual(unknown);
    expect(isMetadataSealed(unknown)).toBe(false);
  });
});

describe("PHI_MASTER_KEYS", () => {
  const entry = (id: string) => `${id}:${randomBytes(32).toString("base64")}`;

  it("takes the first key as the one that wraps, and keeps the others for unwrapping", () => {
    const keys = parseMasterKeys(`${entry("2026-11")}, ${entry("2025-01")}`);
    expect(keys.currentId).toBe("2026-11");
    expect([...keys.keys.keys()]).toEqual(["2026-11", "2025-01"]);
  });

  it("names the variable and the entry that is wrong, never the key", () => {
    const short = `k1:${randomBytes(16).toString("base64")}`;
    expect(() => parseMasterKeys(short)).toThrow(/PHI_MASTER_KEYS: key "k1" must be 32 bytes in base64/);
    expect(() => parseMasterKeys(short)).not.toThrow(short.slice(3));
    expect(() => parseMasterKeys("no-separator")).toThrow(
      /PHI_MASTER_KEYS: entry 1 must start with a key id/,
    );
    expect(() => parseMasterKeys(`${entry("a")},${entry("a")}`)).toThrow(/key id "a" is listed twice/);
    expect(() => parseMasterKeys(" ")).toThrow(/list at least one key/);
  });

  it("refuses a variable of blanks or commas instead of sealing under the development key", () => {
    for (const blank of [" ", "\t", " , ", ","]) {
      expect(() => loadMasterKeys({ PHI_MASTER_KEYS: blank })).toThrow(
        /PHI_MASTER_KEYS: list at least one key/,
      );
    }
  });
});
