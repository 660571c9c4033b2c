// A replay that would break per-key order, or that names what does not exist, is refused with a clear message
// and a non-zero exit: nothing is published and no replay is recorded. In a database of its own: another
// file's relay on the shared one would publish the events this file needs unpublished.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKafka } from "../../kafka/client.ts";
import { kafkaBrokers } from "../../test/fixtures.ts";
import { tapTopic } from "../../test/kafkaTap.ts";
import { createServedTopic } from "../../test/kafkaTopics.ts";
import { ownDatabase } from "../../test/ownDatabase.ts";
import { patientHistory, replayRecords, runReplay } from "../../test/replayCommand.ts";

const own = ownDatabase("replay_refusal");
beforeAll(() => own.setUp());
afterAll(() => own.tearDown());
const inOwnDatabase = () => ({ DATABASE_URL: own.url });

describe("npm run replay refuses", () => {
  it("events the relay has not published yet, to their own topic, publishing nothing", async () => {
    const { patientId, eventIds } = await patientHistory(own.db, { relayed: false });
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const recordsBefore = await replayRecords(own.db);

    const outcome = await runReplay(["--aggregate", `patient:${patientId}`, "--yes"], inOwnDatabase());

    expect(outcome.code, outcome.output).toBe(1);
    expect(outcome.output).toContain(
      `replay refused: 3 of the selected patient-events events are not published by the relay yet`,
    );
    expect(outcome.output).toContain("nothing published");
    const mine = new Set(eventIds);
    expect(
      (await tap.read()).filter(({ message }) => mine.has(JSON.parse(String(message.value)).eventId)),
    ).toEqual([]);
    expect(await replayRecords(own.db)).toBe(recordsBefore);
  });

  it("a target topic the broker does not have, and a bad flag, publishing nothing", async () => {
    const { patientId } = await patientHistory(own.db, { relayed: false });
    const recordsBefore = await replayRecords(own.db);
    const missing = `replay-missing-${randomUUID()}`;

    const noTopic = await runReplay(
      ["--aggregate", `patient:${patientId}`, "--to-topic", missing, "--yes"],
      inOwnDatabase(),
    );
    expect(noTopic.code, noTopic.output).toBe(1);
    expect(noTopic.output).toContain(`--to-topic ${missing}: the broker has no such topic`);

    const badRate = await runReplay(
      ["--aggregate", `patient:${patientId}`, "--rate", "0", "--yes"],
      inOwnDatabase(),
    );
    expect(badRate.code, badRate.output).toBe(2);
    expect(badRate.output).toContain("--rate 0: must be a number of events per second above 0");
    expect(badRate.output).toContain("usage: npm run replay");

    // So slow a pace that its wait would overflow the timer, which would then not wait at all.
    const untimedRate = await runReplay(
      ["--aggregate", `patient:${patientId}`, "--rate", "1e-7", "--yes"],
      inOwnDatabase(),
    );
    expect(untimedRate.code, untimedRate.output).toBe(2);
    expect(untimedRate.output).toContain("--rate 1e-7: must be at least 0.001 events per second");

    expect(await replayRecords(own.db)).toBe(recordsBefore);
  });

  it("a time that does not exist (hour 24), as audit:verify refuses it, publishing and recording nothing", async () => {
    const { patientId } = await patientHistory(own.db, { relayed: false });
    const recordsBefore = await replayRecords(own.db);
    const target = `replay-hour-24-${randomUUID()}`;
    // Yesterday's hour 24, which Date reads as today's midnight: the events just written come after it.
    const since = `${new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)}T24:00:00Z`;
    const admin = createKafka({ brokers: kafkaBrokers(), clientId: "replay-hour-24-test" }).admin();
    await admin.connect();
    try {
      await createServedTopic(admin, target, 1);

      const outcome = await runReplay(
        ["--aggregate", `patient:${patientId}`, "--since", since, "--to-topic", target, "--yes"],
        inOwnDatabase(),
      );

      expect(outcome.code, outcome.output).toBe(2);
      expect(outcome.output).toContain(
        `--since ${since}: has no hour 24 (00 to 23; midnight is 00:00:00 of the next day)`,
      );
      expect(outcome.output).toContain("usage: npm run replay");
      expect(await admin.fetchTopicOffsets(target)).toEqual([
        expect.objectContaining({ partition: 0, low: "0", high: "0" }),
      ]);
    } finally {
      await admin.deleteTopics({ topics: [target] }).catch(() => {});
      await admin.disconnect();
    }
    expect(await replayRecords(own.db)).toBe(recordsBefore);
  });

  it("a --from-position after the outbox's newest event, which would replay nothing and report success", async () => {
    await patientHistory(own.db, { relayed: false });
    const recordsBefore = await replayRecords(own.db);
    const newest = (
      await own.db.$client.query<{ newest: string }>(`SELECT max(position)::text AS newest FROM outbox`)
    ).rows[0]?.newest as string;
    const after = (BigInt(newest) + 1n).toString();

    for (const args of [["--yes"], ["--dry-run"]]) {
      const outcome = await runReplay(["--from-position", after, ...args], inOwnDatabase());
      expect(outcome.code, outcome.output).toBe(1);
      expect(outcome.output).toContain(
        `replay refused: --from-position ${after} is after the newest event of the history (position ${newest})`,
      );
      expect(outcome.output).toContain("nothing published");
    }
    expect(await replayRecords(own.db)).toBe(recordsBefore);
  });

  it("filters that match no event (a mistyped id), which would replay nothing and report success", async () => {
    await patientHistory(own.db, { relayed: false });
    const recordsBefore = await replayRecords(own.db);

    for (const args of [["--yes"], ["--dry-run"]]) {
      const outcome = await runReplay(["--aggregate", `patient:${randomUUID()}`, ...args], inOwnDatabase());
      expect(outcome.code, outcome.output).toBe(1);
      expect(outcome.output).toContain("replay refused: no event in the outbox matches these filters");
      expect(outcome.output).toContain("nothing published");
    }
    expect(await replayRecords(own.db)).toBe(recordsBefore);
  });

  it("events its filters match past the snapshot horizon, saying so rather than blame the filters", async () => {
    // A transaction that holds an id, left open: the horizon stays below it, and below the events that follow.
    const open = await own.db.$client.connect();
    try {
      await open.query("BEGIN");
      await open.query("SELECT pg_current_xact_id()");
      const { patientId } = await patientHistory(own.db, { relayed: false });
      const target = `replay-horizon-${randomUUID()}`;
      const admin = createKafka({ brokers: kafkaBrokers(), clientId: "replay-horizon-test" }).admin();
      await admin.connect();
      try {
        await createServedTopic(admin, target, 1);
        const outcome = await runReplay(
          ["--aggregate", `patient:${patientId}`, "--to-topic", target, "--dry-run"],
          inOwnDatabase(),
        );

        expect(outcome.code, outcome.output).toBe(1);
        expect(outcome.output).toContain(
          "replay refused: the 3 events these filters match were committed after a transaction still running",
        );
        expect(outcome.output).not.toContain("check the filters");
      } finally {
        await admin.deleteTopics({ topics: [target] }).catch(() => {});
        await admin.disconnect();
      }
    } finally {
      await open.query("ROLLBACK");
      open.release();
    }
  });
});
