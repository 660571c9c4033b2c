// GET /audit/verify runs at most AUDIT_VERIFY_CONCURRENCY verifications at once, since each holds a pooled
// connection for its whole run; one more is answered 503 with Retry-After at once, and records no access.
// The verifications in flight are held at their first step (loading the checkpoint keys), so that which
// ones hold the slots is known without timing.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { testDatabase } from "../../test/fixtures.ts";
import { eventsOf } from "../../test/platformState.ts";
import { caller, testPlatform } from "../../test/tokens.ts";
import { type CheckpointKeys, configuredCheckpointKeys } from "./routes.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

/** Checkpoint keys that wait until `open()`; `holding(n)` resolves once n verifications wait on them. */
function heldKeys() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  let waiting = 0;
  const keys: CheckpointKeys = async () => {
    waiting++;
    for (const waiter of waiters) if (waiting >= waiter.count) waiter.resolve();
    await opened;
    return configuredCheckpointKeys();
  };
  const holding = (count: number) =>
    new Promise<void>((resolve) => {
      if (waiting >= count) resolve();
      else waiters.push({ count, resolve });
    });
  return { keys, open, holding };
}

async function verify(app: ReturnType<typeof testPlatform>, query = "") {
  const auditor = await caller("auditor");
  const correlationId = randomUUID();
  const response = await app.request(`/audit/verify${query}`, {
    headers: auditor.headers({ "X-Correlation-Id": correlationId }),
  });
  return { response, correlationId };
}

describe("concurrent verifications", () => {
  it("runs two at once and answers a third 503 with Retry-After, writing nothing for it", async () => {
    const held = heldKeys();
    const app = testPlatform(db, { checkpointKeys: held.keys, concurrentVerifications: 2 });
    const running = [verify(app), verify(app)];
    await held.holding(2);

    for (let i = 0; i < 3; i++) {
      const { response, correlationId } = await verify(app);
      expect(response.status).toBe(503);
      expect(response.headers.get("Retry-After")).toBe("10");
      expect(response.headers.get("Content-Type")).toBe("application/problem+json");
      expect(((await response.json()) as { detail: string }).detail).toMatch(/2 verifications/);
      expect(await eventsOf(db, correlationId)).toEqual([]);
    }

    held.open();
    for (const { response, correlationId } of await Promise.all(running)) {
      expect(response.status).toBe(200);
      expect(((await response.json()) as { intact: boolean }).intact).toBe(true);
      expect((await eventsOf(db, correlationId)).map((event) => event.type)).toEqual(["audit.data.accessed"]);
    }
    // The slots were given back.
    expect((await verify(app)).response.status).toBe(200);
  });

  it("gives the slot back when a verification fails", async () => {
    const app = testPlatform(db, { concurrentVerifications: 1 });
    for (let i = 0; i < 3; i++) {
      const { response } = await verify(app, "?from=9223372036854775000");
      expect(response.status).toBe(400);
    }
    expect((await verify(app)).response.status).toBe(200);
  });
});
