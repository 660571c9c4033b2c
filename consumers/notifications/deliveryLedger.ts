// The delivery ledger's SQL. A delivery is claimed in its own committed statement before the transport is
// called: whatever happens next, a redelivered request finds the claim and does not send again.
import { eq, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { notificationDeliveries } from "../../db/schema.ts";

export type Claim =
  | { claimed: true; attempts: number }
  /** Sent already, being sent (or the sender died mid-send), or sent with an unknown outcome. */
  | { claimed: false; status: string };

/** Claims the delivery, unless it exists in any state but `failed` (a send known not to have happened). */
export async function claimDelivery(
  db: Database,
  delivery: { notificationId: string; eventId: string; channel: "email" | "sms"; transport: string },
): Promise<Claim> {
  const now = new Date();
  const [claimed] = await db
    .insert(notificationDeliveries)
    .values({ ...delivery, status: "sending", attempts: 1, claimedAt: now })
    .onConflictDoUpdate({
      target: notificationDeliveries.notificationId,
      set: {
        status: "sending",
        attempts: sql`${notificationDeliveries.attempts} + 1`,
        eventId: delivery.eventId,
        transport: delivery.transport,
        claimedAt: now,
        finishedAt: null,
      },
      setWhere: eq(notificationDeliveries.status, "failed"),
    })
    .returning({ attempts: notificationDeliveries.attempts });
  if (claimed) return { claimed: true, attempts: claimed.attempts };
  const [existing] = await db
    .select({ status: notificationDeliveries.status })
    .from(notificationDeliveries)
    .where(eq(notificationDeliveries.notificationId, delivery.notificationId));
  return { claimed: false, status: existing?.status ?? "unknown" };
}

export async function finishDelivery(
  db: Database,
  notificationId: string,
  outcome:
    | { status: "sent"; transportMessageId: string | null }
    | { status: "failed" | "unknown"; error: string },
): Promise<void> {
  await db
    .update(notificationDeliveries)
    .set({
      status: outcome.status,
      transportMessageId: outcome.status === "sent" ? outcome.transportMessageId : null,
      lastError: outcome.status === "sent" ? null : outcome.error,
      finishedAt: new Date(),
    })
    .where(eq(notificationDeliveries.notificationId, notificationId));
}
