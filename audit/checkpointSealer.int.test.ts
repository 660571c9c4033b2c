// The platform's checkpoint sealer keeps running when its database session is ended under it (a failover, an
// operator's pg_terminate_backend): its pool's client, checked out for a seal, had no error listener, so the
// session's end was an uncaught 'error' that stopped the whole platform ("Connection terminated unexpectedly",
// found terminating the platform's sessions in a loop while it served writes).
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testKey } from "../test/auditHistories.ts";
import { databaseUrl, silentLog } from "../test/fixtures.ts";
import { startCheckpointSealer } from "./checkpointSealer.ts";

const observer = new pg.Client({ connectionString: databaseUrl() });
beforeAll(() => observer.connect());
afterAll(() => observer.end());

describe("the checkpoint sealer", () => {
  it("outlives its sessions being terminated while it seals", async () => {
    const uncaught: unknown[] = [];
    const note = (error: unknown) => uncaught.push(error);
    process.on("uncaughtException", note);
    const sealer = startCheckpointSealer({
      databaseUrl: databaseUrl(),
      key: testKey,
      log: silentLog,
      intervalMs: 5,
    });
    let terminated = 0;
    try {
      for (let round = 0; round < 150; round++) {
        const { rows } = await observer.query<{ ended: boolean }>(
          `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
            WHERE application_name = 'checkpoint-sealer' AND pid <> pg_backend_pid()`,
        );
        terminated += rows.filter((row) => row.ended).length;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10));
      }
    } finally {
      await sealer.stop();
      process.off("uncaughtException", note);
    }
    expect(terminated).toBeGreaterThan(0);
    expect(uncaught).toEqual([]);
  });
});
