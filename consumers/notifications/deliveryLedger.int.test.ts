// The delivery ledger on the real database: a notification is claimed once, claimed again only after a send
// known to have failed, and every outcome is kept with what the transport said.
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { notificationDeliveries } from "../../db/schema.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { claimDelivery, finishDelivery } from "./deliveryLedger.ts";

const db = testDatabase();
afterAll(async () => {
  await db.$client.end();
});

const delivery = (notificationId: string) => ({
  notificationId,
  eventId: randomUUID(),
  channel: "email" as const,
  transport: "recording",
});

async function ledgerRow(notificationId: string) {
  const [row] = await db
    .select()
    .from(notificationDeliveries)
    .where(eq(notificationDeliveries.notificationId, notificationId));
  return row;
}

describe("the notification delivery ledger", () => {
  it("claims a new delivery once: a second claim finds it being sent, and then sent", async () => {
    const id = randomUUID();
    const first = delivery(id);
    expect(await claimDelivery(db.$client, first)).toEqual({ claimed: true, attempts: 1 });
    expect(await claimDelivery(db.$client, delivery(id))).toEqual({ claimed: false, status: "sending" });

    await finishDelivery(db.$client, id, { status: "sent", transportMessageId: "recorded-1" });
    expect(await claimDelivery(db.$client, delivery(id))).toEqual({ claimed: false, status: "sent" });
    expect(await ledgerRow(id)).toMatchObject({
      eventId: first.eventId,
      status: "sent",
      attempts: 1,
      transportMessageId: "recorded-1",
      lastError: null,
    });
    expect((await ledgerRow(id))?.finishedAt).toBeInstanceOf(Date);
  });

  it("claims again after a failed send, counting the attempt, under the new request's event", async () => {
    const id = randomUUID();
    await claimDelivery(db.$client, delivery(id));
    await finishDelivery(db.$client, id, { status: "failed", error: "ECONNREFUSED" });
    expect(await ledgerRow(id)).toMatchObject({ status: "failed", lastError: "ECONNREFUSED" });

    const retry = { ...delivery(id), transport: "smtp" };
    expect(await claimDelivery(db.$client, retry)).toEqual({ claimed: true, attempts: 2 });
    expect(await ledgerRow(id)).toMatchObject({
      eventId: retry.eventId,
      transport: "smtp",
      status: "sending",
      attempts: 2,
      finishedAt: null,
    });
  });

  it("never claims a send whose outcome is unknown", async () => {
    const id = randomUUID();
    await claimDelivery(db.$client, delivery(id));
    await finishDelivery(db.$client, id, { status: "unknown", error: "TimeoutError" });
    expect(await claimDelivery(db.$client, delivery(id))).toEqual({ claimed: false, status: "unknown" });
    expect(await ledgerRow(id)).toMatchObject({ status: "unknown", attempts: 1, lastError: "TimeoutError" });
  });
});
