// A backlog bigger than Kafka takes in one request for one partition (a patient's large updates piled up
// behind an outage): the relay cuts it into sends under the topic's max.message.bytes, all in the batch's one
// transaction, and delivers it all.
import { randomUUID } from "node:crypto";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import type { OutboxRecord } from "../db/outbox/pendingOutboxBatch.ts";
import { TOPIC_MAX_MESSAGE_BYTES } from "../events/record.ts";
import {
  conditionsUpdate,
  eventually,
  kafkaBrokers,
  patientCreated,
  startRelay,
  testDatabase,
  testEventContext,
} from "../test/fixtures.ts";
import { expectExactlyOnce, expectPerKeyOrder } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

describe("a backlog above max.message.bytes for one partition", () => {
  it("is published in several sends, in order, and the checkpoint moves past it", async () => {
    const patientId = randomUUID();
    const written: string[] = [];
    const [created] = await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [patientCreated(patientId)]),
    );
    written.push(created?.eventId as string);
    for (let n = 0; n < 16; n++) {
      const [updated] = await writeTransaction(db, (tx) =>
        appendEvents(tx, testEventContext(), [conditionsUpdate(patientId, 300, `${n}-`)]),
      );
      written.push(updated?.eventId as string);
    }
    const { rows: sizes } = await db.$client.query<{ bytes: number }>(
      "SELECT sum(octet_length(payload::text))::int AS bytes FROM outbox WHERE event_id = ANY($1::uuid[])",
      [written],
    );
    // Before the relay batched by bytes, this one partition's batch was refused (MESSAGE_TOO_LARGE) for ever.
    expect(sizes[0]?.bytes).toBeGreaterThan(TOPIC_MAX_MESSAGE_BYTES);

    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const registry = new Registry();
    const batches: OutboxRecord[][] = [];
    const relay = startRelay({ registry, onPublished: (rows) => batches.push([...rows]) });
    const records = await tap.collect({ done: containsAll(written), timeoutMs: 60_000 });
    const { rows: last } = await db.$client.query<{ txId: string; position: string }>(
      `SELECT tx_id::text AS "txId", position::text AS "position" FROM outbox WHERE event_id = $1`,
      [written.at(-1)],
    );
    await eventually(async () => {
      const { rows } = await db.$client.query<{ done: boolean }>(
        "SELECT (tx_id, position) >= ($1::xid8, $2::bigint) AS done FROM relay_checkpoints WHERE name = 'outbox'",
        [last[0]?.txId, last[0]?.position],
      );
      return rows[0]?.done;
    });
    await relay.stop();

    const ours = records.filter((record) => written.includes(record.eventId));
    expectExactlyOnce(ours, written);
    expectPerKeyOrder(ours, new Map([[patientId, written]]));
    // The backlog went out as one batch (one transaction) larger than one request may be: in one send it
    // would have been refused as too large, and no send was refused.
    const batchBytes = batches
      .filter((rows) => rows.some((row) => written.includes(row.eventId)))
      .map((rows) => rows.reduce((sum, row) => sum + Buffer.byteLength(row.value), 0));
    expect(Math.max(...batchBytes)).toBeGreaterThan(TOPIC_MAX_MESSAGE_BYTES);
    const errors = await registry.getSingleMetric("outbox_relay_publish_errors_total")?.get();
    expect(errors?.values.reduce((sum, value) => sum + value.value, 0) ?? 0).toBe(0);
  });
});
