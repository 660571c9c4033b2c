// applyTopics against a real broker: it creates the catalog's topics exactly as cataloged, is idempotent,
// repairs drift (configs changed by hand, missing partitions) and never takes anything away.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Admin, createKafka } from "../kafka/client.ts";
import { eventually, kafkaBrokers } from "../test/fixtures.ts";
import { setTopicConfigs } from "../test/kafkaTopics.ts";
import { type ApplyTopicsOptions, applyTopics, type TopicLog, type TopicSpec } from "./apply-topics.ts";
import { topics as catalogTopics } from "./catalog.ts";

const TOPIC_RESOURCE = 2; // ConfigResourceTypes.TOPIC
const brokers = kafkaBrokers();

/** Collects what applyTopics logs, so tests can assert on warnings instead of printing them. */
function recordingLog(): TopicLog & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, info: () => {}, warn: (message) => warnings.push(message) };
}

const quietly = (topics?: readonly TopicSpec[]): ApplyTopicsOptions => ({ topics, log: recordingLog() });

async function connectWhenUp(admin: Admin, deadlineMs = 60_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      await admin.connect();
      await admin.listTopics();
      return;
    } catch (error) {
      await admin.disconnect().catch(() => {});
      if (Date.now() > deadline)
        throw new Error(`no Kafka broker answered on ${brokers.join(",")} within 60 s`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}

async function partitionCount(admin: Admin, topic: string): Promise<number | undefined> {
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
  return topics[0]?.partitions.length;
}

async function topicConfigs(admin: Admin, topic: string): Promise<Record<string, string>> {
  const { resources } = await admin.describeConfigs({
    resources: [{ type: TOPIC_RESOURCE, name: topic }],
    includeSynonyms: false,
  });
  return Object.fromEntries(
    (resources[0]?.configEntries ?? []).map((entry) => [entry.configName, entry.configValue]),
  );
}

/** Whether the broker's view of a topic's configs holds every given value (config changes apply asynchronously). */
async function configsShow(admin: Admin, topic: string, expected: Record<string, string>): Promise<boolean> {
  const configs = await topicConfigs(admin, topic);
  return Object.entries(expected).every(([name, value]) => configs[name] === value);
}

/**
 * Overwrites a topic's overrides as an operator would with kafka-configs.sh --alter (all others reset), and
 * waits until the broker describes the new values: AlterConfigs returns before the broker applies them.
 */
async function setConfigsByHand(admin: Admin, topic: string, configs: Record<string, string>): Promise<void> {
  await setTopicConfigs(admin, topic, configs);
  await eventually(() => configsShow(admin, topic, configs), 10_000);
}

/** The catalog's topics under names of this run only, for the tests that damage topics on purpose. */
const runId = randomUUID().slice(0, 8);
const scratchName = (name: string) => `apply-topics-test-${runId}-${name}`;
const scratchTopics: TopicSpec[] = catalogTopics.map((topic) => ({
  ...topic,
  name: scratchName(topic.name),
}));

function scratch(name: string): TopicSpec {
  const spec = scratchTopics.find((topic) => topic.name === scratchName(name));
  if (!spec) throw new Error(`no scratch topic for ${name}`);
  return spec;
}

describe("applyTopics", () => {
  const admin = createKafka({ brokers, clientId: "apply-topics-test" }).admin();

  beforeAll(async () => {
    await connectWhenUp(admin);
  }, 70_000);

  afterAll(async () => {
    // Only this run's scratch topics, even those of a test that failed half-way; the catalog's own topics
    // stay for everything else.
    const scratchOfThisRun = (await admin.listTopics()).filter((topic) => topic.startsWith(scratchName("")));
    if (scratchOfThisRun.length > 0) await admin.deleteTopics({ topics: scratchOfThisRun });
    await admin.disconnect();
  });

  it("gives every catalog topic exactly its partitions, cleanup policy and retention, and a second run changes nothing", async () => {
    const first = await applyTopics(admin, quietly());
    expect([...first.created, ...first.updated, ...first.unchanged].sort()).toEqual(
      catalogTopics.map((topic) => topic.name).sort(),
    );

    const second = await applyTopics(admin, quietly());
    expect(second.created).toEqual([]);
    expect(second.updated).toEqual([]);
    expect(second.unchanged).toEqual(catalogTopics.map((topic) => topic.name));

    for (const topic of catalogTopics) {
      expect(await partitionCount(admin, topic.name), topic.name).toBe(topic.partitions);
      const configs = await topicConfigs(admin, topic.name);
      expect(configs["cleanup.policy"], topic.name).toBe(topic.configs["cleanup.policy"]);
      expect(configs["retention.ms"], topic.name).toBe(topic.configs["retention.ms"]);
      for (const [name, value] of Object.entries(topic.configs))
        expect(configs[name], `${topic.name} ${name}`).toBe(value);
    }
  });

  it("creates missing topics with their configs and reports them as created", async () => {
    const summary = await applyTopics(admin, quietly(scratchTopics));
    expect(summary.created).toEqual(scratchTopics.map((topic) => topic.name));

    const audit = scratch("audit-events");
    expect(await partitionCount(admin, audit.name)).toBe(12);
    expect(await topicConfigs(admin, audit.name)).toMatchObject({
      "cleanup.policy": "compact",
      "retention.ms": String(365 * 24 * 60 * 60 * 1000),
      "min.compaction.lag.ms": String(365 * 24 * 60 * 60 * 1000),
    });
    expect((await applyTopics(admin, quietly(scratchTopics))).unchanged).toHaveLength(scratchTopics.length);
  });

  it("brings a retention changed by hand back to the catalog's, keeping other overrides set by hand", async () => {
    const audit = scratch("audit-events");
    // As AlterConfigs does, this resets every other override of the topic: cleanup.policy falls back to delete.
    // segment.ms is no catalog config (max.message.bytes, once the example here, now is one: events/record.ts).
    await setConfigsByHand(admin, audit.name, { "retention.ms": "3600000", "segment.ms": "86400000" });
    expect(await topicConfigs(admin, audit.name)).toMatchObject({
      "retention.ms": "3600000",
      "cleanup.policy": "delete",
    });

    const summary = await applyTopics(admin, quietly([audit]));

    expect(summary.updated).toEqual([audit.name]);
    expect(summary.reports[0]?.changes).toEqual(
      expect.arrayContaining([
        `retention.ms: 3600000 -> ${audit.configs["retention.ms"]}`,
        "cleanup.policy: delete -> compact",
      ]),
    );
    const expected = { ...audit.configs, "segment.ms": "86400000" };
    await eventually(() => configsShow(admin, audit.name, expected), 10_000);
  });

  it("adds the partitions a topic lacks, and leaves a topic with more partitions alone with a warning", async () => {
    const fewer = { ...scratch("document-events"), name: scratchName("fewer-partitions") };
    const more = { ...scratch("notification-events"), name: scratchName("more-partitions") };
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic: fewer.name, numPartitions: 2 },
        { topic: more.name, numPartitions: 7 },
      ],
    });

    const log = recordingLog();
    const summary = await applyTopics(admin, { topics: [fewer, more], log });

    expect(await partitionCount(admin, fewer.name)).toBe(fewer.partitions);
    expect(summary.reports[0]?.changes).toContain(`partitions: 2 -> ${fewer.partitions}`);
    expect(await partitionCount(admin, more.name)).toBe(7);
    expect(summary.reports[1]?.partitions).toBe(7);
    expect(summary.reports[1]?.warnings).toEqual([
      expect.stringContaining("has 7 partitions where the catalog says 4"),
    ]);
    expect(log.warnings).toEqual(
      expect.arrayContaining([expect.stringContaining(fewer.name), expect.stringContaining(more.name)]),
    );
    // Created by hand without configs, both inherited the broker's defaults; applyTopics pins the catalog's
    // values on them even where a default happens to be equal. Only a partition count is beyond its reach.
    expect(summary.updated).toEqual([fewer.name, more.name]);
    expect(summary.reports[1]?.changes).toContain(
      `retention.ms: ${more.configs["retention.ms"]} set on the topic (was the broker's default)`,
    );
    expect((await applyTopics(admin, quietly([fewer, more]))).unchanged).toEqual([fewer.name, more.name]);
  });
});
