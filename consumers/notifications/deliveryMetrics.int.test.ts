// notification_deliveries_unresolved counts, from the ledger, the deliveries nobody knows the outcome of: a
// claim older than any send takes (its sender died) and a send finished as unknown; not a send under way, not
// one that ended. In a database of its own: other files' deliveries would move the counts.
import { randomUUID } from "node:crypto";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ownDatabase } from "../../test/ownDatabase.ts";
import { registerDeliveryMetrics, SENDING_GIVEN_UP_AFTER_MS } from "./deliveryMetrics.ts";

const database = ownDatabase("delivery_metrics");
beforeAll(database.setUp);
afterAll(database.tearDown);

async function delivery(status: string, claimedMsAgo: number): Promise<void> {
  await database.db.$client.query(
    `INSERT INTO notification_deliveries (notification_id, event_id, channel, status, attempts, transport, claimed_at)
     VALUES ($1, $2, 'email', $3, 1, 'smtp', now() - make_interval(secs => $4))`,
    [randomUUID(), randomUUID(), status, claimedMsAgo / 1000],
  );
}

describe("notification_deliveries_unresolved", () => {
  it("counts the claims whose sender died and the unknown outcomes, and nothing else", async () => {
    const registry = new Registry();
    registerDeliveryMetrics(registry, database.db);
    const scrape = async () =>
      (await registry.metrics()).split("\n").filter((line) => line.startsWith("notification_"));
    const none = [
      'notification_deliveries_unresolved{status="sending"} 0',
      'notification_deliveries_unresolved{status="unknown"} 0',
    ];
    expect(await scrape()).toEqual(none);

    await delivery("sending", SENDING_GIVEN_UP_AFTER_MS + 60_000);
    await delivery("sending", SENDING_GIVEN_UP_AFTER_MS + 3_600_000);
    await delivery("sending", 1_000); // being sent now
    await delivery("unknown", 0);
    await delivery("sent", SENDING_GIVEN_UP_AFTER_MS * 10);
    await delivery("failed", SENDING_GIVEN_UP_AFTER_MS * 10);
    expect(await scrape()).toEqual([
      'notification_deliveries_unresolved{status="sending"} 2',
      'notification_deliveries_unresolved{status="unknown"} 1',
    ]);

    // Resolved by a person: the counts fall to 0, and say so.
    await database.db.$client.query(
      "UPDATE notification_deliveries SET status = 'failed' WHERE status <> 'sent'",
    );
    expect(await scrape()).toEqual(none);
  });
});
