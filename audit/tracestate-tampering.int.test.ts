// The row hash covers a row's tracestate when it has one: a history whose rows carry the writer's tracestate
// verifies intact, and a tracestate changed or removed afterwards (by an administrator who bypasses the
// append-only triggers) is found and its row named.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { freshDatabases, testKeys } from "../test/auditHistories.ts";
import { patientCreated, testEventContext, traced } from "../test/fixtures.ts";
import { verifyHistory } from "./verifyHistory.ts";

const databases = freshDatabases("audit");
beforeAll(databases.setUp);
afterAll(databases.tearDown);

const trace = {
  traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  tracestate: "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
};

/** Three patients' first events, the second one written inside a traced request. */
async function tracedHistory() {
  const { db } = await databases.create();
  for (const traceHeaders of [{}, trace, {}]) {
    await traced(traceHeaders, () =>
      writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [patientCreated(randomUUID())])),
    );
  }
  const admin = await db.$client.connect();
  await admin.query("SET session_replication_role = replica");
  const { rows } = await admin.query<{ position: string }>(
    "SELECT position::text AS position FROM outbox WHERE tracestate IS NOT NULL",
  );
  return {
    admin,
    tracedPosition: rows[0]?.position,
    verify: () => verifyHistory(admin, testKeys),
    close: async () => {
      admin.release();
      await db.$client.end();
    },
  };
}

describe("a row's tracestate", () => {
  it("is stored with the row, and the untouched history verifies intact", async () => {
    const history = await tracedHistory();
    expect(history.tracedPosition).toBeDefined();
    expect(await history.verify()).toMatchObject({ intact: true, rows: 3 });
    await history.close();
  });

  it.each([
    ["changed", "congo=forged"],
    ["removed", null],
  ])("breaks the row's hash when %s afterwards", async (_, tracestate) => {
    const history = await tracedHistory();
    await history.admin.query("UPDATE outbox SET tracestate = $1 WHERE position = $2", [
      tracestate,
      history.tracedPosition,
    ]);
    expect(await history.verify()).toMatchObject({
      intact: false,
      brokenLink: { position: history.tracedPosition },
    });
    await history.close();
  });
});
