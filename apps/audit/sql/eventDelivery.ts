// One event of the history by its id, with whether it has reached Kafka. The polling relay records how far
// Kafka has acknowledged: every row at or before its checkpoint, (tx_id, position) <= the cursor. Debezium
// records its progress as a WAL position, which says nothing about one event: in Debezium mode, an event
// after the polling relay's last checkpoint (the handover) has an unknown delivery, and says so.
import type pg from "pg";
import { type RelayMode, readRelayMode } from "../../../db/outbox/relayMode.ts";
import { epochMicrosecondsSql, storedInstantText } from "../../../db/storedInstant.ts";
import { type HistoryEvent, type HistoryEventRow, historyColumns, historyEventOf } from "./historyPage.ts";

export interface DeliveredEvent extends HistoryEvent {
  /** Which relay publishes the outbox now. */
  relayMode: RelayMode;
  /** True when the polling relay's checkpoint covers the event; null when Debezium publishes it (unknown). */
  relayed: boolean | null;
  /**
   * When the checkpoint that covers the event was saved (the event was acknowledged by then at the latest), to
   * the microsecond updated_at holds, as answered.
   */
  checkpointSavedAt: string | null;
  /** The event's link in its aggregate's hash chain, hex; previousHash null for a first event or an audit event. */
  previousHash: string | null;
  hash: string;
}

export async function eventWithDelivery(pool: pg.Pool, eventId: string): Promise<DeliveredEvent | null> {
  const client = await pool.connect();
  try {
    const { mode } = await readRelayMode(client);
    const result = await client.query<
      HistoryEventRow &
        Pick<DeliveredEvent, "relayed" | "previousHash" | "hash"> & {
          checkpointSavedAtMicroseconds: string | null;
        }
    >(
      `SELECT ${historyColumns},
              coalesce((outbox.tx_id, outbox.position) <= (cursor.tx_id, cursor.position), false) AS relayed,
              CASE WHEN (outbox.tx_id, outbox.position) <= (cursor.tx_id, cursor.position)
                   THEN ${epochMicrosecondsSql("cursor.updated_at")} END AS "checkpointSavedAtMicroseconds",
              encode(outbox.previous_hash, 'hex') AS "previousHash", encode(outbox.hash, 'hex') AS "hash"
         FROM outbox
         LEFT JOIN relay_checkpoints AS cursor ON cursor.name = 'outbox'
        WHERE outbox.event_id = $1::uuid`,
      [eventId],
    );
    const row = result.rows[0];
    if (!row) return null;
    const { checkpointSavedAtMicroseconds, relayed, previousHash, hash, ...event } = row;
    return {
      ...historyEventOf(event),
      relayMode: mode,
      relayed: relayed || mode === "polling" ? relayed : null,
      // A saved time no answer can name (set by hand to `infinity`) says no more than no time: left out.
      checkpointSavedAt:
        checkpointSavedAtMicroseconds === null ? null : storedInstantText(checkpointSavedAtMicroseconds),
      previousHash,
      hash,
    };
  } finally {
    client.release();
  }
}
