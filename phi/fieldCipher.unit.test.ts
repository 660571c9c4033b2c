// AES-256-GCM with a random IV per encryption: the IVs come from a buffer refilled 512 at a time, and must never
// repeat under one key (a repeated GCM IV exposes both plaintexts' XOR and the authentication key).
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CiphertextRejected, decrypt, encrypt, KEY_BYTES } from "./fieldCipher.ts";

const IV_BYTES = 12;

describe("encrypt", () => {
  it("gives every encryption an IV of its own, across the refills of the IV buffer, and each opens", () => {
    const key = randomBytes(KEY_BYTES);
    const plaintext = Buffer.from('"+14155552671"');
    const sealed = Array.from({ length: 1_300 }, () => encrypt(key, plaintext, "patient.updated:phone"));
    const ivs = new Set(sealed.map((bytes) => bytes.subarray(0, IV_BYTES).toString("hex")));
    expect(ivs.size).toBe(sealed.length);
    for (const bytes of sealed)
      expect(decrypt(key, bytes, "patient.updated:phone", "phone")).toEqual(plaintext);
  });

  it("keeps what it returned intact when the IV buffer is refilled later", () => {
    const key = randomBytes(KEY_BYTES);
    const first = encrypt(key, Buffer.from("first"), "ad");
    const copy = Buffer.from(first);
    for (let n = 0; n < 600; n++) encrypt(key, Buffer.from("later"), "ad");
    expect(first).toEqual(copy);
    expect(decrypt(key, first, "ad", "first").toString()).toBe("first");
    expect(() => decrypt(key, first, "other", "first")).toThrow(CiphertextRejected);
  });
});
