// Shared test fixtures: valid patients, event contexts, and the project's own parts started in-process.
import { randomBytes, randomInt, randomUUID } from "node:crypto";
import { context } from "@opentelemetry/api";
import { Registry } from "prom-client";
import { insertPatient } from "../apps/patient/store.ts";
import { createDatabase, type Database, writeTransaction } from "../db/client.ts";
import { appendEvents, type EventContext } from "../db/outbox/appendEvents.ts";
import { PatientErased, PatientKeyring } from "../db/patientKeys.ts";
import type { TypedEnvelope } from "../events/index.ts";
import { contextFromHeaders } from "../events/tracing.ts";
import { createLogger } from "../observability/logger.ts";
import { decryptEvent } from "../phi/decryptEvent.ts";
import { loadMasterKeys, type MasterKeys, parseMasterKeys } from "../phi/masterKeys.ts";
import { OutboxRelay, type RelayOptions } from "../relay/relay.ts";
import { workerLane } from "./workerLane.ts";

/** The lane's (test/lanes.ts) test database and broker. */
export const databaseUrl = () => workerLane().databaseUrl;
export const kafkaBrokers = () => workerLane().kafkaBrokers;

export function testDatabase(): Database {
  return createDatabase(databaseUrl(), { max: 25, applicationName: "tests" });
}

export const silentLog = createLogger({ level: "silent" });

/** The log of the relays tests start: silent unless TEST_RELAY_LOG_LEVEL names a pino level (`info`, `debug`). */
const relayLog = createLogger({ level: process.env.TEST_RELAY_LOG_LEVEL ?? "silent" });

/** The master keys of the test run: those of PHI_MASTER_KEYS, or the development key, as the processes it starts. */
export const testMasterKeys = loadMasterKeys();

/**
 * An operator's rotation of the test master keys to a new random key `newId`: the keys it configures (the new one
 * wrapping, the old ones kept to unwrap), the new key alone, and the keys that put every data key back under the
 * test run's current key, which the other tests of the run unwrap with.
 */
export function masterKeyRotation(newId: string): {
  rotated: MasterKeys;
  onlyNew: MasterKeys;
  restored: MasterKeys;
} {
  const rotated = parseMasterKeys(
    [
      `${newId}:${randomBytes(32).toString("base64")}`,
      ...[...testMasterKeys.keys].map(([id, key]) => `${id}:${key.toString("base64")}`),
    ].join(","),
  );
  return {
    rotated,
    onlyNew: { currentId: newId, keys: new Map([[newId, rotated.keys.get(newId) as Buffer]]) },
    restored: {
      currentId: testMasterKeys.currentId,
      keys: new Map([...testMasterKeys.keys, ...rotated.keys]),
    },
  };
}

/**
 * An envelope (a record value or an outbox payload, as text) read as a consumer with access reads it: its
 * personal fields opened with the patient's key, through the one library function consumers use.
 */
export async function decrypted(db: Database, value: string | null | undefined): Promise<TypedEnvelope> {
  return decryptEvent(JSON.parse(value ?? ""), new PatientKeyring(db, testMasterKeys));
}

/**
 * decrypted, or the envelope as stored when its patient is erased: nothing of theirs opens any more, and what is
 * sealed holds nothing a check of ids or instants could read (an erasure's own appointment.cancelled, sealed
 * under the key it destroys).
 */
export async function openedUnlessErased(db: Database, value: string): Promise<TypedEnvelope> {
  try {
    return await decrypted(db, value);
  } catch (error) {
    if (error instanceof PatientErased) return JSON.parse(value) as TypedEnvelope;
    throw error;
  }
}

/** The body of a valid POST /patients; each call is a different person. */
export function newPatientBody(overrides: Record<string, unknown> = {}) {
  // Unique across a run's thousands of patients in one database: a million values met a birthday collision
  // (a registration refused as a duplicate e-mail, a lookup by e-mail finding another test's patient).
  const n = randomInt(2 ** 47);
  return {
    firstName: "Ada",
    lastName: `Lovelace-${n}`,
    dateOfBirth: "1985-12-10",
    email: `ada.${n}@example.org`,
    phone: "+14155552671",
    insuranceInfo: {
      provider: "Acme Health",
      policyNumber: `POL-${n}`,
      effectiveDate: "2024-01-01",
      expiryDate: "2026-12-31",
    },
    medicalConditions: ["asthma"],
    allergies: ["penicillin"],
    ...overrides,
  };
}

/** The data of a patient.created event for a new patient id. */
export function patientCreated(patientId: string = randomUUID()) {
  const { insuranceInfo, ...rest } = newPatientBody();
  return { type: "patient.created" as const, data: { patientId, userId: null, ...rest, insuranceInfo } };
}

/**
 * A patient.updated whose conditions hold `count` texts of 200 characters: about 270 bytes per condition once
 * sealed, so 300 make an event of about 80 KB (from a 60 KB PATCH body), and 2,500 one above MAX_EVENT_BYTES.
 */
export function conditionsUpdate(patientId: string, count: number, tag = "") {
  const medicalConditions = Array.from({ length: count }, (_, i) => `${tag}${i} `.padEnd(200, "c"));
  return {
    type: "patient.updated" as const,
    data: { patientId, changedFields: ["medicalConditions" as const], changes: { medicalConditions } },
  };
}

export function testEventContext(overrides: Partial<EventContext> = {}): EventContext {
  return {
    masterKeys: testMasterKeys,
    source: "test-suite",
    metadata: {
      correlationId: randomUUID(),
      userId: null,
      ipAddress: null,
      userAgent: "vitest",
      sessionId: null,
    },
    ...overrides,
  };
}

/** One event appended in a transaction of its own: its event id. */
export async function appendOne(
  db: Database,
  event: Parameters<typeof appendEvents>[2][number],
): Promise<string> {
  const [appended] = await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [event]));
  return appended?.eventId as string;
}

/** `count` new patients written in one transaction, each with its patient.created event: the events' ids. */
export async function createPatients(db: Database, count: number): Promise<string[]> {
  return writeTransaction(db, async (tx) => {
    const eventIds: string[] = [];
    for (let i = 0; i < count; i++) {
      const created = patientCreated();
      await insertPatient(tx, { id: created.data.patientId, ...created.data });
      const [event] = await appendEvents(tx, testEventContext(), [created]);
      eventIds.push(event?.eventId as string);
    }
    return eventIds;
  });
}

/**
 * Runs `work` as the handler of a request (or record) that carried these W3C trace headers: their context is
 * the active one, as the HTTP and consumer spans make it (the integration tests install the context manager).
 */
export function traced<T>(
  headers: { traceparent?: string | null; tracestate?: string | null },
  work: () => Promise<T>,
): Promise<T> {
  return context.with(contextFromHeaders(headers), work);
}

/** A relay in this process, on the shared stream (so tests never publish an event twice on purpose). */
export function startRelay(overrides: Partial<RelayOptions> = {}): OutboxRelay {
  const relay = new OutboxRelay({
    databaseUrl: databaseUrl(),
    kafkaBrokers: kafkaBrokers(),
    log: relayLog,
    registry: new Registry(),
    idlePollMs: 50,
    standbyRetryMs: 200,
    ...overrides,
  });
  relay.start();
  return relay;
}

export async function eventually<T>(
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
