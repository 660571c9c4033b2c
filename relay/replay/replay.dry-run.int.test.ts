// `--dry-run` counts what a replay would send, per topic, and sends nothing: no record on the broker, no
// replay recorded.
import { afterAll, describe, expect, it } from "vitest";
import { kafkaBrokers, testDatabase } from "../../test/fixtures.ts";
import { tapTopic } from "../../test/kafkaTap.ts";
import { patientHistory, replayRecords, runReplay } from "../../test/replayCommand.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

describe("npm run replay --dry-run", () => {
  it("prints the count per topic and publishes nothing", async () => {
    const { patientId, eventIds } = await patientHistory(db, { updates: 4 });
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const recordsBefore = await replayRecords(db);

    const outcome = await runReplay(["--aggregate", `patient:${patientId}`, "--dry-run"]);

    expect(outcome.code, outcome.output).toBe(0);
    expect(outcome.output).toMatch(/replay of 5 events, read up to the relay's checkpoint/);
    expect(outcome.output).toMatch(/ {2}patient-events {2}5\n/);
    expect(outcome.output).toContain("dry run: nothing published");
    const mine = new Set(eventIds);
    expect(
      (await tap.read()).filter(({ message }) => mine.has(JSON.parse(String(message.value)).eventId)),
    ).toEqual([]);
    expect(await replayRecords(db)).toBe(recordsBefore);
  });
});
