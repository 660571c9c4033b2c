// Several relay processes for high availability: one publishes, the others stand by and take over when it
// dies, and per-aggregate order survives the handover.
import { afterAll, describe, expect, it } from "vitest";
import { eventually, kafkaBrokers, testDatabase } from "../test/fixtures.ts";
import { expectPerKeyOrder } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import { relayStatus, spawnRelayProcess, untilLeader } from "../test/relayProcess.ts";
import { startSequentialWriter } from "../test/sequentialWriter.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

describe("two relay processes at once", () => {
  it("publish through exactly one leader, and the standby takes over with nothing lost and order kept", async () => {
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const relays = [spawnRelayProcess(), spawnRelayProcess()];
    await Promise.all(relays.map((relay) => relay.port));
    await eventually(async () => {
      const statuses = await Promise.all(relays.map((relay) => relayStatus(relay)));
      return statuses.filter((status) => status.leader).length === 1;
    }, 60_000);
    const writer = startSequentialWriter(db, { patients: 10 });
    await eventually(async () => writer.count() >= 100);

    const statuses = await Promise.all(relays.map((relay) => relayStatus(relay)));
    expect(statuses.map((status) => status.leader).sort()).toEqual([false, true]);
    const leaderIndex = statuses.findIndex((status) => status.leader);
    const [leader, standby] = leaderIndex === 0 ? relays : [relays[1], relays[0]];
    leader?.child.kill("SIGKILL");
    await untilLeader(standby as (typeof relays)[0]);
    const afterHandover = writer.count();
    await eventually(async () => writer.count() >= afterHandover + 100);
    await writer.stop();

    const wanted = new Set([...writer.committed.values()].flat());
    const records = await tap.collect({
      done: containsAll(wanted),
      timeoutMs: 60_000,
    });
    standby?.child.kill("SIGTERM");
    await standby?.exited;
    expectPerKeyOrder(records, writer.committed);
  });
});
