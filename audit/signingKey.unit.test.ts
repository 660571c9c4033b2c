// A malformed AUDIT_SIGNING_KEY is a configuration error naming the variable, what is wrong with the value and
// what is expected (never the key, never a stack trace of OpenSSL's "unsupported"), like every other variable.
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError } from "../config/env.ts";
import { configProblems } from "../test/configProblems.ts";
import { loadSigningKey, signingKeyFromPem } from "./signingKey.ts";

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
