// A malformed AUDIT_SIGNING_KEY is a configuration error naming the variable, what is wrong with the value and
// what is expected (never the key, never a stack trace of OpenSSL's "unsupported"), like every other variable.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError } from "../config/env.ts";
import { configProblems } from "../test/configProblems.ts";
import { loadSigningKey, previousPublicKeys, signingKeyFromPem } from "./signingKey.ts";

const dir = mkdtempSync(join(tmpdir(), "audit-signing-key-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const expected = "expected an Ed25519 private key in PKCS#8 PEM (openssl genpkey -algorithm ed25519)";
const ed25519 = generateKeyPairSync("ed25519");
const pem = ed25519.privateKey.export({ format: "pem", type: "pkcs8" }) as string;
const body = pem.split("\n")[1] as string;
const refusal = (value: string) => configProblems(loadSigningKey, { AUDIT_SIGNING_KEY: value });

describe("a malformed AUDIT_SIGNING_KEY", () => {
  it("is a configuration error naming the variable and what it expects", () => {
    expect(() => loadSigningKey({ AUDIT_SIGNING_KEY: "not a key" })).toThrow(ConfigError);
    expect(refusal("not a key")).toEqual([
      `AUDIT_SIGNING_KEY: is not PEM (no -----BEGIN PRIVATE KEY----- line); ${expected}`,
    ]);
    expect(refusal(body)).toEqual([
      `AUDIT_SIGNING_KEY: is not PEM (no -----BEGIN PRIVATE KEY----- line); ${expected}`,
    ]);
  });

  it("says what it is when it is a PEM, but not the one to sign with", () => {
    expect(refusal(pem.replaceAll("\n", "\\n"))).toEqual([
      `AUDIT_SIGNING_KEY: is on one line, its line breaks written as \\n: set it with the PEM's real line breaks (AUDIT_SIGNING_KEY="$(cat key.pem)"); ${expected}`,
    ]);
    expect(refusal(ed25519.publicKey.export({ format: "pem", type: "spki" }) as string)).toEqual([
      `AUDIT_SIGNING_KEY: is a public key: the private key is needed to sign; ${expected}`,
    ]);
    const encrypted = ed25519.privateKey.export({
      format: "pem",
      type: "pkcs8",
      cipher: "aes-256-cbc",
      passphrase: "secret",
    }) as string;
    expect(refusal(encrypted)).toEqual([
      `AUDIT_SIGNING_KEY: is encrypted: give the key without a passphrase; ${expected}`,
    ]);
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    expect(refusal(rsa.export({ format: "pem", type: "pkcs8" }) as string)).toEqual([
      `AUDIT_SIGNING_KEY: is a key of type rsa, not Ed25519; ${expected}`,
    ]);
    const truncated = pem.replace(body, body.slice(0, 20));
    expect(refusal(truncated)).toEqual([`AUDIT_SIGNING_KEY: is not a readable PEM private key; ${expected}`]);
  });

  it("is never printed in the refusal", () => {
    for (const value of [body, pem.replace(body, body.slice(0, 20)), pem.replaceAll("\n", "\\n")]) {
      expect(refusal(value).join()).not.toContain(body.slice(0, 20));
    }
  });

  it("is refused in the development key's file too, naming the file", () => {
    const file = join(dir, "audit-signing-key.pem");
    writeFileSync(file, "garbage\n");
    expect(configProblems((env) => loadSigningKey(env, file), {})).toEqual([
      `AUDIT_SIGNING_KEY (unset; ${file}): is not PEM (no -----BEGIN PRIVATE KEY----- line); ${expected}`,
    ]);
  });

  it("is not refused when it is an Ed25519 PKCS#8 PEM, with CRLF line breaks too", () => {
    const keyId = signingKeyFromPem(pem).keyId;
    expect(loadSigningKey({ AUDIT_SIGNING_KEY: pem.replaceAll("\n", "\r\n") }).keyId).toBe(keyId);
  });
});

describe("AUDIT_PREVIOUS_PUBLIC_KEYS", () => {
  const publicPem = (key: KeyObject) => key.export({ format: "pem", type: "spki" }).toString();
  const earlier = [generateKeyPairSync("ed25519"), generateKeyPairSync("ed25519")];
  const blocks = earlier.map((pair) => publicPem(pair.publicKey));
  const expectedHere =
    "expected the PEM public keys of earlier signing keys, one block after another (openssl pkey -in old-key.pem -pubout)";
  const refused = (value: string) =>
    configProblems(loadSigningKey, { AUDIT_SIGNING_KEY: pem, AUDIT_PREVIOUS_PUBLIC_KEYS: value });

  it("adds the earlier keys to those the signing key trusts, by their key ids", () => {
    const key = loadSigningKey({
      AUDIT_SIGNING_KEY: pem,
      AUDIT_PREVIOUS_PUBLIC_KEYS: `${blocks.join("\n")}\n`,
    });
    const earlierKeys = earlier.map((pair) =>
      signingKeyFromPem(pair.privateKey.export({ format: "pem", type: "pkcs8" }).toString()),
    );
    expect([...key.trusted.keys()].sort()).toEqual([key.keyId, ...earlierKeys.map((k) => k.keyId)].sort());
    for (const { keyId, publicKey } of earlierKeys)
      expect(key.trusted.get(keyId)?.equals(publicKey)).toBe(true);
    // Unset, blank, or with CRLF line breaks and blanks around the blocks.
    expect([...loadSigningKey({ AUDIT_SIGNING_KEY: pem }).trusted.keys()]).toEqual([key.keyId]);
    expect([
      ...loadSigningKey({ AUDIT_SIGNING_KEY: pem, AUDIT_PREVIOUS_PUBLIC_KEYS: " \n" }).trusted.keys(),
    ]).toEqual([key.keyId]);
    const spaced = ` \r\n${blocks.map((block) => block.replaceAll("\n", "\r\n")).join("\r\n\r\n")} `;
    expect(previousPublicKeys(spaced).size).toBe(2);
  });

  it("refuses anything but Ed25519 public keys, naming the variable and the block, never the key", () => {
    const privateBlock = earlier[1]?.privateKey.export({ format: "pem", type: "pkcs8" }).toString() as string;
    const rsa = publicPem(generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey);
    const cases: [string, string][] = [
      ["not a key", "holds no PEM block (no -----BEGIN PUBLIC KEY----- line)"],
      [`${blocks[0]}and a remark`, "holds text outside its PEM blocks"],
      [`${blocks[0]}${privateBlock}`, "block 2 is a private key: give only its public half"],
      [`${blocks[0]}${rsa}`, "block 2 is a key of type rsa, not Ed25519"],
      [(blocks[0] as string).replace(/\n[A-Za-z0-9+/]{8}/, "\n"), "block 1 is not a readable PEM public key"],
      [
        blocks.join("").replaceAll("\n", "\\n"),
        "is on one line, its line breaks written as \\n: set it with the PEMs' real line breaks",
      ],
      [pem.replace(/PRIVATE KEY/g, "CERTIFICATE"), "block 1 is a CERTIFICATE, not a PUBLIC KEY"],
    ];
    for (const [value, problem] of cases) {
      expect(refused(value), value).toEqual([`AUDIT_PREVIOUS_PUBLIC_KEYS: ${problem}; ${expectedHere}`]);
      expect(refused(value).join(), value).not.toContain(body.slice(0, 20));
    }
  });

  it("is refused beside a malformed AUDIT_SIGNING_KEY, both in one list", () => {
    expect(
      configProblems(loadSigningKey, { AUDIT_SIGNING_KEY: "not a key", AUDIT_PREVIOUS_PUBLIC_KEYS: "no" }),
    ).toEqual([
      `AUDIT_SIGNING_KEY: is not PEM (no -----BEGIN PRIVATE KEY----- line); ${expected}`,
      `AUDIT_PREVIOUS_PUBLIC_KEYS: holds no PEM block (no -----BEGIN PUBLIC KEY----- line); ${expectedHere}`,
    ]);
  });
});
