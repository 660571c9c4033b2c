// Sealing personal fields, on the catalog's own examples: every declared path is a real field, sealed values
// show nothing of the plaintext, open back to it exactly, and do not open anywhere else.
import { randomBytes, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { exampleData } from "../events/examples.ts";
import { eventDefinition, eventTypes } from "../events/index.ts";
import { configProblems } from "../test/configProblems.ts";
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

  it("refuses a key not written in base64 as openssl writes it, though Node's decoder would make 32 bytes of it", () => {
    const key = randomBytes(32).toString("base64");
    const refusal = (text: string) => configProblems(parseMasterKeys, `k1:${text}`);
    // Characters Node's decoder would skip, as if they were not there: the value is not what was meant.
    const quoted = `"${key}"`;
    expect(Buffer.from(quoted, "base64")).toEqual(Buffer.from(key, "base64"));
    const notBase64 = [
      `PHI_MASTER_KEYS: key "k1" is not base64: only letters, digits, '+' and '/', then '=' padding (openssl rand -base64 32)`,
    ];
    expect(refusal(quoted)).toEqual(notBase64);
    expect(refusal(`${key.slice(0, 22)} ${key.slice(22)}`)).toEqual(notBase64);
    expect(refusal(`${key.slice(0, 22)}.${key.slice(22)}`)).toEqual(notBase64);
    // base64url and hex are other encodings, not what the variable takes.
    expect(refusal(`${key.replaceAll("+", "-").replaceAll("/", "_").replace("=", "")}-`)).toEqual(notBase64);
    expect(refusal(randomBytes(32).toString("hex"))).toEqual([
      `PHI_MASTER_KEYS: key "k1" must be 32 bytes in base64 (openssl rand -base64 32), not 48`,
    ]);
    // The key's bytes, but not its one text: padding left off, or bits set past its last byte.
    const canonical = [
      `PHI_MASTER_KEYS: key "k1" must be written as openssl rand -base64 32 writes it: 44 characters, the last one '='`,
    ];
    expect(refusal(key.replace("=", ""))).toEqual(canonical);
    const zeros = Buffer.alloc(32).toString("base64"); // "AAA…A="
    const extraBit = `${zeros.slice(0, 42)}B=`;
    expect(Buffer.from(extraBit, "base64")).toEqual(Buffer.alloc(32));
    expect(refusal(extraBit)).toEqual(canonical);
    for (const text of [quoted, key.replace("=", "")])
      expect(refusal(text).join()).not.toContain(key.slice(0, 8));
    expect(parseMasterKeys(`k1:${key}`).keys.get("k1")?.toString("base64")).toBe(key);
  });

  it("refuses a variable of blanks or commas instead of sealing under the development key", () => {
    for (const blank of [" ", "\t", " , ", ","]) {
      expect(() => loadMasterKeys({ PHI_MASTER_KEYS: blank })).toThrow(
        /PHI_MASTER_KEYS: list at least one key/,
      );
    }
  });
});
