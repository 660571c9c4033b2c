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
    // The example's first name, "Ada", is three letters: the sealed values' random base64url (about 560
    // characters) held them by chance once in about 420 runs (239 of 100,000 sealings). A space, which base64url
    // never writes, makes the name one that only a leak can show.
    const data = { ...exampleData["patient.created"], firstName: "Ada Augusta" };
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

  it("refuses one key's bytes under two ids, naming the ids and never the key: a rotation between them would re-wrap nothing", () => {
    const key = randomBytes(32);
    const again = `same:${key.toString("base64")},development:${key.toString("base64url")}`;
    expect(configProblems(parseMasterKeys, again)).toEqual([
      `PHI_MASTER_KEYS: keys "same" and "development" are the same key, so a rotation between them would change nothing: give each id a key of its own (openssl rand -base64 32)`,
    ]);
    expect(
      configProblems(
        parseMasterKeys,
        `${entry("a")},b:${key.toString("base64")},${entry("c")},d:${key.toString("base64")},e:${key.toString("base64")}`,
      ),
    ).toEqual([
      `PHI_MASTER_KEYS: keys "b", "d" and "e" are the same key, so a rotation between them would change nothing: give each id a key of its own (openssl rand -base64 32)`,
    ]);
    expect(configProblems(parseMasterKeys, again).join()).not.toContain(key.toString("base64").slice(0, 8));
  });

  it("takes blanks around an entry, but refuses an empty one (a trailing comma, two commas in a row)", () => {
    const [first, second] = [entry("2026-11"), entry("2025-01")];
    expect([...parseMasterKeys(` ${first} ,\t${second} `).keys.keys()]).toEqual(["2026-11", "2025-01"]);
    for (const [text, position] of [
      [`${first},`, 2],
      [`${first}, `, 2],
      [`,${first}`, 1],
      [`${first},,${second}`, 2],
      [`${first}, ,${second}`, 2],
    ] as const) {
      expect(configProblems(parseMasterKeys, text), text).toEqual([
        `PHI_MASTER_KEYS: entry ${position} is empty: separate the keys by one ',', with none at the end`,
      ]);
    }
  });

  // A key whose base64 holds both of the letters the two alphabets write differently: "+/v7" is "-_v7" in
  // base64url. Fixed bytes, so each spelling below is known to hold what it is said to.
  const bytes = Buffer.alloc(32, 0xfb);
  const base64 = bytes.toString("base64"); // 43 characters and one '=', as openssl rand -base64 32 writes it
  const base64url = bytes.toString("base64url"); // 43 characters, no padding, as Node writes it
  const refusal = (text: string) => configProblems(parseMasterKeys, `k1:${text}`);

  it("takes 32 bytes in base64 or base64url, padded or not, all as the same key", () => {
    expect([base64, base64url]).toEqual([expect.stringMatching(/[+/]/), expect.stringMatching(/[-_]/)]);
    for (const spelling of [base64, base64.replace("=", ""), base64url, `${base64url}=`]) {
      expect(refusal(spelling), spelling).toEqual([]);
      expect(parseMasterKeys(`k1:${spelling}`).keys.get("k1"), spelling).toEqual(bytes);
    }
    // A key in letters and digits only is in both alphabets at once: the same bytes either way.
    const lettersOnly = Buffer.from("A".repeat(43), "base64");
    expect(parseMasterKeys(`k1:${"A".repeat(43)}=`).keys.get("k1")).toEqual(lettersOnly);
  });

  it("refuses anything else that Node's decoder would still make 32 bytes of, naming the key id, never the key", () => {
    const notBase64 = [
      `PHI_MASTER_KEYS: key "k1" is not base64: only letters, digits, and '+' and '/' (base64, as openssl rand -base64 32 writes it) or '-' and '_' (base64url), then '=' padding or none`,
    ];
    // Characters the decoder skips, as if they were not there: the value is not what was meant.
    const quoted = `"${base64}"`;
    expect(Buffer.from(quoted, "base64")).toEqual(bytes);
    expect(refusal(quoted)).toEqual(notBase64);
    expect(refusal(`'${base64url}'`)).toEqual(notBase64);
    expect(refusal(`${base64.slice(0, 22)} ${base64.slice(22)}`)).toEqual(notBase64);
    expect(refusal(`${base64.slice(0, 22)}\t${base64.slice(22)}`)).toEqual(notBase64);
    expect(refusal(`${base64.slice(0, 22)}.${base64.slice(22)}`)).toEqual(notBase64);
    expect(refusal(`${base64.slice(0, 22)}=${base64.slice(22)}`)).toEqual(notBase64);
    expect(refusal(`${base64}==`)).toEqual(notBase64);

    // One alphabet or the other, not both in one key.
    const mixed = [
      `PHI_MASTER_KEYS: key "k1" mixes base64's '+' or '/' with base64url's '-' or '_': write it in one alphabet`,
    ];
    expect(refusal(base64.replace("+", "-"))).toEqual(mixed);
    expect(refusal(base64url.replace("_", "/"))).toEqual(mixed);

    // Another length, hex among them.
    expect(refusal(randomBytes(32).toString("hex"))).toEqual([
      `PHI_MASTER_KEYS: key "k1" must be 32 bytes in base64 (openssl rand -base64 32), not 48`,
    ]);
    for (const length of [31, 33]) {
      expect(refusal(Buffer.alloc(length, 0xfb).toString("base64url"))).toEqual([
        `PHI_MASTER_KEYS: key "k1" must be 32 bytes in base64 (openssl rand -base64 32), not ${length}`,
      ]);
    }
    expect(refusal("")).toEqual([
      `PHI_MASTER_KEYS: key "k1" must be 32 bytes in base64 (openssl rand -base64 32), not 0`,
    ]);

    // The key's bytes, but not a text of them: bits set past the last byte, or padding 32 bytes do not take.
    const pastTheEnd = [
      `PHI_MASTER_KEYS: key "k1" sets bits past its 32 bytes in its last character: it is not a key as an encoder writes it`,
    ];
    const zeros = Buffer.alloc(32).toString("base64"); // 42 'A's, an 'A' holding the last 4 bits, then '='
    for (const extraBit of [
      `${zeros.slice(0, 42)}B=`,
      `${zeros.slice(0, 42)}B`,
      `${base64url.slice(0, 42)}9`,
    ]) {
      expect(Buffer.from(extraBit, "base64").length).toBe(32);
      expect(refusal(extraBit), extraBit).toEqual(pastTheEnd);
    }
    expect(Buffer.from(`${zeros.slice(0, 42)}B=`, "base64")).toEqual(Buffer.alloc(32));
    expect(refusal(`${base64url}==`)).toEqual([
      `PHI_MASTER_KEYS: key "k1" is padded with 2 '=': 32 bytes take 1, or none`,
    ]);

    for (const text of [quoted, base64.replace("+", "-"), `${base64url}==`, `${base64url.slice(0, 42)}9`]) {
      const message = refusal(text).join();
      expect(message).not.toContain(base64.slice(0, 8));
      expect(message).not.toContain(base64url.slice(0, 8));
    }
  });

  it("refuses a variable of blanks or commas instead of sealing under the development key", () => {
    for (const blank of [" ", "\t", " , ", ","]) {
      expect(() => loadMasterKeys({ PHI_MASTER_KEYS: blank })).toThrow(
        /PHI_MASTER_KEYS: list at least one key/,
      );
    }
  });
});
