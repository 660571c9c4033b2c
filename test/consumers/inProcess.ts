// Starts a consumer in the test process, as an isolated copy: its own group and inbox name, starting at the
// current end of its topics, with short timings so that retries and shutdowns take moments, not seconds.
import { randomUUID } from "node:crypto";
import { Registry } from "prom-client";
import { afterAll, beforeAll } from "vitest";
import type { ConsumerDefinition } from "../../consumers/runtime/consumerDefinition.ts";
import { deadLetterAfterAttempts } from "../../consumers/runtime/deadLetterPolicy.ts";
import { EventConsumer, type EventConsumerOptions } from "../../consumers/runtime/eventConsumer.ts";
import type { Database } from "../../db/client.ts";
import { PatientKeyring } from "../../db/patientKeys.ts";
import { createLogger } from "../../observability/logger.ts";
import { exponentialBackoff } from "../../retry/backoff.ts";
import { kafkaBrokers, testDatabase, testMasterKeys } from "../fixtures.ts";
import { createEffectsTable, type EffectBehaviour, effectConsumer, uniqueConsumerName } from "./effects.ts";
import { startGroupAtEnd } from "./records.ts";

export const quickRetries = deadLetterAfterAttempts({
  maxAttempts: 3,
  backoff: exponentialBackoff({ baseMs: 100, capMs: 400, floorMs: 50 }),
  // All test files share one database and one broker: a consumer also reads other tests' records, and one
  // whose prerequisite never comes (a booking of a patient that no running directory saw created) would hold
  // its partition, and the records behind it, for the production default's two minutes.
  prerequisiteWaitMs: 10_000,
});

export interface StartedConsumer {
  consumer: EventConsumer;
  registry: Registry;
  name: string;
  stop(): Promise<void>;
}

/** `restart`: the group (`name`) resumes where it committed, as a consumer restarted, rather than at the end. */
export async function startTestConsumer(
  definition: ConsumerDefinition,
  options: {
    db: Database;
    kafkaBrokers: string[];
    name?: string;
    restart?: boolean;
  } & Partial<EventConsumerOptions>,
): Promise<StartedConsumer> {
  const { restart = false, ...consumerOptions } = options;
  const name = options.name ?? `${definition.name}-test-${randomUUID().slice(0, 8)}`;
  if (!restart) await startGroupAtEnd(options.kafkaBrokers, name, definition.topics);
  const registry = new Registry();
  const consumer = new EventConsumer({
    log: createLogger({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
    deadLetterPolicy: quickRetries,
    fetchWaitMs: 100,
    sessionTimeoutMs: 6_000,
    keys: new PatientKeyring(options.db, testMasterKeys),
    ...consumerOptions,
    definition,
    name,
    registry,
  });
  await consumer.start();
  await consumer.ready;
  return { consumer, registry, name, stop: () => consumer.stop() };
}

/**
 * The database of a test file whose consumers write effects (effects.ts): the effects table is made before its
 * tests, and the pool is ended after them.
 */
export function useEffectsDatabase(): Database {
  const db = testDatabase();
  beforeAll(() => createEffectsTable(db));
  afterAll(() => db.$client.end());
  return db;
}

/**
 * An effect consumer of patient-events (effects.ts) named `${prefix}-<random>`, started as startTestConsumer
 * starts one. `options` say how its handler fares (`fail`, `delayMs`) and what else the runtime is given.
 */
export function startEffectConsumer(
  db: Database,
  prefix: string,
  options: EffectBehaviour & Partial<Pick<EventConsumerOptions, "keys" | "deadLetterPolicy">> = {},
): Promise<StartedConsumer> {
  const { fail, delayMs, ...consumerOptions } = options;
  const definition = effectConsumer(uniqueConsumerName(prefix), ["patient-events"], { fail, delayMs });
  return startTestConsumer(definition, {
    db,
    kafkaBrokers: kafkaBrokers(),
    name: definition.name,
    ...consumerOptions,
  });
}
