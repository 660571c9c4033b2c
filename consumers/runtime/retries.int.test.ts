// Retries and dead letters: a handler that fails and then succeeds has one effect; one that always fails
// has its record parked in the dead-letter topic, and the partition moves on. Failing partitions wait for
// their retry without holding up the others.
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { exponentialBackoff } from "../../retry/backoff.ts";
import { tapDeadLetters } from "../../test/consumers/deadLetterTap.ts";
import { effectsOf } from "../../test/consumers/effects.ts";
import { startEffectConsumer, useEffectsDatabase } from "../../test/consumers/inProcess.ts";
import { metricValue } from "../../test/consumers/metrics.ts";
import { onPartition, patientCreatedRecord, publish } from "../../test/consumers/records.ts";
import { eventually, kafkaBrokers } from "../../test/fixtures.ts";
import { deadLetterAfterAttempts } from "./deadLetterPolicy.ts";

const db = useEffectsDatabase();

class DownstreamUnavailable extends Error {
  override name = "DownstreamUnavailable";
}

describe("a failing handler", () => {
  it("failing twice then succeeding has one effect, and its two retries show in the metrics", async () => {
    const flaky = patientCreatedRecord();
    const steady = patientCreatedRecord();
    const started = await startEffectConsumer(db, "retries", {
      fail: (eventId, attempt) =>
        eventId === flaky.eventId && attempt <= 2 ? new DownstreamUnavailable("try later") : null,
    });
    try {
      await publish(kafkaBrokers(), [flaky, steady], db);
      // The topic is the platform's own, and other records may flow through it: only ours are counted.
      const ours = new Set([flaky.eventId, steady.eventId]);
      const ourEffects = async () =>
        (await effectsOf(db, started.name)).filter((effect) => ours.has(effect.eventId));
      await eventually(async () => (await ourEffects()).length >= 2);

      expect((await ourEffects()).map((effect) => effect.eventId).sort()).toEqual([...ours].sort());
      const labels = { consumer: started.name, event_type: "patient.created" };
      expect(await metricValue(started.registry, "consumer_handler_failures_total", labels)).toBe(2);
      expect(
        await metricValue(started.registry, "consumer_retries_total", { ...labels, cause: "handler" }),
      ).toBe(2);
      expect(await metricValue(started.registry, "consumer_records_dead_lettered_total")).toBe(0);
    } finally {
      await started.stop();
    }
  });

  it("always failing parks the record in the dead-letter topic with its headers, and later records of the partition are still processed", async () => {
    const doomed = onPartition(patientCreatedRecord(), 0);
    const later = onPartition(patientCreatedRecord(), 0);
    const elsewhere = [1, 2, 3, 4, 5].map((partition) => onPartition(patientCreatedRecord(), partition));
    const deadLetters = await tapDeadLetters(kafkaBrokers(), "patient-events");
    const started = await startEffectConsumer(db, "dead-letters", {
      fail: (eventId) =>
        eventId === doomed.eventId ? new TypeError("Cannot read properties of undefined") : null,
      // Slow retries (at least 3 s in all), so the other partitions visibly carry on meanwhile.
      deadLetterPolicy: deadLetterAfterAttempts({
        maxAttempts: 3,
        backoff: exponentialBackoff({ baseMs: 2_000, capMs: 4_000, floorMs: 1_500 }),
      }),
    });
    try {
      await publish(kafkaBrokers(), [doomed, later, ...elsewhere], db);

      const others = new Set(elsewhere.map((record) => record.eventId));
      await eventually(
        async () => (await effectsOf(db, started.name)).filter((e) => others.has(e.eventId)).length === 5,
      );
      // Every other partition was processed while the doomed record waited for its retries.
      expect(await metricValue(started.registry, "consumer_records_dead_lettered_total")).toBe(0);

      await eventually(async () =>
        (await effectsOf(db, started.name)).some((e) => e.eventId === later.eventId),
      );
      const effects = await effectsOf(db, started.name);
      expect(effects.some((effect) => effect.eventId === doomed.eventId)).toBe(false);

      const [parked, ...more] = await deadLetters.parkedBy(started.name);
      expect(more).toEqual([]);
      expect(parked?.message.value?.toString()).toBe(doomed.message.value);
      expect(parked?.message.key?.toString()).toBe(doomed.message.key);
      const laterEffect = effects.find((effect) => effect.eventId === later.eventId);
      expect(parked?.letter).toMatchObject({
        eventId: doomed.eventId,
        eventType: "patient.created",
        consumer: started.name,
        reason: "attempts-exhausted",
        error: "TypeError",
        errorMessage: expect.stringMatching(
          /^TypeError at consumers\/runtime\/retries\.int\.test\.ts:\d+:\d+; its message, which may quote the data it was given, is not recorded$/,
        ),
        attempts: 3,
        original: {
          topic: "patient-events",
          partition: laterEffect?.partition,
          offset: String((laterEffect?.offset ?? 0) - 1),
        },
      });
      expect(parked?.letter.partition).toBe(0);
      expect(
        await metricValue(started.registry, "consumer_records_dead_lettered_total", {
          reason: "attempts-exhausted",
        }),
      ).toBe(1);
    } finally {
      await started.stop();
    }
  });

  const personal = "ada.lovelace@example.org";
  it.each([
    {
      failure: "refused by Postgres through drizzle",
      consumer: "dead-letters-quoted",
      recorded: /^Postgres refused the statement: SQLSTATE 22P02/,
      // A real failed query: drizzle's error lists its parameters, and Postgres's quotes the value refused.
      error: () =>
        db.execute(sql`SELECT ${personal}::uuid`).then(
          () => new Error("the query did not fail"),
          (error: Error) => error,
        ),
    },
    {
      failure: "failed in the runtime's library",
      consumer: "dead-letters-library",
      recorded: /^RangeError at consumers\/runtime\/retries\.int\.test\.ts:\d+:\d+; its message/,
      // Any library's error may quote what it was given, as Intl's does a time zone it does not know.
      error: async () => {
        try {
          return new Error(`no error: ${new Intl.DateTimeFormat("en", { timeZone: personal })}`);
        } catch (error) {
          return error as Error;
        }
      },
    },
  ])("$failure, is parked without the values the error quoted", async ({ consumer, error, recorded }) => {
    const refused = await error();
    expect(`${refused.message} ${String((refused.cause as Error | undefined)?.message)}`).toContain(personal);
    const doomed = onPartition(patientCreatedRecord(), 1);
    const deadLetters = await tapDeadLetters(kafkaBrokers(), "patient-events");
    const started = await startEffectConsumer(db, consumer, {
      fail: (eventId) => (eventId === doomed.eventId ? refused : null),
      deadLetterPolicy: deadLetterAfterAttempts({
        maxAttempts: 1,
        backoff: exponentialBackoff({ baseMs: 100, capMs: 100 }),
      }),
    });
    try {
      await publish(kafkaBrokers(), [doomed], db);
      await eventually(async () => (await deadLetters.parkedBy(started.name)).length === 1);
      const [parked] = await deadLetters.parkedBy(started.name);
      expect(parked?.letter).toMatchObject({ eventId: doomed.eventId, reason: "attempts-exhausted" });
      expect(parked?.letter.errorMessage).toMatch(recorded);
      const headers = Object.values(parked?.message.headers ?? {}).map((value) => String(value));
      expect(headers).toContain(parked?.letter.errorMessage);
      expect(headers.join("\n")).not.toContain("ada.lovelace");
    } finally {
      await started.stop();
    }
  });
});
