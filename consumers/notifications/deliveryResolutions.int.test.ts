// A delivery nobody knew the outcome of, settled as not sent (deliveryResolutions.ts, what `npm run
// notifications:resolve --not-sent` does), is sent once by the replay the command names: on the real pipeline,
// the request relayed to Kafka, delivered by the delivery consumer, and replayed by `npm run replay`. The
// transport stands in for a mail service that lost the connection after the message was handed over the
// first time; the ledger, the inbox and the recorded message are the real tables. And a resolution never
// overwrites a sender that finished the delivery meanwhile.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import { exampleEvent } from "../../events/examples.ts";
import { handledBy } from "../../test/consumers/inbox.ts";
import { type StartedConsumer, startTestConsumer } from "../../test/consumers/inProcess.ts";
import {
  eventually,
  kafkaBrokers,
  silentLog,
  startRelay,
  testDatabase,
  testEventContext,
} from "../../test/fixtures.ts";
import { runReplay } from "../../test/replayCommand.ts";
import { claimDelivery, finishDelivery } from "./deliveryLedger.ts";
import { deliveryToResolve, resolveDelivery } from "./deliveryResolutions.ts";
import { notificationDeliveryConsumer } from "./notificationDelivery.ts";
import { recordingTransport } from "./transports/recordingTransport.ts";
import type { NotificationTransport } from "./transports/transport.ts";

const db = testDatabase();
const relay = startRelay();
let consumer: StartedConsumer;
/** Sends of these notifications fail in a way that may have gone out: the ledger says `unknown`. */
const lostOnce = new Set<string>();
beforeAll(async () => {
  const recording = recordingTransport(db);
  // Over a connection to another system: no send in the ledger's transaction, as over SMTP.
  const mailService: NotificationTransport = {
    name: "smtp",
    async send(message) {
      if (lostOnce.delete(message.notificationId))
        throw new Error("connection lost after the message was handed over");
      return recording.send(message);
    },
  };
  const delivery = notificationDeliveryConsumer({
    transports: { email: mailService, sms: mailService },
    log: silentLog,
  });
  consumer = await startTestConsumer(delivery, { db, kafkaBrokers: kafkaBrokers() });
});
afterAll(async () => {
  await consumer.stop();
  await relay.stop();
  await db.$client.end();
});

async function ledgerRow(notificationId: string) {
  const { rows } = await db.$client.query(
    `SELECT status, attempts, resolved_by AS "resolvedBy" FROM notification_deliveries WHERE notification_id = $1`,
    [notificationId],
  );
  return rows[0];
}

async function sentMessages(notificationId: string): Promise<number> {
  const { rows } = await db.$client.query<{ sent: number }>(
    "SELECT count(*)::int AS sent FROM recorded_notifications WHERE notification_id = $1",
    [notificationId],
  );
  return rows[0]?.sent ?? 0;
}

describe("a delivery settled as not sent", () => {
  it("is sent once by the replay of its request", async () => {
    const notificationId = randomUUID();
    lostOnce.add(notificationId);
    const [request] = await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [
        exampleEvent("notification.email.requested", { notificationId, patientId: randomUUID() }),
      ]),
    );
    const eventId = request?.eventId ?? "";
    await handledBy(db, consumer.name, [eventId]);
    expect(await ledgerRow(notificationId)).toMatchObject({ status: "unknown", attempts: 1 });
    // As the alert's 10 minutes and the provider's answer would find it.
    const found = await deliveryToResolve(db, notificationId, { sent: false, sendAgain: true });
    if (found.outcome !== "found" || !found.replay)
      throw new Error(`not resolvable: ${JSON.stringify(found)}`);
    const resolution = await resolveDelivery(db, {
      delivery: found.delivery,
      answer: { sent: false, sendAgain: true },
      operator: "tester",
      consumer: consumer.name,
    });
    expect(resolution).toEqual({ outcome: "resolved" });
    expect(await sentMessages(notificationId)).toBe(0);

    const { position } = found.replay;
    const replay = await runReplay(["--from-position", position, "--to-position", position, "--yes"]);
    expect(replay).toMatchObject({ code: 0 });

    await eventually(async () => (await ledgerRow(notificationId))?.status === "sent");
    expect(await ledgerRow(notificationId)).toMatchObject({ status: "sent", attempts: 2, resolvedBy: null });
    expect(await sentMessages(notificationId)).toBe(1);
  });

  it("is not recorded over a sender that finished the delivery after it was read", async () => {
    const notificationId = randomUUID();
    const delivery = { notificationId, eventId: randomUUID(), channel: "email" as const, transport: "smtp" };
    await claimDelivery(db.$client, delivery);
    await finishDelivery(db.$client, notificationId, { status: "unknown", error: "Error" });
    const found = await deliveryToResolve(db, notificationId, { sent: true, transportMessageId: null });
    if (found.outcome !== "found") throw new Error(`not resolvable: ${JSON.stringify(found)}`);
    // Someone else settles it first.
    await finishDelivery(db.$client, notificationId, {
      status: "sent",
      transportMessageId: "<first@example>",
    });

    const resolution = await resolveDelivery(db, {
      delivery: found.delivery,
      answer: { sent: false, sendAgain: true },
      operator: "tester",
      consumer: consumer.name,
    });

    expect(resolution).toEqual({ outcome: "changed", status: "sent" });
    expect(await ledgerRow(notificationId)).toMatchObject({ status: "sent", resolvedBy: null });
  });
});
