// `npm run notifications:resolve`, run as an operator runs it (compiled into dist/: the file starts twenty of
// them), against a database of its own: it lists the deliveries nobody knows the outcome of (without printing
// anything personal), records what the mail provider said about one (sent, or not sent: then failed, forgotten
// by the delivery consumer's inbox, with the replay that sends it again), and the metric the alert reads falls.
// Every refusal is one line and changes nothing. At a terminal (a pseudo-terminal from script(1)) it reads the
// delivery before it asks, and shows it.
import { randomUUID } from "node:crypto";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { operatorName } from "../cli/operator.ts";
import {
  registerDeliveryMetrics,
  SENDING_GIVEN_UP_AFTER_MS,
} from "../consumers/notifications/deliveryMetrics.ts";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { exampleEvent } from "../events/examples.ts";
import { spawnScript } from "../test/childProcess.ts";
import { compiledScript } from "../test/compiledCommands.ts";
import { kafkaBrokers, testEventContext } from "../test/fixtures.ts";
import { ownDatabase } from "../test/ownDatabase.ts";
import { atTerminal } from "../test/terminal.ts";

const own = ownDatabase("notifications_resolve");
beforeAll(own.setUp);
afterAll(own.tearDown);

/** The command run at a terminal (test/terminal.ts); `answer` is typed once it asks, after `beforeAnswering`. */
function atOperatorsTerminal(args: string[], answer: string, beforeAnswering?: () => Promise<void>) {
  return atTerminal([process.execPath, compiledScript("scripts/notifications-resolve.ts"), ...args], {
    env: { ...process.env, DATABASE_URL: own.url, KAFKA_BROKERS: kafkaBrokers().join(",") },
    answer,
    beforeAnswering,
  });
}

async function runCommand(...args: string[]): Promise<{ code: number | null; output: string }> {
  const run = spawnScript("scripts/notifications-resolve.ts", {
    args,
    env: { DATABASE_URL: own.url },
    compiled: true,
  });
  // `close`, not `exit`: the output is read to its end.
  const code = await new Promise<number | null>((resolve) => run.child.once("close", resolve));
  return { code, output: run.output() };
}

/** A ledger row claimed `claimedMsAgo` ago; `eventId`: the request's, when it is in the outbox. */
async function delivery(
  status: "sending" | "unknown" | "sent" | "failed",
  claimedMsAgo: number,
  { eventId = randomUUID(), lastError = null }: { eventId?: string; lastError?: string | null } = {},
): Promise<{ notificationId: string; eventId: string }> {
  const notificationId = randomUUID();
  await own.db.$client.query(
    `INSERT INTO notification_deliveries
            (notification_id, event_id, channel, status, attempts, transport, last_error, claimed_at, finished_at)
     VALUES ($1, $2, 'email', $3, 1, 'smtp', $4, now() - make_interval(secs => $5),
             CASE WHEN $3 = 'sending' THEN NULL ELSE now() END)`,
    [notificationId, eventId, status, lastError, claimedMsAgo / 1000],
  );
  return { notificationId, eventId };
}

/** Everything the polling relay publishes up to the request is published: its checkpoint moved past it. */
async function publishedByPollingRelay(request: { eventId: string }): Promise<void> {
  await own.db.$client.query(
    `INSERT INTO relay_checkpoints (name, tx_id, position)
     SELECT 'outbox', tx_id, position FROM outbox WHERE event_id = $1
     ON CONFLICT (name) DO UPDATE SET tx_id = EXCLUDED.tx_id, position = EXCLUDED.position, updated_at = now()`,
    [request.eventId],
  );
}

/** `npm run replay` as the command prints it, as a dry run: whether the replay would run. */
async function replayDryRun(position: string): Promise<{ code: number | null; output: string }> {
  const run = spawnScript("scripts/replay.ts", {
    args: ["--from-position", position, "--to-position", position, "--dry-run"],
    env: { DATABASE_URL: own.url },
    compiled: true,
  });
  const code = await new Promise<number | null>((resolve) => run.child.once("close", resolve));
  return { code, output: run.output() };
}

/** A notification request appended through the outbox, as the requests consumer writes one. */
async function requestInOutbox(): Promise<{ eventId: string; position: string }> {
  const [appended] = await writeTransaction(own.db, (tx) =>
    appendEvents(tx, testEventContext(), [
      exampleEvent("notification.email.requested", { notificationId: randomUUID(), patientId: randomUUID() }),
    ]),
  );
  const { rows } = await own.db.$client.query<{ position: string }>(
    "SELECT position::text AS position FROM outbox WHERE event_id = $1",
    [appended?.eventId],
  );
  return { eventId: appended?.eventId ?? "", position: rows[0]?.position ?? "" };
}

async function inInbox(consumer: string, eventId: string): Promise<void> {
  await own.db.$client.query(
    `INSERT INTO consumer_inbox (consumer, event_id, event_type, topic, kafka_partition, kafka_offset)
     VALUES ($1, $2, 'notification.email.requested', 'notification-events', 0, 0)`,
    [consumer, eventId],
  );
}

async function ledgerRow(notificationId: string) {
  const { rows } = await own.db.$client.query(
    `SELECT status, attempts, transport_message_id AS "transportMessageId", last_error AS "lastError",
            finished_at AS "finishedAt", resolved_by AS "resolvedBy"
       FROM notification_deliveries WHERE notification_id = $1`,
    [notificationId],
  );
  return rows[0];
}

/** Everything the command could change: the ledger and the inbox. */
async function tables() {
  const deliveries = await own.db.$client.query(
    "SELECT * FROM notification_deliveries ORDER BY notification_id",
  );
  const inbox = await own.db.$client.query("SELECT * FROM consumer_inbox ORDER BY consumer, event_id");
  return { deliveries: deliveries.rows, inbox: inbox.rows };
}

const registry = new Registry();
beforeAll(() => registerDeliveryMetrics(registry, own.db));
async function unresolvedMetric(): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric("notification_deliveries_unresolved")?.get();
  return Object.fromEntries(metric?.values.map((value) => [value.labels.status, value.value]) ?? []);
}

const OLD = SENDING_GIVEN_UP_AFTER_MS + 60_000;

describe("npm run notifications:resolve", () => {
  it("lists the unresolved deliveries, and no error text that is not a code", async () => {
    const abandoned = await delivery("sending", OLD);
    const timedOut = await delivery("unknown", 5_000, { lastError: "TimeoutError" });
    const quoting = await delivery("unknown", 5_000, { lastError: "rejected ada@example.org" });
    const inFlight = await delivery("sending", 1_000);
    const sent = await delivery("sent", OLD);
    const failed = await delivery("failed", OLD, { lastError: "smtp-550" });

    const { code, output } = await runCommand();

    expect({ code, output }).toMatchObject({ code: 0 });
    const lines = output.split("\n");
    const lineOf = (id: string) => lines.find((line) => line.startsWith(id));
    expect(lineOf(abandoned.notificationId)).toMatch(
      new RegExp(
        `^${abandoned.notificationId}\\s+${abandoned.eventId}\\s+email\\s+smtp\\s+sending\\s+1\\s+\\S+Z\\s+-\\s+-$`,
      ),
    );
    expect(lineOf(timedOut.notificationId)).toMatch(/\sunknown\s+1\s+\S+Z\s+\S+Z\s+TimeoutError$/);
    expect(lineOf(quoting.notificationId)).toMatch(/\sunknown\s.*\(withheld\)$/);
    expect(output).not.toContain("ada@");
    for (const settled of [inFlight, sent, failed]) expect(output).not.toContain(settled.notificationId);
    expect(output).toContain("3 unresolved");
  });

  it("records a delivery the provider sent as sent, by whom and when, and the metric falls", async () => {
    const { notificationId } = await delivery("unknown", 5_000, { lastError: "TimeoutError" });
    const before = await unresolvedMetric();

    const { code, output } = await runCommand(
      "--id",
      notificationId.toUpperCase(),
      "--sent",
      "--message-id",
      `<${notificationId}@mail.example>`,
      "--yes",
    );

    expect({ code, output }).toMatchObject({ code: 0 });
    expect(output).toContain(`delivery ${notificationId} recorded as sent (operator ${operatorName()})`);
    expect(await ledgerRow(notificationId)).toMatchObject({
      status: "sent",
      attempts: 1,
      transportMessageId: `<${notificationId}@mail.example>`,
      lastError: null,
      resolvedBy: operatorName(),
    });
    expect((await ledgerRow(notificationId))?.finishedAt).toBeInstanceOf(Date);
    expect(await unresolvedMetric()).toEqual({ ...before, unknown: (before.unknown ?? 0) - 1 });
  });

  it("records a delivery the provider never had as failed, forgets its request in the delivery consumer's inbox, and names the replay that sends it", async () => {
    const request = await requestInOutbox();
    await publishedByPollingRelay(request);
    const { notificationId } = await delivery("sending", OLD, { eventId: request.eventId });
    await inInbox("notification-delivery", request.eventId);
    await inInbox("another-consumer", request.eventId);
    const before = await unresolvedMetric();

    const { code, output } = await runCommand("--id", notificationId, "--not-sent", "--yes");

    expect({ code, output }).toMatchObject({ code: 0 });
    expect(output).toContain(`delivery ${notificationId} recorded as not sent (operator ${operatorName()})`);
    expect(output).toContain(
      `npm run replay -- --from-position ${request.position} --to-position ${request.position}`,
    );
    // The replay it names would run (a dry run: the replay itself is deliveryResolutions.int.test.ts').
    const replay = await replayDryRun(request.position);
    expect({ code: replay.code, output: replay.output }).toMatchObject({ code: 0 });
    expect(replay.output).toContain("replay of 1 events");
    expect(await ledgerRow(notificationId)).toMatchObject({
      status: "failed",
      attempts: 1,
      lastError: null,
      resolvedBy: operatorName(),
    });
    const inbox = await own.db.$client.query<{ consumer: string }>(
      "SELECT consumer FROM consumer_inbox WHERE event_id = $1",
      [request.eventId],
    );
    expect(inbox.rows).toEqual([{ consumer: "another-consumer" }]);
    expect(await unresolvedMetric()).toEqual({ ...before, sending: (before.sending ?? 0) - 1 });
  });

  it("run again after it recorded not sent (stopped before it printed the replay: a kill, a connection lost at commit), refuses in one line naming the replay", async () => {
    const request = await requestInOutbox();
    await publishedByPollingRelay(request);
    const { notificationId } = await delivery("unknown", OLD, { eventId: request.eventId });
    // What a run stopped after its commit leaves is what a whole run leaves: the output is all it lacks.
    const first = await runCommand("--id", notificationId, "--not-sent", "--yes");
    expect({ code: first.code, output: first.output }).toMatchObject({ code: 0 });
    const before = await tables();

    const { code, output } = await runCommand("--id", notificationId, "--not-sent", "--yes");

    expect({ code, output }).toMatchObject({ code: 1 });
    expect(output.trim().split("\n")).toHaveLength(1);
    expect(output).toContain(
      `delivery ${notificationId} was recorded as not sent already (operator ${operatorName()}), and nothing has claimed it since: to send it, replay its request: npm run replay -- --from-position ${request.position} --to-position ${request.position}`,
    );
    expect(await tables()).toEqual(before);
  });

  it("records a delivery that is not to be sent as abandoned, its request left in the inbox, even one no replay could deliver", async () => {
    const forgotten = await requestInOutbox();
    const tooOld = await delivery("unknown", OLD, { eventId: forgotten.eventId });
    await backdated(forgotten.eventId, 40);
    await inInbox("notification-delivery", forgotten.eventId);
    const archived = await delivery("sending", OLD); // its request is in no outbox
    const before = await unresolvedMetric();

    for (const { notificationId } of [tooOld, archived]) {
      const { code, output } = await runCommand("--id", notificationId, "--abandon", "--yes");
      expect({ code, output }).toMatchObject({ code: 0 });
      expect(output).toContain(
        `delivery ${notificationId} recorded as abandoned (operator ${operatorName()})`,
      );
      expect(output).not.toContain("npm run replay");
      expect(await ledgerRow(notificationId)).toMatchObject({
        status: "failed",
        lastError: "abandoned",
        resolvedBy: operatorName(),
      });
    }
    // Nothing sends it: a redelivery of the request is still a duplicate to the delivery consumer.
    const inbox = await own.db.$client.query<{ consumer: string }>(
      "SELECT consumer FROM consumer_inbox WHERE event_id = $1",
      [forgotten.eventId],
    );
    expect(inbox.rows).toEqual([{ consumer: "notification-delivery" }]);
    expect(await unresolvedMetric()).toEqual({
      ...before,
      sending: (before.sending ?? 0) - 1,
      unknown: (before.unknown ?? 0) - 1,
    });
  });

  it("shows the delivery it is about to change, as the ledger holds it, and nothing personal", async () => {
    const { notificationId, eventId } = await delivery("unknown", 125_000, { lastError: "TimeoutError" });
    // What the development transport recorded for it: the recipient and the message, a patient's data.
    await own.db.$client.query(
      `INSERT INTO recorded_notifications (notification_id, channel, recipient, subject, body)
       VALUES ($1, 'email', 'ada@example.org', 'Your appointment', 'Dear Ada Lovelace')`,
      [notificationId],
    );

    const { code, output } = await runCommand("--id", notificationId, "--sent", "--yes");

    expect({ code, output }).toMatchObject({ code: 0 });
    const [shown, recorded] = output.trim().split("\n");
    expect(shown).toMatch(
      new RegExp(
        `^delivery ${notificationId}: unknown, 1 attempt, claimed \\S+Z \\(2 min \\d\\d s ago\\), finished \\S+Z, last error TimeoutError; email by smtp, request ${eventId}$`,
      ),
    );
    expect(recorded).toContain(`delivery ${notificationId} recorded as sent`);
    expect(output).not.toMatch(/ada@|Ada|appointment/);
  });

  it("at a terminal, reads the delivery before it asks: refuses one it cannot settle at once, shows the one it can, then asks", async () => {
    const sent = await delivery("sent", OLD);
    const unknown = await delivery("unknown", OLD, { lastError: "smtp-451" });
    const before = await tables();

    for (const [args, problem] of [
      [["--id", randomUUID(), "--sent"], "no delivery"],
      [["--id", sent.notificationId, "--abandon"], "is sent already"],
    ] as const) {
      const { code, output } = await atOperatorsTerminal([...args], "y");
      expect({ args, code }).toEqual({ args, code: 1 });
      expect(output).toContain(problem);
      expect(output).not.toContain("[y/N]");
    }

    const declined = await atOperatorsTerminal(["--id", unknown.notificationId, "--abandon"], "n");
    expect({ code: declined.code }).toEqual({ code: 1 });
    expect(declined.output).toMatch(
      new RegExp(
        `delivery ${unknown.notificationId}: unknown, 1 attempt, .* last error smtp-451; .*\\n` +
          `Record delivery ${unknown.notificationId} as not sent, and never to be \\(abandoned\\)\\. Go ahead\\? \\[y/N\\] n\\n` +
          "nothing done",
      ),
    );
    expect(await tables()).toEqual(before);

    const confirmed = await atOperatorsTerminal(["--id", unknown.notificationId, "--abandon"], "y");
    expect({ code: confirmed.code, output: confirmed.output }).toMatchObject({ code: 0 });
    expect(confirmed.output).toContain(`delivery ${unknown.notificationId} recorded as abandoned`);
    expect(await ledgerRow(unknown.notificationId)).toMatchObject({
      status: "failed",
      lastError: "abandoned",
    });
  });

  it("at a terminal, records nothing when the delivery changed while the question was asked", async () => {
    const { notificationId } = await delivery("sending", OLD);

    // Its sender was alive after all, and finished it while the operator read the question.
    const { code, output } = await atOperatorsTerminal(["--id", notificationId, "--sent"], "y", async () => {
      await own.db.$client.query(
        "UPDATE notification_deliveries SET status = 'sent', finished_at = now() WHERE notification_id = $1",
        [notificationId],
      );
    });

    expect({ code }).toEqual({ code: 1 });
    expect(output).toContain(
      `notifications:resolve refused: delivery ${notificationId} changed while this ran (it is sent now, it was sending); nothing changed`,
    );
    expect(await ledgerRow(notificationId)).toMatchObject({ status: "sent", resolvedBy: null });
  });

  it("in Debezium mode, names the replay of a request the polling relay published before the switch, and refuses one Debezium published, saying what to do", async () => {
    const beforeSwitch = await requestInOutbox();
    await publishedByPollingRelay(beforeSwitch);
    // The switch (handover/switch.ts) records the mode and leaves the polling checkpoint where it was.
    await own.db.$client.query(
      `INSERT INTO relay_mode (singleton, mode, handover, changed_at)
       VALUES (true, 'debezium', '{"state": "done"}', now())`,
    );
    try {
      const afterSwitch = await requestInOutbox();
      const published = await delivery("sending", OLD, { eventId: beforeSwitch.eventId });
      const streamed = await delivery("sending", OLD, { eventId: afterSwitch.eventId });
      await inInbox("notification-delivery", beforeSwitch.eventId);
      await inInbox("notification-delivery", afterSwitch.eventId);
      const before = await tables();

      const refused = await runCommand("--id", streamed.notificationId, "--not-sent", "--yes");

      expect({ code: refused.code }).toEqual({ code: 1 });
      expect(refused.output).toMatch(
        new RegExp(
          `^notifications:resolve refused: the request of delivery ${streamed.notificationId} \\(event ${afterSwitch.eventId}, outbox position ${afterSwitch.position}\\) was published by Debezium \\(the relay since \\S+Z\\), after the polling relay's last checkpoint \\(tx \\d+, position ${beforeSwitch.position}\\)`,
        ),
      );
      expect(refused.output).toContain("npm run relay:switch -- polling");
      expect(refused.output).toContain("--abandon");
      expect(await tables()).toEqual(before);
      // And the replay it would have named would indeed be refused.
      const wouldBeRefused = await replayDryRun(afterSwitch.position);
      expect({ code: wouldBeRefused.code }).toEqual({ code: 1 });
      expect(wouldBeRefused.output).toContain(
        "1 of the selected notification-events events are past the polling relay's checkpoint, where the switch to Debezium left it",
      );

      const { code, output } = await runCommand("--id", published.notificationId, "--not-sent", "--yes");
      expect({ code, output }).toMatchObject({ code: 0 });
      expect(output).toContain(
        `npm run replay -- --from-position ${beforeSwitch.position} --to-position ${beforeSwitch.position}`,
      );
      const replay = await replayDryRun(beforeSwitch.position);
      expect({ code: replay.code, output: replay.output }).toMatchObject({ code: 0 });
      expect(replay.output).toContain("replay of 1 events");
    } finally {
      await own.db.$client.query("DELETE FROM relay_mode");
    }
  });

  it("refuses, in one line and changing nothing, whatever it cannot record", async () => {
    const sent = await delivery("sent", OLD);
    const failed = await delivery("failed", OLD);
    const inFlight = await delivery("sending", 60_000);
    const unknown = await delivery("unknown", OLD);
    const archived = await delivery("unknown", OLD); // its request is in no outbox
    const forgotten = await requestInOutbox();
    const tooOld = await delivery("unknown", OLD, { eventId: forgotten.eventId });
    await backdated(forgotten.eventId, 40);
    const unrelayed = await requestInOutbox(); // past the polling relay's checkpoint
    const notRelayed = await delivery("unknown", OLD, { eventId: unrelayed.eventId });
    const before = await tables();

    const cases: ReadonlyArray<readonly [string[], number, string]> = [
      [["--id", randomUUID(), "--sent", "--yes"], 1, "no delivery"],
      [["--id", sent.notificationId, "--not-sent", "--yes"], 1, "is sent already"],
      [["--id", failed.notificationId, "--sent", "--yes"], 1, "is failed already"],
      [["--id", inFlight.notificationId, "--sent", "--yes"], 1, "may still be being sent"],
      [["--id", archived.notificationId, "--not-sent", "--yes"], 1, "is no longer in the outbox"],
      [["--id", tooOld.notificationId, "--not-sent", "--yes"], 1, "redelivery window (38 days)"],
      [
        ["--id", notRelayed.notificationId, "--not-sent", "--yes"],
        1,
        "is past the polling relay's checkpoint",
      ],
      [
        ["--id", tooOld.notificationId, "--not-sent", "--yes"],
        1,
        "--abandon records that it will not be sent",
      ],
      [["--id", "not-a-uuid", "--sent", "--yes"], 2, "--id not-a-uuid: must be a notification id"],
      [["--id", unknown.notificationId, "--sent", "--not-sent", "--yes"], 2, "--sent and --not-sent"],
      [["--id", unknown.notificationId, "--yes"], 2, "give --sent, --not-sent or --abandon"],
      [["--id", unknown.notificationId, "--not-sent", "--abandon", "--yes"], 2, "--not-sent and --abandon"],
      [["--abandon", "--yes"], 2, "--abandon: give the delivery's --id"],
      [["--id", sent.notificationId, "--abandon", "--yes"], 1, "is sent already"],
      [["--sent", "--yes"], 2, "--sent: give the delivery's --id"],
      [["--id", unknown.notificationId, "--not-sent", "--message-id", "x", "--yes"], 2, "only with --sent"],
      [
        ["--id", unknown.notificationId, "--sent", "--message-id", "a b", "--yes"],
        2,
        "--message-id: must be",
      ],
      // No terminal to ask, and no --yes.
      [["--id", unknown.notificationId, "--sent"], 2, "run it again with --yes"],
    ];
    for (const [args, exitCode, problem] of cases) {
      const { code, output } = await runCommand(...args);
      const command = args.join(" ");
      expect({ command, code }).toEqual({ command, code: exitCode });
      expect(output, command).toContain(problem);
      if (exitCode === 1) {
        expect(output.trim().split("\n"), command).toHaveLength(1);
        expect(output, command).toMatch(/^notifications:resolve refused: .*; nothing changed\n$/);
      }
    }
    expect(await tables()).toEqual(before);
  });
});

/** The request's outbox row made `days` old, behind the outbox's triggers (which refuse any UPDATE). */
async function backdated(eventId: string, days: number): Promise<void> {
  const admin = await own.db.$client.connect();
  try {
    await admin.query("SET session_replication_role = replica");
    await admin.query(
      "UPDATE outbox SET created_at = now() - make_interval(days => $2) WHERE event_id = $1",
      [eventId, days],
    );
  } finally {
    await admin.query("RESET session_replication_role");
    admin.release();
  }
}
