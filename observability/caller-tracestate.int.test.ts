// A caller's tracestate is text it chooses, and the outbox row and every Kafka record of the events it causes
// would keep it for good, out of reach of a patient's erasure. So only the members whose keys TRACESTATE_KEYS
// names are stored, none when it is unset, and nothing of a malformed one; the caller's traceparent is
// continued all the same. A consumer keeps of a record's tracestate no more than that either (a record of an
// event stored before, or forged): the events its handler appends store only the allowed members.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { loadEnv } from "../config/env.ts";
import { contextCausedBy } from "../consumers/runtime/causedContext.ts";
import type { ConsumerDefinition } from "../consumers/runtime/consumerDefinition.ts";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { startTestConsumer } from "../test/consumers/inProcess.ts";
import {
  conditionsUpdate,
  eventually,
  kafkaBrokers,
  patientCreated,
  startRelay,
  testDatabase,
  testEventContext,
  testMasterKeys,
  traced,
} from "../test/fixtures.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import { requestBodies } from "../test/serviceRequests.ts";
import { caller, testPlatform } from "../test/tokens.ts";

const db = testDatabase();
const relay = startRelay();

afterAll(async () => {
  await relay.stop();
  await db.$client.end();
});

const CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const traceparent = `00-${CALLER_TRACE}-00f067aa0ba902b7-01`;

/** What an outbox row holds of its writer's trace context. */
interface StoredTrace {
  eventId: string;
  traceparent: string | null;
  tracestate: string | null;
}

/** Registers a patient through the API with these headers; the outbox row of its patient.created. */
async function createPatient(
  app: ReturnType<typeof testPlatform>,
  headers: Record<string, string>,
): Promise<StoredTrace> {
  const admin = await caller("admin");
  const response = await app.request("/patients", {
    method: "POST",
    headers: admin.headers({ "Content-Type": "application/json", ...headers }),
    body: JSON.stringify(requestBodies.patient()),
  });
  expect(response.status).toBe(201);
  const { id } = (await response.json()) as { id: string };
  const { rows } = await db.$client.query<StoredTrace>(
    `SELECT event_id::text AS "eventId", traceparent, tracestate FROM outbox
      WHERE event_type = 'patient.created' AND aggregate_id = $1`,
    [id],
  );
  expect(rows).toHaveLength(1);
  return rows[0] as StoredTrace;
}

describe("a caller's tracestate", () => {
  it("is not stored, nor sent in the record's headers, while TRACESTATE_KEYS is unset", async () => {
    const app = testPlatform(db, { tracestateKeys: loadEnv({}).TRACESTATE_KEYS });
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const row = await createPatient(app, {
      traceparent,
      tracestate: "congo=t61rcWkgMzE,patient=ada-lovelace-1985-12-10",
    });

    // The trace goes on; the tracestate stays out of the history.
    expect(row.traceparent).toMatch(new RegExp(`^00-${CALLER_TRACE}-[0-9a-f]{16}-01$`));
    expect(row.tracestate).toBeNull();
    const records = await tap.collect({ done: containsAll([row.eventId]) });
    const record = records.find((tapped) => tapped.eventId === row.eventId);
    expect(record?.headers.traceparent).toBe(row.traceparent);
    expect(record?.headers).not.toHaveProperty("tracestate");
  });

  it("keeps only the members TRACESTATE_KEYS names, in their order", async () => {
    const app = testPlatform(db, {
      tracestateKeys: loadEnv({ TRACESTATE_KEYS: "congo,t61@dt" }).TRACESTATE_KEYS,
    });
    const row = await createPatient(app, {
      traceparent,
      tracestate: "rojo=00f067aa0ba902b7, t61@dt=dt-value,patient=ada-lovelace,congo=t61rcWkgMzE",
    });
    expect(row.traceparent).toMatch(new RegExp(`^00-${CALLER_TRACE}-`));
    expect(row.tracestate).toBe("t61@dt=dt-value,congo=t61rcWkgMzE");
  });

  it("is not stored at all when it is malformed, its allowed members included", async () => {
    const app = testPlatform(db, { tracestateKeys: loadEnv({ TRACESTATE_KEYS: "congo" }).TRACESTATE_KEYS });
    for (const tracestate of [
      "congo=t61rcWkgMzE,Ada Lovelace born 1985-12-10",
      "congo=t61rcWkgMzE,congo=ada",
      `congo=t61rcWkgMzE,${Array.from({ length: 32 }, (_, i) => `k${i}=${i}`).join(",")}`,
    ]) {
      const row = await createPatient(app, { traceparent, tracestate });
      expect(row.traceparent, tracestate).toMatch(new RegExp(`^00-${CALLER_TRACE}-`));
      expect(row.tracestate, tracestate).toBeNull();
    }
  });
});

describe("a record's tracestate", () => {
  it("reaches the events a consumer appends with only the members TRACESTATE_KEYS names", async () => {
    // A consumer that records, for each patient created under this correlation id, a change of their conditions.
    const correlationId = randomUUID();
    const follower: ConsumerDefinition = {
      name: "tracestate-follower",
      kind: "transactional",
      topics: ["patient-events"],
      handlers: {
        "patient.created": async (event, { tx, record }) => {
          if (event.metadata.correlationId !== correlationId) return;
          await appendEvents(tx, contextCausedBy("tracestate-test", { event, record }, testMasterKeys), [
            conditionsUpdate(event.data.patientId, 1),
          ]);
        },
      },
    };
    const consumer = await startTestConsumer(follower, {
      db,
      kafkaBrokers: kafkaBrokers(),
      tracestateKeys: new Set(["congo"]),
    });
    try {
      // A row holding members the API would not store now, as one written before the rule: appendEvents
      // stores the active context as it is.
      const created = patientCreated();
      const context = testEventContext();
      await traced({ traceparent, tracestate: "congo=t61rcWkgMzE,patient=ada-lovelace" }, () =>
        writeTransaction(db, (tx) =>
          appendEvents(tx, { ...context, metadata: { ...context.metadata, correlationId } }, [created]),
        ),
      );
      // The consumer reads whatever else the shared broker's patient-events took first (other checkouts'
      // records, which it refuses one by one as not committed here): a busy machine may take a while.
      const caused = await eventually(async () => {
        const { rows } = await db.$client.query<StoredTrace>(
          `SELECT event_id::text AS "eventId", traceparent, tracestate FROM outbox
            WHERE event_type = 'patient.updated' AND aggregate_id = $1`,
          [created.data.patientId],
        );
        return rows[0];
      }, 90_000);
      expect(caused.traceparent).toMatch(new RegExp(`^00-${CALLER_TRACE}-`));
      expect(caused.tracestate).toBe("congo=t61rcWkgMzE");
    } finally {
      await consumer.stop();
    }
  });
});
