// The keys a checkout makes up for itself: made once, readable by their owner only, and never overwritten:
// processes that start together all end up with the key of the one that put its key in place first. Never in
// production: there a missing PHI_MASTER_KEYS or AUDIT_SIGNING_KEY is a configuration error naming it.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadSigningKey, signingKeyFromPem } from "../audit/signingKey.ts";
import { loadMasterKeys } from "../phi/masterKeys.ts";
import { readOrMakeKeyFile } from "./developmentKeys.ts";
import { ConfigError } from "./env.ts";

const dir = mkdtempSync(join(tmpdir(), "development-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a development key file", () => {
  it("is made once, in a directory made for it, readable by its owner only", () => {
    const file = join(dir, "made-once", "key");
    let made = 0;
    const make = () => `key-${++made}\n`;
    expect(readOrMakeKeyFile(file, make)).toBe("key-1\n");
    expect(readOrMakeKeyFile(file, make)).toBe("key-1\n");
    expect(made).toBe(1);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, "made-once"))).toEqual(["key"]); // no candidate left behind
  });

  it("is never overwritten: the key another process put in place first is everyone's", () => {
    const file = join(dir, "raced");
    // Another process found no key either, and put its own in place while this one made its candidate.
    const key = readOrMakeKeyFile(file, () => {
      writeFileSync(file, "theirs\n", { flag: "wx" });
      return "ours\n";
    });
    expect(key).toBe("theirs\n");
    expect(readFileSync(file, "utf8")).toBe("theirs\n");
    expect(readdirSync(dir).filter((name) => name.startsWith("raced"))).toEqual(["raced"]);
  });
});

describe("the development keys", () => {
  it("sign with one audit key, loaded at once or later, the one its file holds", async () => {
    const file = join(dir, "audit-signing-key.pem");
    const keys = await Promise.all(Array.from({ length: 8 }, async () => loadSigningKey({}, file)));
    expect(new Set(keys.map((key) => key.keyId)).size).toBe(1);
    expect(loadSigningKey({}, file).keyId).toBe(keys[0]?.keyId);
    expect(signingKeyFromPem(readFileSync(file, "utf8")).keyId).toBe(keys[0]?.keyId);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it("seal with one master key, the one its file holds", () => {
    const file = join(dir, "phi-master-keys");
    const first = loadMasterKeys({}, file);
    expect(first.currentId).toBe("development");
    expect(loadMasterKeys({}, file).keys.get("development")).toEqual(first.keys.get("development"));
    expect(readFileSync(file, "utf8")).toContain(first.keys.get("development")?.toString("base64"));
  });

  it("are not made when the variables are set", () => {
    const file = join(dir, "never-made");
    const pem = readFileSync(join(dir, "audit-signing-key.pem"), "utf8");
    expect(loadSigningKey({ AUDIT_SIGNING_KEY: pem }, file).keyId).toBe(signingKeyFromPem(pem).keyId);
    const entry = `given:${Buffer.alloc(32, 7).toString("base64")}`;
    expect(loadMasterKeys({ PHI_MASTER_KEYS: entry }, file).currentId).toBe("given");
    expect(readdirSync(dir)).not.toContain("never-made");
  });
});

describe("in production (NODE_ENV=production)", () => {
  const production = { NODE_ENV: "production" };
  const refusal = (load: () => unknown): ConfigError => {
    try {
      load();
    } catch (error) {
      if (error instanceof ConfigError) return error;
      throw error;
    }
    throw new Error("no configuration error");
  };

  it("a missing master key or signing key is a configuration error naming its variable, and no key is made", () => {
    const masterFile = join(dir, "production", "phi-master-keys");
    const signingFile = join(dir, "production", "audit-signing-key.pem");
    for (const blank of [production, { ...production, PHI_MASTER_KEYS: "", AUDIT_SIGNING_KEY: "" }]) {
      expect(refusal(() => loadMasterKeys(blank, masterFile)).problems).toEqual([
        "PHI_MASTER_KEYS: must be set when NODE_ENV=production, to id:base64key (a 32-byte key: openssl rand -base64 32); a development key is made up only outside production",
      ]);
      expect(refusal(() => loadSigningKey(blank, signingFile)).problems).toEqual([
        "AUDIT_SIGNING_KEY: must be set when NODE_ENV=production, to an Ed25519 private key in PKCS#8 PEM (openssl genpkey -algorithm ed25519); a development key is made up only outside production",
      ]);
    }
    expect(readdirSync(dir)).not.toContain("production");
  });

  it("a development key made before is not used, and the refusal says where it is, never what it holds", () => {
    const masterFile = join(dir, "made-before", "phi-master-keys");
    const signingFile = join(dir, "made-before", "audit-signing-key.pem");
    const master = loadMasterKeys({}, masterFile).keys.get("development") as Buffer;
    loadSigningKey({}, signingFile);
    const refused = [
      ...refusal(() => loadMasterKeys(production, masterFile)).problems,
      ...refusal(() => loadSigningKey(production, signingFile)).problems,
    ];
    expect(refused[0]).toContain(
      `${masterFile} holds the one made up before: to keep it, set PHI_MASTER_KEYS`,
    );
    expect(refused[1]).toContain(
      `${signingFile} holds the one made up before: to keep it, set AUDIT_SIGNING_KEY`,
    );
    expect(refused.join("\n")).not.toContain(master.toString("base64"));
    expect(refused.join("\n")).not.toContain("PRIVATE KEY");
  });

  it("the keys given are used", () => {
    const pem = readFileSync(join(dir, "made-before", "audit-signing-key.pem"), "utf8");
    expect(loadSigningKey({ ...production, AUDIT_SIGNING_KEY: pem }).keyId).toBe(
      signingKeyFromPem(pem).keyId,
    );
    const entry = `2026-01:${Buffer.alloc(32, 9).toString("base64")}`;
    expect(loadMasterKeys({ ...production, PHI_MASTER_KEYS: entry }).currentId).toBe("2026-01");
  });
});
