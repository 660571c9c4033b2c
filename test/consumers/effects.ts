// A test consumer whose effect is a row per handled event in a scratch table with no unique key: a second
// effect of one event shows up as a second row. Handlers can be made to fail on purpose, per event id.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { sql } from "drizzle-orm";
import type { TransactionalConsumer } from "../../consumers/runtime/consumerDefinition.ts";
import type { Database } from "../../db/client.ts";
import type { TopicName } from "../../events/index.ts";

export async function createEffectsTable(db: Database): Promise<void> {
  await db.$client.query(`
    CREATE TABLE IF NOT EXISTS consumer_test_effects (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      consumer text NOT NULL,
      event_id uuid NOT NULL,
      event_type text NOT NULL,
      kafka_partition int NOT NULL,
      kafka_offset bigint NOT NULL,
      record_key text,
      tx_id xid8 NOT NULL DEFAULT pg_current_xact_id()
    );
    -- A database kept from before the column was added.
    ALTER TABLE consumer_test_effects ADD COLUMN IF NOT EXISTS tx_id xid8 NOT NULL DEFAULT pg_current_xact_id()`);
}

export interface Effect {
  eventId: string;
  partition: number;
  offset: number;
  key: string | null;
  /** The transaction that wrote the effect. */
  txId: string;
}

/** The effects of consumer `name`, in the order they were committed. */
export async function effectsOf(db: Database, name: string): Promise<Effect[]> {
  const result = await db.$client.query<{
    event_id: string;
    kafka_partition: number;
    kafka_offset: string;
    record_key: string | null;
    tx_id: string;
  }>(
    "SELECT event_id, kafka_partition, kafka_offset, record_key, tx_id::text FROM consumer_test_effects WHERE consumer = $1 ORDER BY seq",
    [name],
  );
  return result.rows.map((row) => ({
    eventId: row.event_id,
    partition: row.kafka_partition,
    offset: Number(row.kafka_offset),
    key: row.record_key,
    txId: row.tx_id,
  }));
}

/** How each handled event fares: `fail(eventId, attempt)` throwing makes that attempt fail. */
export interface EffectBehaviour {
  fail?: (eventId: string, attempt: number) => Error | null;
  /** How long the handler takes for this event, in ms (none by default). */
  delayMs?: (eventId: string) => number;
}

/** `${prefix}-<random>`: each test's consumer has its own group, inbox and effects. */
export function uniqueConsumerName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** A consumer of patient.created whose effect is a row in consumer_test_effects. */
export function effectConsumer(
  name: string,
  topics: readonly TopicName[] = ["patient-events"],
  behaviour: EffectBehaviour = {},
): TransactionalConsumer {
  const attempts = new Map<string, number>();
  return {
    kind: "transactional",
    name,
    topics,
    handlers: {
      "patient.created": async (event, { tx, record }) => {
        const attempt = (attempts.get(event.eventId) ?? 0) + 1;
        attempts.set(event.eventId, attempt);
        await tx.execute(sql`
          INSERT INTO consumer_test_effects (consumer, event_id, event_type, kafka_partition, kafka_offset, record_key)
          VALUES (${name}, ${event.eventId}, ${event.eventType}, ${record.partition}, ${record.offset},
                  ${event.data.patientId})`);
        const delay = behaviour.delayMs?.(event.eventId) ?? 0;
        if (delay > 0) await sleep(delay);
        const failure = behaviour.fail?.(event.eventId, attempt);
        if (failure) throw failure;
      },
    },
  };
}
