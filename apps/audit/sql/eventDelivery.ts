// One event of the history by its id, with whether the polling relay has delivered it: Kafka acknowledged
// every row at or before the relay's checkpoint, (tx_id, position) <= the cursor.
import type pg from "pg";
import { type HistoryEvent, historyColumns } from "./historyPage.ts";

export interface DeliveredEvent extends HistoryEvent {
  relayed: boolean;
  /** When the checkpoint that covers the event was saved: the event was acknowledged by then at the latest. */
  checkpointSavedAt: Date | null;
}

export async function eventWithDelivery(pool: pg.Pool, eventId: string): Promise<DeliveredEvent | null> {
  const result = await pool.query<DeliveredEvent>(
    `SELECT ${historyColumns},
            coalesce((outbox.tx_id, outbox.position) <= (cursor.tx_id, cursor.position), false) AS relayed,
            CASE WHEN (outbox.tx_id, outbox.position) <= (cursor.tx_id, cursor.position)
                 THEN cursor.updated_at END AS "checkpointSavedAt"
       FROM outbox
       LEFT JOIN relay_checkpoints AS cursor ON cursor.name = 'outbox'
      WHERE outbox.event_id = $1::uuid`,
    [eventId],
  );
  return result.rows[0] ?? null;
}
