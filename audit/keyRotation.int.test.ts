// Rotating the checkpoint signing key: the new key (AUDIT_SIGNING_KEY) seals on from the old key's last
// checkpoint, which every verification still accepts under the old key's public half (AUDIT_PREVIOUS_PUBLIC_KEYS);
// and a key, once replaced, signs nothing after: neither a sealer still running with it nor one who stole it adds
// a checkpoint the verification takes.
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshDatabases, type TestHistory, testKey } from "../test/auditHistories.ts";
import { archiveHistory } from "./archiveHistory.ts";
import { manifestText, parseManifest } from "./archiveManifest.ts";
import { type Checkpoint, signCheckpoint } from "./checkpoint.ts";
import { SealingRefused } from "./sealCheckpoint.ts";
import { loadSigningKey, type SigningKey, signingKeyFromPem } from "./signingKey.ts";
import { verifyArchiveFiles } from "./verifyArchiveFile.ts";
import { verifyHistory } from "./verifyHistory.ts";

const databases = freshDatabases("audit_key_rotation");
beforeAll(databases.setUp);
afterAll(databases.tearDown);

const privatePem = () =>
  generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString();
const publicPem = (key: SigningKey) => key.publicKey.export({ format: "pem", type: "spki" }).toString();
const oldPem = testKey.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
const newPem = privatePem();

/** The platform's key before the rotation. */
const oldKey = loadSigningKey({ AUDIT_SIGNING_KEY: oldPem });
/** The platform's key after it: the new key, trusting the old one's public half. */
const rotated = loadSigningKey({ AUDIT_SIGNING_KEY: newPem, AUDIT_PREVIOUS_PUBLIC_KEYS: publicPem(oldKey) });

const SEVEN_YEARS_MS = 7 * 365 * 86_400_000;

const remembered = ({ sequence, chainHash }: Checkpoint) => ({ sequence, chainHash });

/** A history with a checkpoint by the old key, then one by the new key. */
async function rotatedHistory(): Promise<{ history: TestHistory; checkpoints: Checkpoint[] }> {
  const history = await databases.create();
  await history.begin();
  const first = await history.seal(oldKey);
  await history.round();
  const second = await history.seal(rotated, { lastSeen: remembered(first) });
  return { history, checkpoints: [first, second] };
}

/** The broken link of a checkpoint the old key signed after the new key's first (checkpoint 2). */
const oldKeySignedAfterItsSuccessor = (checkpoint: number) => ({
  intact: false,
  brokenLink: {
    checkpoint,
    problem: `signed by key ${oldKey.keyId}, which checkpoint 2's key ${rotated.keyId} replaced`,
  },
});

async function checkpointKeys(history: TestHistory): Promise<string[]> {
  const { rows } = await history.db.$client.query<{ keyId: string }>(
    `SELECT key_id AS "keyId" FROM outbox_checkpoints ORDER BY sequence`,
  );
  return rows.map((row) => row.keyId);
}

describe("rotating the signing key", () => {
  it("seals on from the old key's last checkpoint; verified with both keys, the history is intact", async () => {
    const { history, checkpoints } = await rotatedHistory();
    const client = await history.connection();
    try {
      expect(checkpoints.map((checkpoint) => checkpoint.sequence)).toEqual([1, 2]);
      expect(await checkpointKeys(history)).toEqual([oldKey.keyId, rotated.keyId]);
      expect(await verifyHistory(client, rotated.trusted)).toMatchObject({
        intact: true,
        checkpoints: 2,
        rows: (await history.rows()).length,
      });
      // Without the old key's public half, its checkpoint is one no configured key signed.
      expect(await verifyHistory(client, signingKeyFromPem(newPem).trusted)).toMatchObject({
        intact: false,
        brokenLink: { checkpoint: 1, problem: `signed by unknown key ${oldKey.keyId}` },
      });
    } finally {
      client.release();
      await history.close();
    }
  });

  it("refuses the old key's sealer after the new key's first checkpoint, even trusting its successor, sealing nothing", async () => {
    const sealers = {
      "still running with the old key": oldKey,
      "the old key brought back": loadSigningKey({
        AUDIT_SIGNING_KEY: oldPem,
        AUDIT_PREVIOUS_PUBLIC_KEYS: publicPem(rotated),
      }),
    };
    const { history } = await rotatedHistory();
    try {
      await history.round();
      for (const [sealer, key] of Object.entries(sealers)) {
        const refusal = history.seal(key);
        await expect(refusal, sealer).rejects.toThrow(SealingRefused);
        await expect(refusal, sealer).rejects.toThrow(
          `this key (${oldKey.keyId}) signed checkpoint 1 and was replaced since (checkpoint 2 is signed by ${rotated.keyId}): a replaced key signs nothing after`,
        );
      }
      expect(await checkpointKeys(history)).toEqual([oldKey.keyId, rotated.keyId]);
    } finally {
      await history.close();
    }
  });

  it("finds a checkpoint the replaced key signed after its successor's first (a stolen key's forgery)", async () => {
    const { history } = await rotatedHistory();
    const client = await history.connection();
    try {
      await history.round();
      const third = await history.seal(rotated);
      // Whoever holds the old key signs the new key's checkpoint over again, as their own.
      const forged = { ...third, keyId: oldKey.keyId };
      const admin = await history.admin();
      await admin.query("UPDATE outbox_checkpoints SET key_id = $1, signature = $2 WHERE sequence = 3", [
        forged.keyId,
        signCheckpoint(forged, oldKey.privateKey),
      ]);
      expect(await checkpointKeys(history)).toEqual([oldKey.keyId, rotated.keyId, oldKey.keyId]);

      expect(await verifyHistory(client, rotated.trusted)).toMatchObject(oldKeySignedAfterItsSuccessor(3));
    } finally {
      client.release();
      await history.close();
    }
  });

  it("archives across the rotation, verifies the archives offline with the keys configured, and finds an old key's forgery there too", async () => {
    const history = await databases.create();
    const client = await history.connection();
    const directory = await mkdtemp(join(tmpdir(), "audit-key-rotation-"));
    // Seven years on: everything written is past the retention period.
    const archive = (key: SigningKey) =>
      archiveHistory(client, key, {
        retentionDays: 1,
        directory,
        now: new Date(Date.now() + SEVEN_YEARS_MS),
      });
    try {
      await history.begin();
      await history.seal(oldKey);
      await history.relayed();
      const first = await archive(oldKey);
      await history.round();
      await history.seal(rotated);
      await history.relayed();
      // Archive 2 continues checkpoint 1, which the old key signed.
      const second = await archive(rotated);
      if (!first.archived || !second.archived) throw new Error("nothing archived");
      expect(second.archived).toMatchObject({
        afterCheckpointSequence: 1,
        checkpointSequence: 2,
        keyId: rotated.keyId,
      });

      const manifests = [first.manifest, second.manifest];
      expect(await verifyArchiveFiles(manifests, rotated.trusted)).toMatchObject([
        { intact: true },
        { intact: true },
      ]);
      expect(await verifyArchiveFiles(manifests, signingKeyFromPem(newPem).trusted)).toMatchObject([
        { intact: false, brokenLink: { problem: "the archive record is not validly signed by a known key" } },
      ]);
      expect(await verifyHistory(client, rotated.trusted)).toMatchObject({
        intact: true,
        lastCheckpoint: { sequence: 2 },
      });

      // A third archive, whose checkpoint whoever holds the old key signs over again as their own.
      await history.round();
      await history.seal(rotated);
      await history.relayed();
      const third = await archive(rotated);
      if (!third.archived) throw new Error("nothing archived");
      const manifest = parseManifest(await readFile(third.manifest, "utf8"));
      const forged = { ...manifest.checkpoint, keyId: oldKey.keyId };
      await writeFile(
        third.manifest,
        manifestText({
          ...manifest,
          checkpoint: { ...forged, signature: signCheckpoint(forged, oldKey.privateKey) },
        }),
      );
      expect(await verifyArchiveFiles([...manifests, third.manifest], rotated.trusted)).toMatchObject([
        { intact: true },
        { intact: true },
        oldKeySignedAfterItsSuccessor(3),
      ]);
    } finally {
      client.release();
      await history.close();
      await rm(directory, { recursive: true, force: true });
    }
  });
});
