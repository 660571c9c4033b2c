// The local stack really serves: Postgres with logical WAL, a Kafka broker that creates topics, reuse of
// running services, and a Kafka stop/start cycle like the outage tests do.
import { randomUUID } from "node:crypto";
import { type AddressInfo, createServer } from "node:net";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { createKafka } from "../kafka/client.ts";
import {
  ensureStack,
  kafkaIsRunning,
  type Stack,
  startKafka,
  startPostgres,
  stopKafka,
} from "../stack/index.ts";
import { createServedTopic } from "./kafkaTopics.ts";
import { workerLane } from "./workerLane.ts";

let stack: Stack;

beforeAll(async () => {
  // Honours DATABASE_URL / KAFKA_BROKERS like every other entry point; first run may fetch the Kafka jars.
  stack = await ensureStack(
    {
      DATABASE_URL: process.env.DATABASE_URL,
      KAFKA_BROKERS: process.env.KAFKA_BROKERS?.split(",").filter(Boolean),
    },
    () => {},
  );
}, 300_000);

async function createAndListTopic(brokers: string[]): Promise<string[]> {
  const admin = createKafka({ brokers, clientId: "stack-test" }).admin();
  const topic = `stack-test-${randomUUID()}`;
  await admin.connect();
  try {
    expect(await createServedTopic(admin, topic, 1)).toBe(true);
    const topics = await admin.listTopics();
    await admin.deleteTopics({ topics: [topic] });
    return topics.filter((name) => name === topic);
  } finally {
    await admin.disconnect();
  }
}

describe("the local stack", () => {
  it("serves Postgres with wal_level=logical", async () => {
    const client = new pg.Client({ connectionString: stack.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query("SHOW wal_level");
      expect(rows[0].wal_level).toBe("logical");
    } finally {
      await client.end();
    }
  });

  it("serves a Kafka broker that creates and lists topics", async () => {
    expect(await createAndListTopic(stack.kafkaBrokers)).toHaveLength(1);
  });

  it("reuses running services instead of starting them twice", async ({ skip }) => {
    if (process.env.DATABASE_URL || process.env.KAFKA_BROKERS) skip("services come from the environment");
    const [postgres, kafka] = await Promise.all([startPostgres(), startKafka()]);
    expect(postgres).toEqual({ databaseUrl: stack.databaseUrl, startedByUs: false });
    expect(kafka).toEqual({ brokers: stack.kafkaBrokers, startedByUs: false });
  });

  it("refuses to start a broker whose controller port is taken, naming it, before any JVM starts", async () => {
    // Two free ports in a row: the client port stays free, the controller's (client + 1) is taken here.
    const taken = createServer();
    let basePort = 0;
    for (;;) {
      await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
      basePort = (taken.address() as AddressInfo).port - 1;
      const free = await new Promise<boolean>((resolve) => {
        const probe = createServer().once("error", () => resolve(false));
        probe.listen(basePort, "127.0.0.1", () => probe.close(() => resolve(true)));
      });
      if (free) break;
      await new Promise((resolve) => taken.close(resolve));
    }
    try {
      await expect(startKafka(() => {}, { basePort, brokerCount: 1 })).rejects.toThrow(
        `127.0.0.1:${basePort + 1}, node 0's controller port (its client port + 1), is taken by another process: stop it, or set KAFKA_PORT to free ports`,
      );
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it("logs the local Postgres's URL with its password masked", async ({ skip }) => {
    if (process.env.DATABASE_URL) skip("Postgres comes from the environment");
    const lines: string[] = [];
    const again = await ensureStack({ KAFKA_BROKERS: stack.kafkaBrokers }, (line) => lines.push(line));
    const password = new URL(again.databaseUrl).password;
    const logged = lines.find((line) => line.startsWith("postgres: "));
    expect(logged).toContain(":***@");
    expect(password === "" || !logged?.includes(`:${password}@`)).toBe(true);
  });

  it("stops and starts Kafka again on the same storage", async ({ skip }) => {
    if (!workerLane().localKafka) skip("the broker is not one this checkout started, so not ours to stop");
    await stopKafka();
    expect(await kafkaIsRunning()).toBe(false);
    await stopKafka(); // a no-op when stopped

    const restarted = await startKafka();
    expect(restarted.startedByUs).toBe(true);
    expect(await createAndListTopic(restarted.brokers)).toHaveLength(1);
  });
});
