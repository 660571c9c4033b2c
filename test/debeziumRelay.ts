// Test support for the Debezium relay: a Connect worker and the connector on the test database for the
// length of a test file, a reader that returns records exactly as the broker holds them, and the connector's
// task killed by a record Kafka refuses.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { type Database, writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { readRelayMode } from "../db/outbox/relayMode.ts";
import { ensureConnectWorker } from "../debezium/connector.ts";
import { type ConnectorOptions, type DebeziumTarget, debeziumTarget } from "../debezium/connectorConfig.ts";
import type { ConnectClient } from "../debezium/connectRest.ts";
import { slotState } from "../debezium/sql/replicationSlot.ts";
import { isTopicName, topics } from "../events/index.ts";
import { type DebeziumHandover, switchToDebezium, switchToPolling } from "../handover/switch.ts";
import { createKafka } from "../kafka/client.ts";
import { localConnectUrl, ownConnectPid, stopConnect } from "../stack/connect.ts";
import {
  appendOne,
  conditionsUpdate,
  databaseUrl,
  kafkaBrokers,
  patientCreated,
  testEventContext,
} from "./fixtures.ts";
import { seekUnlessRestarting, type TappedRecord, topicOffsets } from "./kafkaTap.ts";

export interface ConnectUnderTest {
  connect: ConnectClient;
  /**
   * True when the worker is the one this checkout started and it serves the port: the only one a test may
   * kill and restart. Another checkout's worker on the same port, or KAFKA_CONNECT_URL's, is never killed.
   */
  localWorker: boolean;
}

/**
 * A Connect worker for the file's tests: KAFKA_CONNECT_URL's, or the project's own, started unless it runs
 * (and stopped again after the file when this file started it).
 */
export function useConnectWorker(): () => ConnectUnderTest {
  let current: ConnectUnderTest | undefined;
  let startedByUs = false;
  beforeAll(async () => {
    const worker = await ensureConnectWorker(kafkaBrokers(), () => {});
    startedByUs = worker.startedByUs;
    const localWorker = worker.connect.url === localConnectUrl() && (await ownConnectPid()) !== undefined;
    current = { connect: worker.connect, localWorker };
  }, 180_000);
  afterAll(async () => {
    // A test that failed half way may leave Debezium the relay of the lane's database, or its connector or slot
    // behind: the next file of the lane expects the polling relay, with neither.
    if (current) await leaveToPolling(current.connect);
    if (startedByUs) await stopConnect();
  }, 120_000);
  return () => {
    if (!current) throw new Error("useConnectWorker's beforeAll has not run");
    return current;
  };
}

/** switchToPolling, when the test database is not left in polling mode without Debezium's connector and slot. */
async function leaveToPolling(connect: ConnectClient): Promise<void> {
  const target = debeziumTarget(databaseUrl());
  const client = new pg.Client({ connectionString: databaseUrl() });
  await client.connect();
  try {
    const clean =
      (await readRelayMode(client)).mode === "polling" &&
      (await slotState(client, target.slotName)) === undefined &&
      !(await connect.connectors()).includes(target.connectorName);
    if (clean) return;
  } finally {
    await client.end();
  }
  await switchToPolling({ databaseUrl: databaseUrl(), connect, log: () => {} });
}

export interface DebeziumUnderTest extends ConnectUnderTest {
  target: DebeziumTarget;
  handover: DebeziumHandover;
}

/**
 * Makes Debezium the relay of the test database for the file's tests (handover/switch.ts, from whatever the
 * polling relay left), and hands back to the polling relay after them, so the next file finds the polling
 * cursor where Debezium stopped.
 */
export function useDebeziumRelay(options: ConnectorOptions = {}): () => DebeziumUnderTest {
  const worker = useConnectWorker();
  let current: DebeziumUnderTest | undefined;
  beforeAll(async () => {
    const handover = await switchToDebezium({
      databaseUrl: databaseUrl(),
      kafkaBrokers: kafkaBrokers(),
      connect: worker().connect,
      log: () => {},
      connectorOptions: options,
      fenceTimeoutMs: 30_000,
    });
    current = { ...worker(), target: debeziumTarget(databaseUrl()), handover };
  }, 180_000);
  afterAll(async () => {
    if (current)
      await switchToPolling({ databaseUrl: databaseUrl(), connect: current.connect, log: () => {} });
  }, 120_000);
  return () => {
    if (!current) throw new Error("useDebeziumRelay's beforeAll has not run");
    return current;
  };
}

/** A record as the broker holds it: raw value bytes, and headers with null values kept apart from absent ones. */
export interface RawRecord {
  topic: string;
  partition: number;
  offset: bigint;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string | null>;
  /** The envelope's eventId (undefined when the value is not an envelope). */
  eventId: string | undefined;
}

export interface RecordReader {
  /** Reads until `done` holds (or `timeoutMs` passes), then `settleMs` longer to catch stragglers. */
  readUntil(
    done: (records: RawRecord[]) => boolean,
    options?: { timeoutMs?: number; settleMs?: number },
  ): Promise<RawRecord[]>;
}

/**
 * The topics a relay publishes to: the catalog's event topics. Not their dead-letter topics: no relay writes
 * there, but other runs' consumers on a shared broker park copies of this run's records there (records they
 * cannot open), with the same key, event id and partition number; read as deliveries, such a copy would count
 * as a record delivered and, sorted by its offset in another log, would stand first in its key's order.
 */
export const relayedTopics: readonly string[] = topics
  .map((topic) => topic.name)
  .filter((name) => isTopicName(name));

/**
 * Remembers the end offsets of the topics a relay publishes to (relayedTopics) now; `readUntil` then reads
 * what was written there after this point, with read_committed isolation (a consumer sees what a real one
 * would).
 */
export async function recordsFromNow(): Promise<RecordReader> {
  const kafka = createKafka({ brokers: kafkaBrokers(), clientId: "debezium-test-reader" });
  const admin = kafka.admin();
  await admin.connect();
  const start = new Map<string, Array<{ partition: number; offset: string }>>();
  try {
    for (const topic of relayedTopics) start.set(topic, await topicOffsets(admin, topic));
  } finally {
    await admin.disconnect();
  }
  return {
    async readUntil(done, { timeoutMs = 60_000, settleMs = 1_000 } = {}) {
      const consumer = kafka.consumer({ groupId: `debezium-test-${randomUUID()}`, maxWaitTimeInMs: 100 });
      await consumer.connect();
      const records: RawRecord[] = [];
      try {
        for (const topic of start.keys()) await consumer.subscribe({ topic, fromBeginning: true });
        // The next offset wanted per partition, so that a consumer kafkajs restarts after a crash (a broker or
        // coordinator moving) and that reads again from the beginning counts nothing twice.
        const next = new Map(
          [...start].flatMap(([topic, offsets]) =>
            offsets.map(({ partition, offset }): [string, bigint] => [
              `${topic}/${partition}`,
              BigInt(offset),
            ]),
          ),
        );
        await consumer.run({
          eachMessage: async ({ topic, partition, message }) => {
            const position = `${topic}/${partition}`;
            if (BigInt(message.offset) < (next.get(position) ?? 0n)) return;
            next.set(position, BigInt(message.offset) + 1n);
            const value = message.value ?? null;
            let eventId: string | undefined;
            try {
              eventId = value ? (JSON.parse(value.toString()) as { eventId?: string }).eventId : undefined;
            } catch {
              eventId = undefined;
            }
            records.push({
              topic,
              partition,
              offset: BigInt(message.offset),
              key: message.key?.toString() ?? null,
              value,
              headers: Object.fromEntries(
                Object.entries(message.headers ?? {}).map(([name, header]) => [
                  name,
                  header === null || header === undefined ? null : header.toString(),
                ]),
              ),
              eventId,
            });
          },
        });
        for (const [topic, offsets] of start) {
          for (const { partition, offset } of offsets)
            seekUnlessRestarting(consumer, { topic, partition, offset });
        }
        const deadline = Date.now() + timeoutMs;
        while (!done(records) && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 100));
        await new Promise((resolve) => setTimeout(resolve, settleMs));
        return [...records];
      } finally {
        await consumer.disconnect();
      }
    },
  };
}

/** `done` for readUntil: every one of `eventIds` has arrived at least `times` times. */
export function deliveredAtLeast(eventIds: Iterable<string>, times = 1): (records: RawRecord[]) => boolean {
  const wanted = new Set(eventIds);
  const counts = new Map<string, number>();
  let checked = 0;
  let satisfied = 0;
  return (records) => {
    for (; checked < records.length; checked++) {
      const id = records[checked]?.eventId;
      if (id === undefined || !wanted.has(id)) continue;
      const count = (counts.get(id) ?? 0) + 1;
      counts.set(id, count);
      if (count === times) satisfied++;
    }
    return satisfied === wanted.size;
  };
}

/** The shape test/kafkaAssertions.ts checks (delivery counts, per-key order). */
export function asTapped(records: RawRecord[]): TappedRecord[] {
  return records.map((record) => ({
    eventId: record.eventId ?? "",
    topic: record.topic,
    partition: record.partition,
    offset: record.offset.toString(),
    key: record.key,
    value: record.value?.toString() ?? null,
    headers: Object.fromEntries(Object.entries(record.headers).map(([name, value]) => [name, String(value)])),
  }));
}

/**
 * Makes the connector's producer refuse any record above 4 KiB (producer.override.max.request.size) before sending
 * it, as with the connector's own setting it refuses one above the topics' max.message.bytes: the same path, with
 * an event the write path accepts (so nothing unpublishable is left once the setting is back). Resolves once the
 * task runs with it, to what puts the connector's config back as it was.
 *
 * The connector is stopped (no task left) before its config changes and resumed after: Connect restarts a
 * running task with a new config some time after the PUT has answered, and until then the old task says RUNNING
 * and sends with the old limit; on a busy machine it sent the record meant to be refused.
 */
export async function refuseRecordsAbove4KiB(
  connect: ConnectClient,
  connectorName: string,
): Promise<() => Promise<void>> {
  const config = await connect.config(connectorName);
  if (!config) throw new Error(`connector ${connectorName} has no config to lower max.request.size in`);
  await connect.stop(connectorName);
  await connect.waitUntilStopped(connectorName);
  await connect.putConnectorConfig(connectorName, {
    ...config,
    "producer.override.max.request.size": "4096",
  });
  await connect.resume(connectorName);
  await connect.waitUntilRunning(connectorName);
  return async () => {
    await connect.putConnectorConfig(connectorName, config);
    await connect.waitUntilRunning(connectorName);
  };
}

export interface RefusedRecord {
  /** Reads from before `created` was written. */
  reader: RecordReader;
  patientId: string;
  /** The patient's patient.created, delivered before `refused` was written. */
  created: string;
  /** With `{ companion: true }`: a patient.updated under 4 KiB, written first in `refused`'s transaction. */
  companion?: string;
  /** Its patient.updated above 4 KiB, which kills a task under refuseRecordsAbove4KiB. */
  refused: string;
}

/**
 * Writes, under refuseRecordsAbove4KiB, the event whose record kills the connector's task: a new patient's
 * patient.created, and once Kafka has it, a patient.updated above 4 KiB. Alone in its Kafka transaction, the
 * refused record leaves the task's producer 30 s to close, and Connect says RUNNING all along. With
 * `{ companion: true }` a smaller patient.updated comes first in the same database transaction, so in the same
 * Kafka transaction: the task is reported FAILED at once.
 */
export async function writeRefusedRecord(
  db: Database,
  { companion = false }: { companion?: boolean } = {},
): Promise<RefusedRecord> {
  const reader = await recordsFromNow();
  const patientId = randomUUID();
  const created = await appendOne(db, patientCreated(patientId));
  await reader.readUntil(deliveredAtLeast([created]), { settleMs: 0 });
  const tooLarge = conditionsUpdate(patientId, 40);
  if (!companion) {
    return { reader, patientId, created, refused: await appendOne(db, tooLarge) };
  }
  const [first, second] = await writeTransaction(db, (tx) =>
    appendEvents(tx, testEventContext(), [conditionsUpdate(patientId, 1, "companion "), tooLarge]),
  );
  return { reader, patientId, created, companion: first?.eventId, refused: second?.eventId as string };
}
