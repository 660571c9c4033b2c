// Verifying a range of the history: it starts right after the checkpoint sealed before the range, verifies
// every row from there to its end, finds what was changed inside, leaves alone what lies outside (and says
// exactly which span it verified), and checks links into the range against the stored hashes before it.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instantOf } from "../events/instant.ts";
import { changePayload, freshDatabases, momentBetween, testKeys } from "../test/auditHistories.ts";
import type { Checkpoint } from "./checkpoint.ts";
import type { HistoryRange } from "./historySpan.ts";
import type { HistoryRow } from "./sql/historyRows.ts";
import { verifyHistory } from "./verifyHistory.ts";

const databases = freshDatabases("audit_range");
beforeAll(databases.setUp);
afterAll(databases.tearDown);

/**
 * 30 rows over 4 patients, in history order: rows 0-9 (each patient's creation and first update, with audit
 * events) sealed by checkpoint 1; rows 10-19 (two more updates each) by checkpoint 2; rows 20-24 by
 * checkpoint 3; rows 25-29 not sealed yet. Patient p's events in round r are rows 5r+p (r = 0 for creation).
 */
async function historyInCheckpoints() {
  const history = await databases.create();
  await history.begin();
  await history.round();
  const first = await history.seal();
  const afterFirst = await momentBetween();
  await history.round();
  await history.round();
  const beforeSecond = await momentBetween();
  const second = await history.seal();
  await history.round();
  await history.seal();
  await history.round();
  const rows = await history.rows();
  const client = await history.connection();
  return {
    history,
    rows,
    checkpoints: [first, second] as [Checkpoint, Checkpoint],
    afterFirst,
    beforeSecond,
    position: (index: number) => (rows[index] as HistoryRow).position,
    verify: (range: HistoryRange = {}) => verifyHistory(client, testKeys, range),
    close: async () => {
      client.release();
      await history.close();
    },
  };
}

describe("verifying a range of the history", () => {
  it("starts right after the checkpoint sealed before it and reports the span, its chains and their links before it", async () => {
    const history = await historyInCheckpoints();
    const report = await history.verify({ from: history.position(10), to: history.position(19) });
    expect(report).toEqual({
      intact: true,
      range: {
        afterCheckpoint: 1,
        afterPosition: history.position(9),
        rowsBefore: 10,
        archivedRows: 0,
        throughPosition: history.position(19),
      },
      rows: 10,
      checkpoints: 1,
      chainedAggregates: 4,
      linksToEarlierRows: 4,
      linksToArchivedRows: 0,
      upToPosition: history.position(19),
      lastCheckpoint: expect.objectContaining({ sequence: 2, rowCount: 20 }),
    });
    await history.close();
  });

  it("finds a row changed inside the range", async () => {
    const history = await historyInCheckpoints();
    await changePayload(history.history, history.position(12));
    const report = await history.verify({ from: history.position(10), to: history.position(19) });
    expect(report).toMatchObject({
      intact: false,
      range: { afterCheckpoint: 1, throughPosition: history.position(19) },
      rows: 2,
      brokenLink: { position: history.position(12), problem: expect.stringMatching(/content/) },
    });
    await history.close();
  });

  it("leaves rows changed outside the range alone, and says which span it verified", async () => {
    const history = await historyInCheckpoints();
    await changePayload(history.history, history.position(6));
    await changePayload(history.history, history.position(22));
    const range = await history.verify({ from: history.position(10), to: history.position(19) });
    expect(range).toMatchObject({
      intact: true,
      range: {
        afterCheckpoint: 1,
        afterPosition: history.position(9),
        throughPosition: history.position(19),
      },
      rows: 10,
    });
    // The whole history does show them.
    expect(await history.verify()).toMatchObject({
      intact: false,
      brokenLink: { position: history.position(6) },
    });
    await history.close();
  });

  it("verifies from the checkpoint before a range that starts between checkpoints, so a change there is found", async () => {
    const history = await historyInCheckpoints();
    const asked = { from: history.position(15), to: history.position(17) };
    expect(await history.verify(asked)).toMatchObject({
      intact: true,
      range: { afterCheckpoint: 1, throughPosition: history.position(17) },
      rows: 8,
      checkpoints: 0,
    });
    await changePayload(history.history, history.position(11));
    expect(await history.verify(asked)).toMatchObject({
      intact: false,
      range: { afterCheckpoint: 1 },
      brokenLink: { position: history.position(11) },
    });
    await history.close();
  });

  it("checks each link into the range against the stored hash of the event before the range", async () => {
    const history = await historyInCheckpoints();
    // Patient 0's first update (row 5), which their next event (row 10, in the range) links to.
    const admin = await history.history.admin();
    await admin.query("UPDATE outbox SET hash = $1 WHERE position = $2", [
      randomBytes(32),
      history.position(5),
    ]);
    expect(await history.verify({ from: history.position(10), to: history.position(19) })).toMatchObject({
      intact: false,
      brokenLink: {
        position: history.position(10),
        aggregate: `patient ${history.history.patientIds[0]}`,
        problem: expect.stringMatching(/does not link/),
      },
    });
    // A range whose links reach other events is not concerned.
    expect(await history.verify({ from: history.position(20) })).toMatchObject({ intact: true });
    await history.close();
  });

  it("finds a row removed inside the range by the checkpoint that sealed it", async () => {
    const history = await historyInCheckpoints();
    const admin = await history.history.admin();
    await admin.query("DELETE FROM outbox WHERE position = $1", [history.position(14)]);
    expect(await history.verify({ from: history.position(10), to: history.position(19) })).toMatchObject({
      intact: false,
      brokenLink: { checkpoint: 2, problem: expect.stringMatching(/removed/) },
    });
    await history.close();
  });

  it("checks the chain heads when a range runs to the end of the history", async () => {
    const history = await historyInCheckpoints();
    expect(await history.verify({ from: history.position(25) })).toMatchObject({
      intact: true,
      range: { afterCheckpoint: 3, rowsBefore: 25, throughPosition: null },
      rows: 5,
    });
    const admin = await history.history.admin();
    await admin.query("DELETE FROM outbox WHERE position = $1", [history.position(28)]);
    expect(await history.verify({ from: history.position(25) })).toMatchObject({
      intact: false,
      brokenLink: { problem: expect.stringMatching(/tail was removed/) },
    });
    await history.close();
  });

  it("takes a time range through the checkpoints' sealing times", async () => {
    const history = await historyInCheckpoints();
    const report = await history.verify({
      since: instantOf(history.afterFirst),
      until: instantOf(history.beforeSecond),
    });
    expect(report).toMatchObject({
      intact: true,
      range: {
        afterCheckpoint: history.checkpoints[0].sequence,
        throughPosition: history.checkpoints[1].upToPosition,
      },
      rows: 10,
    });
    await history.close();
  });

  it("compares since and until with the sealing times exactly, to the nanosecond", async () => {
    const history = await historyInCheckpoints();
    const [first, second] = history.checkpoints;
    const sealed = (checkpoint: Checkpoint, nanoseconds: bigint) => ({
      epochNanoseconds: instantOf(checkpoint.sealedAt).epochNanoseconds + nanoseconds,
    });
    // A nanosecond before the first checkpoint was sealed, it was not sealed yet: Postgres, given the instant
    // to nine digits, would round it to the microsecond of the sealing and start after the checkpoint.
    expect(await history.verify({ since: sealed(first, -1n) })).toMatchObject({
      range: { afterCheckpoint: 0 },
    });
    expect(await history.verify({ since: sealed(first, 0n) })).toMatchObject({
      range: { afterCheckpoint: 1 },
    });
    // A nanosecond after the second was sealed, the first checkpoint sealed from then on is the third.
    expect(await history.verify({ until: sealed(second, 0n) })).toMatchObject({
      range: { throughPosition: second.upToPosition },
    });
    expect(await history.verify({ until: sealed(second, 1n) })).toMatchObject({
      range: { throughPosition: history.position(24) },
    });
    await history.close();
  });

  it("refuses a range that names no part of the history, naming the parameter", async () => {
    const history = await historyInCheckpoints();
    const refusal = (range: HistoryRange) =>
      history.verify(range).then(
        () => null,
        (error: { parameter?: string }) => error.parameter,
      );
    expect(await refusal({ from: "999999999999" })).toBe("from");
    expect(await refusal({ from: history.position(12), to: history.position(11) })).toBe("to");
    expect(await refusal({ from: history.position(12), since: instantOf(new Date()) })).toBe("since");
    expect(
      await refusal({ since: instantOf(history.beforeSecond), until: instantOf(history.afterFirst) }),
    ).toBe("until");
    // A range that starts after now holds no event yet: refused, not reported intact over nothing.
    expect(await refusal({ since: instantOf(new Date(Date.now() + 60_000)) })).toBe("since");
    // One that ends after now is the history up to now.
    expect(
      await refusal({
        since: instantOf(history.afterFirst),
        until: instantOf(new Date(Date.now() + 60_000)),
      }),
    ).toBeNull();
    await history.close();
  });
});
