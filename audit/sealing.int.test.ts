// The sealer signs only a history it has checked: not over a changed row, not on a checkpoint whose signature
// does not hold, and (remembering the last checkpoint it sealed) not after checkpoints were removed or replaced.
// A verification reports its last checkpoint, and checks one written down before: a rollback shows there too.

import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  changePayload,
  freshDatabases,
  type TestHistory,
  testKey,
  testKeys,
} from "../test/auditHistories.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { SealingRefused } from "./sealCheckpoint.ts";
import { signingKeyFromPem } from "./signingKey.ts";
import { type RememberedCheckpoint, verifyHistory } from "./verifyHistory.ts";

const databases = freshDatabases("audit_sealing");
beforeAll(databases.setUp);
afterAll(databases.tearDown);

/** Seals as the platform's sealer does, remembering `lastSeen`, once the rows so far are below the horizon. */
const seal = (history: TestHistory, lastSeen: RememberedCheckpoint | null = null, key = testKey) =>
  history.seal(key, { lastSeen });

async function checkpointCount(history: TestHistory): Promise<number> {
  const { rows } = await history.db.$client.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM outbox_checkpoints",
  );
  return rows[0]?.n ?? -1;
}

const remembered = (checkpoint: Checkpoint | null): RememberedCheckpoint => ({
  sequence: (checkpoint as Checkpoint).sequence,
  chainHash: (checkpoint as Checkpoint).chainHash,
});

describe("sealing a checkpoint", () => {
  it("refuses to sign over a row whose content no longer gives its hash, and seals nothing", async () => {
    const history = await databases.create();
    try {
      await history.begin();
      await history.round();
      const rows = await history.rows();
      await changePayload(history, rows[6]?.position as string);
      const refusal = seal(history);
      await expect(refusal).rejects.toThrow(SealingRefused);
      await expect(refusal).rejects.toThrow(`position ${rows[6]?.position}`);
      expect(await checkpointCount(history)).toBe(0);
    } finally {
      await history.close();
    }
  });

  it("refuses to build on a checkpoint whose signature does not hold, or that another key signed", async () => {
    const history = await databases.create();
    try {
      await history.begin();
      expect(await seal(history)).toMatchObject({ sequence: 1 });
      await history.round();
      const otherKey = signingKeyFromPem(
        generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
      );
      await expect(seal(history, null, otherKey)).rejects.toThrow(/checkpoint 1: signed by unknown key/);
      const admin = await history.admin();
      await admin.query("UPDATE outbox_checkpoints SET row_count = row_count + 1 WHERE sequence = 1");
      await expect(seal(history)).rejects.toThrow(/checkpoint 1: its signature does not match/);
      expect(await checkpointCount(history)).toBe(1);
    } finally {
      await history.close();
    }
  });

  it("refuses, when it remembers its last checkpoint, once that checkpoint is gone or replaced", async () => {
    const history = await databases.create();
    try {
      await history.begin();
      const first = await seal(history);
      await history.round();
      const second = await seal(history, remembered(first));
      expect(second).toMatchObject({ sequence: 2 });
      await history.round();

      const admin = await history.admin();
      await admin.query("UPDATE outbox_checkpoints SET chain_hash = $1 WHERE sequence = 2", [
        Buffer.alloc(32),
      ]);
      await expect(seal(history, remembered(second))).rejects.toThrow(/checkpoint 2.*replaced/);
      await admin.query("DELETE FROM outbox_checkpoints WHERE sequence = 2");
      await expect(seal(history, remembered(second))).rejects.toThrow(/checkpoint 2.*gone/);
      expect(await checkpointCount(history)).toBe(1);
      // A sealer that remembers nothing signs the rolled-back history again: the one it remembers is the defence.
      expect(await seal(history)).toMatchObject({ sequence: 2 });
    } finally {
      await history.close();
    }
  });
});

describe("a verification", () => {
  it("reports its last checkpoint, and checks one written down before", async () => {
    const history = await databases.create();
    const client = await history.connection();
    try {
      await history.begin();
      const first = (await seal(history)) as Checkpoint;
      await history.round();
      const second = (await seal(history)) as Checkpoint;
      await history.round();
      const report = await verifyHistory(client, testKeys);
      expect(report).toMatchObject({
        intact: true,
        lastCheckpoint: {
          sequence: 2,
          chainHash: second.chainHash.toString("hex"),
          rowCount: second.rowCount,
          sealedAt: second.sealedAt.toISOString(),
        },
      });
      expect(
        await verifyHistory(client, testKeys, {}, { expectCheckpoint: remembered(second) }),
      ).toMatchObject({
        intact: true,
      });

      const admin = await history.admin();
      await admin.query("DELETE FROM outbox_checkpoints WHERE sequence = 2");
      expect(await verifyHistory(client, testKeys, {}, { expectCheckpoint: remembered(second) })).toEqual({
        intact: false,
        range: null,
        rows: 0,
        brokenLink: {
          checkpoint: 2,
          problem:
            "this checkpoint is gone (the history's newest is 1): checkpoints were removed, unless it was never sealed here",
          cause: "expectCheckpoint",
        },
      });
      // Sealed again, by a sealer that remembers nothing: a new checkpoint 2, over more rows, is not the one written down.
      await seal(history);
      expect(
        await verifyHistory(client, testKeys, {}, { expectCheckpoint: remembered(second) }),
      ).toMatchObject({
        intact: false,
        brokenLink: {
          checkpoint: 2,
          problem: expect.stringContaining("replaced"),
          cause: "expectCheckpoint",
        },
      });
      expect(await verifyHistory(client, testKeys)).toMatchObject({ intact: true });
      // One removed from under newer ones: it was sealed here, and is gone.
      await admin.query("DELETE FROM outbox_checkpoints WHERE sequence = 1");
      expect(
        await verifyHistory(client, testKeys, {}, { expectCheckpoint: remembered(first) }),
      ).toMatchObject({
        intact: false,
        brokenLink: {
          checkpoint: 1,
          problem: "this checkpoint, seen before, is gone: checkpoints were removed",
        },
      });
    } finally {
      client.release();
      await history.close();
    }
  });
});
