// Two consumer processes in one group while records flow: the second joins mid-stream (a rebalance), then
// the first is killed with SIGKILL and the survivor takes its partitions over. Every record has exactly one
// effect, and each partition's effects happen in the partition's order.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEffectsTable, effectsOf, uniqueConsumerName } from "../../test/consumers/effects.ts";
import {
  patientCreatedRecord,
  publish,
  startGroupAtEnd,
  type TestRecord,
} from "../../test/consumers/records.ts";
import { spawnEffectConsumer } from "../../test/consumers/spawnConsumer.ts";
import { eventually, kafkaBrokers, testDatabase } from "../../test/fixtures.ts";

const db = testDatabase();
beforeAll(() => createEffectsTable(db));
afterAll(() => db.$client.end());

describe("two consumer processes in one group", () => {
  it("one killed mid-stream: every record has exactly one effect, in each partition's order", async () => {
    const name = uniqueConsumerName("failover");
    await startGroupAtEnd(kafkaBrokers(), name, ["patient-events"]);
    const published: TestRecord[] = [];
    let flowing = true;
    const producer = (async () => {
      while (flowing) {
        const batch = Array.from({ length: 10 }, () => patientCreatedRecord());
        await publish(kafkaBrokers(), batch, db);
        published.push(...batch);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    const first = spawnEffectConsumer(name);
    await first.ready;
    const ours = () => new Set(published.map((record) => record.eventId));
    const ourEffects = async () => {
      const wanted = ours();
      return (await effectsOf(db, name)).filter((effect) => wanted.has(effect.eventId));
    };
    await eventually(async () => (await ourEffects()).length >= 50);
    const second = spawnEffectConsumer(name);
    await second.ready;
    await eventually(async () => (await ourEffects()).length >= published.length / 2 + 50);
    first.child.kill("SIGKILL");
    expect(await first.exited).toBeNull();
    // Keep writing while the group notices the death (its session times out) and rebalances.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    flowing = false;
    await producer;

    await eventually(async () => (await ourEffects()).length >= published.length, 60_000);
    // The survivor took over every partition, the dead member's included.
    expect(second.output()).toContain('"assignment":{"patient-events":[0,1,2,3,4,5]}');
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);

    const effects = await ourEffects();
    const counts = new Map<string, number>();
    for (const effect of effects) counts.set(effect.eventId, (counts.get(effect.eventId) ?? 0) + 1);
    expect([...counts.values()].filter((count) => count !== 1)).toEqual([]);
    expect(counts.size).toBe(published.length);

    // In commit order, each partition's effects are in offset order.
    const byPartition = new Map<number, number[]>();
    for (const effect of effects)
      byPartition.set(effect.partition, [...(byPartition.get(effect.partition) ?? []), effect.offset]);
    for (const [partition, offsets] of byPartition) {
      expect(offsets, `partition ${partition}`).toEqual([...offsets].sort((a, b) => a - b));
    }
    expect(byPartition.size).toBe(6);
  });
});
