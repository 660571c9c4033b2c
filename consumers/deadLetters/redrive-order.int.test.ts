// Re-driving never puts an older event of an aggregate over a newer one. A consent grant a consumer could not
// handle is parked, and the patient's withdrawal after it is applied: re-driving the grant is refused, naming
// it and the withdrawal (nothing sent), as is one of an event older than its topic's redelivery window; with
// --skip-superseded they stay parked and the cursor moves past them. A consumer still behind when the re-drive
// was decided (the withdrawal not read yet) skips the re-driven copy once it has applied the withdrawal. A replay
// of the patient's history to its own topic, which carries no mark of the dead letter, is skipped there too. A
// patient's events on two topics keep no order between them: a parked prediction is re-driven after a newer
// consent decision. The events go the whole way: appendEvents, the outbox, the relay, Kafka, the consumer's inbox.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeadLetterTopicName } from "../../events/catalog.ts";
import { exampleEvent } from "../../events/examples.ts";
import { createKafka } from "../../kafka/client.ts";
import type { OutboxRelay } from "../../relay/relay.ts";
import { append } from "../../test/auditHistory.ts";
import { spawnScript } from "../../test/childProcess.ts";
import { createEffectsTable, effectsOf, uniqueConsumerName } from "../../test/consumers/effects.ts";
import { startTestConsumer } from "../../test/consumers/inProcess.ts";
import { metricValue } from "../../test/consumers/metrics.ts";
import { eventRecord, publishUncommitted } from "../../test/consumers/records.ts";
import { eventually, kafkaBrokers, startRelay, testDatabase } from "../../test/fixtures.ts";
import { containsAll, tapTopic } from "../../test/kafkaTap.ts";
import { runReplay } from "../../test/replayCommand.ts";
import type { TransactionalConsumer } from "../runtime/consumerDefinition.ts";
import { DeadLettersSuperseded, listDeadLetters, redriveDeadLetters } from "./deadLetterQueue.ts";

const db = testDatabase();
const kafka = createKafka({ brokers: kafkaBrokers(), clientId: "redrive-order-test" });
const admin = kafka.admin();
let relay: OutboxRelay;
beforeAll(async () => {
  await createEffectsTable(db);
  await admin.connect();
  relay = startRelay();
});
afterAll(async () => {
  // What these tests leave parked is superseded: moved past, so that no later re-drive of the topic meets it.
  await redriveDeadLetters(kafka, admin, db, "patient-events.dlq", { skipSuperseded: true }).catch(() => {});
  await relay?.stop();
  await admin.disconnect();
  await db.$client.end();
});

/**
 * A projection of consent decisions (a row per decision applied, in order) that fails on `failing` ones: those
 * with the event ids, or about the patients, it holds.
 */
function consentConsumer(name: string, failing: ReadonlySet<string>): TransactionalConsumer {
  return {
    kind: "transactional",
    name,
    topics: ["patient-events"],
    handlers: {
      "patient.consent.changed": async (event, { tx, record }) => {
        if (failing.has(event.eventId) || failing.has(event.data.patientId)) {
          throw new RangeError("consent template missing");
        }
        await tx.execute(sql`
          INSERT INTO consumer_test_effects (consumer, event_id, event_type, kafka_partition, kafka_offset, record_key)
          VALUES (${name}, ${event.eventId}, ${event.eventType}, ${record.partition}, ${record.offset},
                  ${event.data.patientId})`);
      },
    },
  };
}

/** One consent decision about the patient, written as a service writes it; its event id. */
async function decide(patientId: string, granted: boolean): Promise<string> {
  const [eventId] = await append(db, [exampleEvent("patient.consent.changed", { patientId, granted })]);
  return eventId as string;
}

/** Until the consumer has parked `count` records on its dead-letter topic. */
async function deadLettered(
  name: string,
  eventIds: readonly string[],
  dlqTopic: DeadLetterTopicName = "patient-events.dlq",
): Promise<void> {
  // The events named, not a count: the relay may publish what an earlier file of the run left in the outbox
  // (records that are poison to every consumer), which this consumer parks too.
  await eventually(async () => {
    const letters = await listDeadLetters(kafka, admin, dlqTopic, { all: true });
    const parked = new Set(
      letters.filter((letter) => letter.consumer === name).map((letter) => letter.eventId),
    );
    return eventIds.every((eventId) => parked.has(eventId));
  }, 60_000);
}

/** The consent decisions about the patient that the consumer applied, in the order it applied them. */
async function appliedFor(name: string, patientId: string): Promise<string[]> {
  return (await effectsOf(db, name))
    .filter((effect) => effect.key === patientId)
    .map((effect) => effect.eventId);
}

describe("re-driving a dead letter keeps its aggregate's order", () => {
  it("skips the re-driven copy at a consumer that applied a newer event of its aggregate meanwhile", async () => {
    const patientId = randomUUID();
    const failing = new Set<string>();
    const name = uniqueConsumerName("redrive-behind");
    const definition = consentConsumer(name, failing);
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const first = await startTestConsumer(definition, { db, kafkaBrokers: kafkaBrokers(), name });
    const grant = await decide(patientId, true);
    failing.add(grant);
    try {
      await deadLettered(name, [grant]);
    } finally {
      await first.stop();
    }
    // The withdrawal reaches the topic while the consumer is stopped: it has still to read it.
    const withdrawal = await decide(patientId, false);
    await tap.collect({ done: containsAll([withdrawal]), settleMs: 0, timeoutMs: 60_000 });

    failing.clear();
    const { redriven } = await redriveDeadLetters(kafka, admin, db, "patient-events.dlq", {
      eventIds: new Set([grant]),
    });
    expect(redriven.map((letter) => letter.eventId)).toEqual([grant]);

    const restarted = await startTestConsumer(definition, {
      db,
      kafkaBrokers: kafkaBrokers(),
      name,
      restart: true,
    });
    try {
      // The copy has been dealt with: skipped, or (what must not happen) applied.
      await eventually(
        async () =>
          (await metricValue(restarted.registry, "consumer_records_superseded_total")) >= 1 ||
          (await appliedFor(name, patientId)).includes(grant),
        60_000,
      );
      // The withdrawal stands: the grant before it was never applied after it.
      expect(await appliedFor(name, patientId)).toEqual([withdrawal]);
      expect(await metricValue(restarted.registry, "consumer_records_superseded_total")).toBe(1);
    } finally {
      await restarted.stop();
    }
  });

  it("refuses a dead letter its consumer has applied a newer event of since, or one older than the window, naming why", async () => {
    const patientId = randomUUID();
    const failing = new Set<string>();
    const name = uniqueConsumerName("redrive-superseded");
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const started = await startTestConsumer(consentConsumer(name, failing), {
      db,
      kafkaBrokers: kafkaBrokers(),
      name,
    });
    // Another patient's decision, re-driven 60 days from now: older than patient-events' 38-day window then.
    const oldPatientId = randomUUID();
    const later = new Date(Date.now() + 60 * 86_400_000);
    let grant = "";
    let withdrawal = "";
    let old = "";
    try {
      failing.add(oldPatientId);
      old = await decide(oldPatientId, true);
      grant = await decide(patientId, true);
      failing.add(grant);
      withdrawal = await decide(patientId, false);
      await eventually(async () => (await appliedFor(name, patientId)).includes(withdrawal), 60_000);
      await deadLettered(name, [grant, old]);
    } finally {
      await started.stop();
    }
    failing.clear();

    const refused = await redriveDeadLetters(kafka, admin, db, "patient-events.dlq", {
      eventIds: new Set([grant, old]),
      now: later,
    }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DeadLettersSuperseded);
    const { message, superseded } = refused as DeadLettersSuperseded;
    expect(superseded.map(({ letter }) => letter.eventId).sort()).toEqual([grant, old].sort());
    expect(message).toContain(
      `(event ${grant}, patient.consent.changed): consumer ${name} has already applied a newer event of patient ${patientId}, event ${withdrawal} (patient.consent.changed, outbox position`,
    );
    expect(message).toContain("its older state over the newer");
    expect(message).toContain(`(event ${old}, patient.consent.changed): its event was created at`);
    expect(message).toContain("consumers remember an event for 38 days after handling it");

    // As the operator runs it: refused, exit 1, nothing sent.
    const script = spawnScript("consumers/dlq.ts", {
      args: ["redrive", "patient-events", "--event", grant, "--yes"],
    });
    const code = await new Promise<number | null>((resolve) => script.child.once("close", resolve));
    expect(code, script.output()).toBe(1);
    expect(script.output()).toContain("re-drive refused: 1 dead letter(s) of patient-events.dlq");
    expect(script.output()).toContain(`event ${withdrawal}`);
    expect(script.output()).not.toContain("re-drove");

    // Left parked, the others re-driven, and the cursor past them all.
    const { redriven, skipped } = await redriveDeadLetters(kafka, admin, db, "patient-events.dlq", {
      skipSuperseded: true,
      now: later,
    });
    expect(redriven.map((letter) => letter.eventId)).not.toContain(grant);
    expect(skipped.map(({ letter }) => letter.eventId)).toEqual(expect.arrayContaining([grant, old]));
    const pending = (await listDeadLetters(kafka, admin, "patient-events.dlq")).map(
      (letter) => letter.eventId,
    );
    expect(pending).not.toContain(grant);
    const all = await listDeadLetters(kafka, admin, "patient-events.dlq", { all: true });
    expect(all.map((letter) => letter.eventId)).toContain(grant);

    const sentBack = (await tap.read())
      .filter(({ message }) => message.headers?.["dlq.redriven.from"] !== undefined)
      .map(({ message }) => String(message.headers?.eventId));
    expect(sentBack).not.toContain(grant);
    expect(sentBack).not.toContain(old);
    expect(await appliedFor(name, patientId)).toEqual([withdrawal]);
  });
});

describe("a re-drive sends back only committed events", () => {
  it("refuses a dead letter whose record is not the committed event it names, whatever it was parked for", async () => {
    const patientId = randomUUID();
    const name = uniqueConsumerName("redrive-not-committed");
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const started = await startTestConsumer(consentConsumer(name, new Set()), {
      db,
      kafkaBrokers: kafkaBrokers(),
      name,
    });
    // A decision no transaction committed (parked as not-committed), and a committed one's id sent again with
    // another value once the consumer has applied it (parked as event-id-reused: its inbox holds that id).
    const forged = eventRecord("patient.consent.changed", { patientId: randomUUID() });
    let altered = forged;
    try {
      const grant = await decide(patientId, true);
      await eventually(async () => (await appliedFor(name, patientId)).includes(grant), 60_000);
      const envelope = JSON.parse(
        (
          await db.$client.query<{ payload: string }>(
            "SELECT payload::text FROM outbox WHERE event_id = $1",
            [grant],
          )
        ).rows[0]?.payload as string,
      );
      envelope.data.granted = false;
      altered = {
        topic: "patient-events",
        eventId: grant,
        message: {
          key: patientId,
          value: JSON.stringify(envelope),
          headers: { eventId: grant, eventType: "patient.consent.changed" },
        },
      };
      await publishUncommitted(kafkaBrokers(), [forged, altered], db);
      await deadLettered(name, [forged.eventId, grant]);
    } finally {
      await started.stop();
    }
    const letters = new Set([forged.eventId, altered.eventId]);

    const refused = await redriveDeadLetters(kafka, admin, db, "patient-events.dlq", {
      eventIds: letters,
    }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DeadLettersSuperseded);
    const { message, superseded } = refused as DeadLettersSuperseded;
    expect(superseded.map(({ letter }) => letter.eventId).sort()).toEqual([...letters].sort());
    expect(message).toContain(
      `(event ${forged.eventId}, patient.consent.changed): its record is not a committed event: neither the outbox nor the archived events hold an event with this id; re-driven, it would put on patient-events a record no transaction committed`,
    );
    expect(message).toContain(
      `(event ${altered.eventId}, patient.consent.changed): its record is not the committed event: the outbox holds this id with another value`,
    );

    // As the operator runs it: refused, exit 1, nothing sent; with --skip-superseded, left parked.
    const script = spawnScript("consumers/dlq.ts", {
      args: ["redrive", "patient-events", "--event", forged.eventId, "--yes"],
    });
    const code = await new Promise<number | null>((resolve) => script.child.once("close", resolve));
    expect(code, script.output()).toBe(1);
    expect(script.output()).toContain(
      "re-drive refused: 1 dead letter(s) of patient-events.dlq must stay parked",
    );
    const { redriven, skipped } = await redriveDeadLetters(kafka, admin, db, "patient-events.dlq", {
      eventIds: letters,
      skipSuperseded: true,
    });
    expect(redriven).toEqual([]);
    expect(skipped.map(({ letter }) => letter.eventId).sort()).toEqual([...letters].sort());

    // The topic holds each as it was first sent (the grant twice: committed, then altered), and nothing re-driven.
    const onTopic = (await tap.read()).map(({ message }) => ({
      eventId: String(message.headers?.eventId),
      redriven: message.headers?.["dlq.redriven.from"] !== undefined,
    }));
    expect(onTopic.filter(({ eventId }) => eventId === forged.eventId)).toHaveLength(1);
    expect(onTopic.filter(({ eventId }) => eventId === altered.eventId)).toHaveLength(2);
    expect(onTopic.filter(({ redriven }) => redriven)).toEqual([]);
  });
});

describe("a re-drive run again after one that sent its letters and stopped before it moved the cursor", () => {
  it("sends them again, which the consumer drops as duplicates, rather than refuse those it applied as superseded", async () => {
    const patientId = randomUUID();
    const failing = new Set<string>([patientId]);
    const name = uniqueConsumerName("redrive-rerun");
    const definition = consentConsumer(name, failing);
    const first = await startTestConsumer(definition, { db, kafkaBrokers: kafkaBrokers(), name });
    let grant = "";
    let withdrawal = "";
    try {
      grant = await decide(patientId, true);
      withdrawal = await decide(patientId, false);
      await deadLettered(name, [grant, withdrawal]);
    } finally {
      await first.stop();
    }
    failing.clear();
    const letters = new Set([grant, withdrawal]);
    // The interrupted run: both letters sent back (a re-drive naming them moves no cursor, as one killed after
    // its sends and before its cursor moved leaves it), and applied by the consumer, in order.
    await redriveDeadLetters(kafka, admin, db, "patient-events.dlq", { eventIds: letters });
    const restarted = await startTestConsumer(definition, {
      db,
      kafkaBrokers: kafkaBrokers(),
      name,
      restart: true,
    });
    try {
      await eventually(async () => (await appliedFor(name, patientId)).length === 2, 60_000);

      const { redriven, skipped } = await redriveDeadLetters(kafka, admin, db, "patient-events.dlq", {
        eventIds: letters,
      });

      expect(redriven.map((letter) => letter.eventId).sort()).toEqual([grant, withdrawal].sort());
      expect(skipped).toEqual([]);
      await eventually(
        async () => (await metricValue(restarted.registry, "consumer_records_duplicate_total")) >= 2,
        60_000,
      );
      expect(await appliedFor(name, patientId)).toEqual([grant, withdrawal]);
    } finally {
      await restarted.stop();
    }
  });
});

describe("events of one aggregate on two topics", () => {
  it("keep no order between them: a parked prediction is re-driven, and applied, after a newer consent decision", async () => {
    const patientId = randomUUID();
    const name = uniqueConsumerName("redrive-two-topics");
    const failing = new Set([patientId]);
    const effect = (
      event: { eventId: string; eventType: string },
      record: { partition: number; offset: string },
    ) =>
      sql`INSERT INTO consumer_test_effects (consumer, event_id, event_type, kafka_partition, kafka_offset, record_key)
          VALUES (${name}, ${event.eventId}, ${event.eventType}, ${record.partition}, ${record.offset}, ${patientId})`;
    const definition: TransactionalConsumer = {
      kind: "transactional",
      name,
      topics: ["patient-events", "ai-events"],
      handlers: {
        "patient.consent.changed": async (event, { tx, record }) => {
          if (event.data.patientId === patientId) await tx.execute(effect(event, record));
        },
        "ai.prediction.generated": async (event, { tx, record }) => {
          if (event.data.patientId !== patientId) return;
          if (failing.has(patientId)) throw new RangeError("model output unreadable");
          await tx.execute(effect(event, record));
        },
      },
    };
    const started = await startTestConsumer(definition, { db, kafkaBrokers: kafkaBrokers(), name });
    let prediction = "";
    try {
      [prediction = ""] = await append(db, [exampleEvent("ai.prediction.generated", { patientId })]);
      await deadLettered(name, [prediction], "ai-events.dlq");
      failing.clear();
      // Newer than the prediction in the patient's history, on patient-events.
      const decision = await decide(patientId, true);
      await eventually(async () => (await appliedFor(name, patientId)).includes(decision), 60_000);

      const { redriven } = await redriveDeadLetters(kafka, admin, db, "ai-events.dlq", {
        eventIds: new Set([prediction]),
      });
      expect(redriven.map((letter) => letter.eventId)).toEqual([prediction]);
      await eventually(async () => (await appliedFor(name, patientId)).includes(prediction), 60_000);
      expect(await appliedFor(name, patientId)).toEqual([decision, prediction]);
      expect(await metricValue(started.registry, "consumer_records_superseded_total")).toBe(0);
    } finally {
      await started.stop();
    }
  });
});

describe("replaying history to its own topic keeps its aggregate's order", () => {
  it("skips the replayed copy of an event the consumer parked, once it has applied a newer one of its aggregate", async () => {
    const patientId = randomUUID();
    const failing = new Set([patientId]);
    const name = uniqueConsumerName("replay-parked");
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const started = await startTestConsumer(consentConsumer(name, failing), {
      db,
      kafkaBrokers: kafkaBrokers(),
      name,
    });
    try {
      const grant = await decide(patientId, true);
      await deadLettered(name, [grant]);
      failing.clear();
      const withdrawal = await decide(patientId, false);
      await eventually(async () => (await appliedFor(name, patientId)).includes(withdrawal), 60_000);
      // Both on the topic, so at or before the relay's checkpoint: a replay to their own topic may send them.
      await tap.collect({ done: containsAll([grant, withdrawal]), settleMs: 0, timeoutMs: 60_000 });
      const replay = await eventually(async () => {
        const outcome = await runReplay(["--aggregate", `patient:${patientId}`, "--yes"]);
        return outcome.code === 0 || !outcome.output.includes("wait for the relay") ? outcome : undefined;
      }, 60_000);
      expect(replay.code, replay.output).toBe(0);
      expect(replay.output).toContain("replayed 2 events to their own topics");

      // The withdrawal's copy comes after the grant's: once it is acknowledged, both have been dealt with.
      await eventually(
        async () => (await metricValue(started.registry, "consumer_records_duplicate_total")) >= 1,
        60_000,
      );
      expect(await appliedFor(name, patientId)).toEqual([withdrawal]);
      expect(await metricValue(started.registry, "consumer_records_superseded_total")).toBe(1);
      const held = await db.$client.query<{ eventId: string }>(
        `SELECT event_id::text AS "eventId" FROM consumer_inbox WHERE consumer = $1 ORDER BY aggregate_version`,
        [name],
      );
      expect(held.rows.map((row) => row.eventId)).toEqual([withdrawal]);
    } finally {
      await started.stop();
    }
  });
});
