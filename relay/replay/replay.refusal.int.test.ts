// A replay that would break per-key order, or that names what does not exist, is refused with a clear message
// and a non-zero exit: nothing is published and no replay is recorded.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { kafkaBrokers, testDatabase } from "../../test/fixtures.ts";
import { tapTopic } from "../../test/kafkaTap.ts";
import { patientHistory, replayRecords, runReplay } from "../../test/replayCommand.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

describe("npm run replay refuses", () => {
  it("events the relay has not published yet, to their own topic, publishing nothing", async () => {
    const { patientId, eventIds } = await patientHistory(db, { relayed: false });
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const recordsBefore = await replayRecords(db);

    const outcome = await runReplay(["--aggregate", `patient:${patientId}`, "--yes"]);

    expect(outcome.code, outcome.output).toBe(1);
    expect(outcome.output).toContain(
      `replay refused: 3 of the selected patient-events events are not published by the relay yet`,
    );
    expect(outcome.output).toContain("nothing published");
    const mine = new Set(eventIds);
    expect(
      (await tap.read()).filter(({ message }) => mine.has(JSON.parse(String(message.value)).eventId)),
    ).toEqual([]);
    expect(await replayRecords(db)).toBe(recordsBefore);
  });

  it("a target topic the broker does not have, and a bad flag, publishing nothing", async () => {
    const { patientId } = await patientHistory(db, { relayed: false });
    const recordsBefore = await replayRecords(db);
    const missing = `replay-missing-${randomUUID()}`;

    const noTopic = await runReplay(["--aggregate", `patient:${patientId}`, "--to-topic", missing, "--yes"]);
    expect(noTopic.code, noTopic.output).toBe(1);
    expect(noTopic.output).toContain(`--to-topic ${missing}: the broker has no such topic`);

    const badRate = await runReplay(["--aggregate", `patient:${patientId}`, "--rate", "0", "--yes"]);
    expect(badRate.code, badRate.output).toBe(2);
    expect(badRate.output).toContain("--rate 0: must be a number of events per second above 0");
    expect(badRate.output).toContain("usage: npm run replay");

    expect(await replayRecords(db)).toBe(recordsBefore);
  });
});
