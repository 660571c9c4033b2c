// The delivery ledger's SQL. A delivery is claimed in its own committed statement before the transport is
// called: whatever happens next, a redelivered request finds the claim and does not send again. (A transport
// that writes to this database claims, sends and finishes in one transaction instead: notificationDelivery.ts.) Every
// notification runs these: named statements, parsed and planned once per pooled connection.
import type pg from "pg";

/** The pool (each statement committed on its own), or a connection in an open transaction. */
type Queryable = pg.Pool | pg.PoolClient;

export type Claim =
  | { claimed: true; attempts: number }
  /** Sent already, being sent (or the sender died mid-send), or sent with an unknown outcome. */
  | { claimed: false; status: string };

/** One notification's delivery: the request that asked for it, and the transport it goes out by. */
export interface Delivery {
  notificationId: string;
  eventId: string;
  channel: "email" | "sms";
  transport: string;
}

/** Claims the delivery, unless it exists in any state but `failed` (a send known not to have happened). */
export async function claimDelivery(on: Queryable, delivery: Delivery): Promise<Claim> {
  const claimed = await on.query<{ attempts: number }>({
    name: "notification-delivery.claim.v2",
    text: `INSERT INTO notification_deliveries AS delivery
                  (notification_id, event_id, channel, transport, status, attempts, claimed_at)
           VALUES ($1, $2, $3, $4, 'sending', 1, now())
           ON CONFLICT (notification_id) DO UPDATE
              SET status = 'sending', attempts = delivery.attempts + 1, event_id = EXCLUDED.event_id,
                  transport = EXCLUDED.transport, claimed_at = EXCLUDED.claimed_at, finished_at = NULL,
                  resolved_by = NULL
            WHERE delivery.status = 'failed'
           RETURNING attempts`,
    values: [delivery.notificationId, delivery.eventId, delivery.channel, delivery.transport],
  });
  const [row] = claimed.rows;
  if (row) return { claimed: true, attempts: row.attempts };
  const existing = await on.query<{ status: string }>({
    name: "notification-delivery.status.v1",
    text: "SELECT status FROM notification_deliveries WHERE notification_id = $1",
    values: [delivery.notificationId],
  });
  return { claimed: false, status: existing.rows[0]?.status ?? "unknown" };
}

export async function finishDelivery(
  on: Queryable,
  notificationId: string,
  outcome:
    | { status: "sent"; transportMessageId: string | null }
    | { status: "failed" | "unknown"; error: string },
): Promise<void> {
  await on.query({
    name: "notification-delivery.finish.v1",
    text: `UPDATE notification_deliveries
              SET status = $2, transport_message_id = $3, last_error = $4, finished_at = now()
            WHERE notification_id = $1`,
    values: [
      notificationId,
      outcome.status,
      outcome.status === "sent" ? outcome.transportMessageId : null,
      outcome.status === "sent" ? null : outcome.error,
    ],
  });
}
