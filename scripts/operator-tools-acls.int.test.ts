// The operators' tools as the operators' principal, with only the ACLs `npm run topics -- acls` grants it, on a
// broker that checks them (test/secureKafka.ts): `npm run replay` republishes history and `npm run events:tail`
// shows it; a consumer's principal running the replay is refused by the broker, publishes nothing, and says so.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnScript } from "../test/childProcess.ts";
import { testDatabase } from "../test/fixtures.ts";
import { expectExactlyOnce } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import { patientHistory, replayRecords, runReplay } from "../test/replayCommand.ts";
import {
  aclUserVariables,
  saslBrokers,
  saslSecurity,
  startSecureKafkaWithAcls,
} from "../test/secureKafka.ts";

const db = testDatabase();

beforeAll(startSecureKafkaWithAcls, 240_000);
afterAll(() => db.$client.end());

describe("the operators' tools as the operators' principal", () => {
  it("npm run replay republishes a patient's events, which npm run events:tail shows as they arrive", async () => {
    const { patientId, eventIds } = await patientHistory(db);
    const events = await tapTopic(saslBrokers, "patient-events", saslSecurity("scram-sha-512"));
    const tail = spawnScript("scripts/tail-events.ts", {
      args: ["patient-events"],
      env: aclUserVariables("operator"),
    });
    try {
      // It reads in a throwaway group of its own (events-tail-<uuid>), which the operators may join.
      await tail.printed(/tailing patient-events/, 60_000);

      const replay = await runReplay(
        ["--aggregate", `patient:${patientId}`, "--yes"],
        aclUserVariables("operator"),
      );
      expect(replay.code, replay.output).toBe(0);

      expectExactlyOnce(await events.collect({ done: containsAll(eventIds), timeoutMs: 60_000 }), eventIds);
      for (const eventId of eventIds) await tail.printed(new RegExp(`"eventId":"${eventId}"`), 30_000);
    } finally {
      tail.child.kill("SIGINT");
      expect(await tail.exited, tail.output()).toBe(0);
    }
  });

  it("a consumer's principal cannot replay: the broker refuses and nothing is published", async () => {
    const { patientId } = await patientHistory(db);
    const events = await tapTopic(saslBrokers, "patient-events", saslSecurity("scram-sha-512"));
    const recordsBefore = await replayRecords(db);

    const replay = await runReplay(
      ["--aggregate", `patient:${patientId}`, "--yes"],
      aclUserVariables("consumer"),
    );

    expect(replay.code, replay.output).toBe(1);
    expect(replay.output).toMatch(/replay failed: .*not authorized/i);
    const landed = (await events.read()).filter(({ message }) => message.key?.toString() === patientId);
    expect(landed).toEqual([]);
    // A real run is recorded before its first record goes out (README, Replaying history): the attempt stays
    // in the history, its refusal in the operator's output.
    expect(await replayRecords(db)).toBe(recordsBefore + 1);
  });
});
