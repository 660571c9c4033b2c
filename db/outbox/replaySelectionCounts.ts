// How many rows a replay selects, per topic, and how many of them the relay has not published yet (after its
// checkpoint): what `npm run replay -- --dry-run` prints, the progress's total, and the input of the rule
// that refuses a replay which would interleave with the live relay (relay/replay/replayRule.ts).
import type { ClientBase } from "pg";
import type { RelayCursor } from "./relayCheckpoint.ts";
import { type ReplayFilter, replayConditions } from "./replayRows.ts";

export interface TopicSelection {
  topic: string;
  events: number;
  /** Selected rows after the relay's checkpoint. */
  unpublished: number;
  /** When the oldest selected row was written. */
  oldest: Date;
}

export async function replaySelectionCounts(
  client: ClientBase,
  filter: ReplayFilter,
  range: { after: RelayCursor; through: RelayCursor },
  checkpoint: RelayCursor,
): Promise<TopicSelection[]> {
  const values: unknown[] = [checkpoint.txId, checkpoint.position];
  const where = replayConditions(filter, range.after, range.through, values);
  const result = await client.query<TopicSelection>(
    `SELECT outbox.topic, count(*)::float8 AS events,
            (count(*) FILTER (WHERE (outbox.tx_id, outbox.position) > ($1::xid8, $2::bigint)))::float8 AS unpublished,
            min(outbox.created_at) AS oldest
       FROM outbox
      WHERE ${where}
      GROUP BY outbox.topic
      ORDER BY outbox.topic`,
    values,
  );
  return result.rows;
}
