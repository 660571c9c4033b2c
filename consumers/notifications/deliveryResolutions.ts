// What a person found out about a delivery nobody knew the outcome of (a `sending` claim whose sender died, an
// `unknown` send), after asking the mail provider: `npm run notifications:resolve` lists those deliveries and
// records the answer. `sent` ends the delivery; `not sent` makes it `failed`, the one state a request claims
// again, and forgets the request in the delivery consumer's inbox, so that a replay of the request (the command
// prints it) is delivered rather than dropped as a duplicate, and sends the message once. `abandoned` is not
// sent either, and is not to be: `failed` too, marked `abandoned`, its request left in the inbox, so that nothing
// sends it (for a request no replay can deliver any more, or a message no longer worth sending). "Not sent" is
// refused, changing nothing, for a request no replay could send again: archived, older than its topic's
// redelivery window, or past the polling relay's checkpoint (in Debezium mode, written after the switch).
import { connectionOf, type Database, writeTransaction } from "../../db/client.ts";
import { isTopicName, rememberedSince } from "../../events/index.ts";
import { SENDING_GIVEN_UP_AFTER_MS, UNRESOLVED_DELIVERY } from "./deliveryMetrics.ts";

const GIVEN_UP_AFTER_SECONDS = SENDING_GIVEN_UP_AFTER_MS / 1000;

export interface UnresolvedDelivery {
  notificationId: string;
  /** The notification-events record that asked for it. */
  eventId: string;
  channel: string;
  transport: string;
  status: "sending" | "unknown";
  attempts: number;
  claimedAt: Date;
  finishedAt: Date | null;
  /** The ledger's code for the last failure (an error's class or code), never the message's content. */
  lastError: string | null;
  transportMessageId: string | null;
}

const DELIVERY_COLUMNS = `notification_id AS "notificationId", event_id AS "eventId", channel, transport, status,
       attempts, claimed_at AS "claimedAt", finished_at AS "finishedAt", last_error AS "lastError",
       transport_message_id AS "transportMessageId"`;

/** Every unresolved delivery, oldest claim first: what notification_deliveries_unresolved counts. */
export async function unresolvedDeliveryList(db: Database): Promise<UnresolvedDelivery[]> {
  const { rows } = await db.$client.query<UnresolvedDelivery>(
    `SELECT ${DELIVERY_COLUMNS} FROM notification_deliveries
      WHERE status IN ('sending', 'unknown') AND ${UNRESOLVED_DELIVERY}
      ORDER BY claimed_at, notification_id`,
    [GIVEN_UP_AFTER_SECONDS],
  );
  return rows;
}

/**
 * What the provider said: sent (with its message id, when it gave one), or not sent; and, when not sent,
 * whether it is to be sent again.
 */
export type ProviderAnswer =
  | { sent: true; transportMessageId: string | null }
  | { sent: false; sendAgain: boolean };

/** The ledger's last_error of a delivery a person decided not to send. */
export const ABANDONED = "abandoned";

/** Where a request to send again is in the outbox: `npm run replay` of that one position delivers it again. */
export interface RequestToReplay {
  position: string;
  topic: string;
}

export type DeliveryToResolve =
  | {
      outcome: "found";
      delivery: UnresolvedDelivery;
      /** Seconds since it was claimed, by the database's clock. */
      ageSeconds: number;
      replay: RequestToReplay | null;
    }
  | { outcome: "refused"; reason: string };

/**
 * The delivery, when it is unresolved and the answer can be recorded: a delivery in any other state, or a
 * claim too young to say its sender died, is refused; so is "not sent" for a request that no replay could
 * deliver again (no longer in the outbox, or older than its topic's redelivery window).
 */
export async function deliveryToResolve(
  db: Database,
  notificationId: string,
  answer: ProviderAnswer,
  now: Date = new Date(),
): Promise<DeliveryToResolve> {
  const { rows } = await db.$client.query<
    UnresolvedDelivery & { unresolved: boolean; ageSeconds: number; resolvedBy: string | null }
  >(
    `SELECT ${DELIVERY_COLUMNS}, ${UNRESOLVED_DELIVERY} AS unresolved, resolved_by AS "resolvedBy",
            floor(extract(epoch FROM now() - claimed_at))::float8 AS "ageSeconds"
       FROM notification_deliveries WHERE notification_id = $2`,
    [GIVEN_UP_AFTER_SECONDS, notificationId],
  );
  const [found] = rows;
  if (!found) return refused(`no delivery ${notificationId} in notification_deliveries`);
  const { unresolved, ageSeconds, resolvedBy, ...delivery } = found;
  // Typed as what the answer may settle; the row holds any status.
  const status: string = delivery.status;
  if (status === "failed" && resolvedBy !== null && delivery.lastError !== ABANDONED) {
    return refused(await recordedNotSent(db, notificationId, delivery.eventId, resolvedBy));
  }
  if (delivery.status !== "sending" && delivery.status !== "unknown") {
    return refused(
      `delivery ${notificationId} is ${delivery.status} already: only an unresolved one (unknown, or sending for over ${SENDING_GIVEN_UP_AFTER_MS / 60_000} minutes) is settled here`,
    );
  }
  if (!unresolved) {
    return refused(
      `delivery ${notificationId} was claimed ${ageSeconds} s ago and may still be being sent: a sending claim is unresolved once it is ${SENDING_GIVEN_UP_AFTER_MS / 60_000} minutes old`,
    );
  }
  if (answer.sent || !answer.sendAgain) return { outcome: "found", delivery, ageSeconds, replay: null };
  const request = await requestInOutbox(db, delivery.eventId);
  if (!request) {
    return refused(
      `the request of delivery ${notificationId} (event ${delivery.eventId}) is no longer in the outbox (archived): no replay could send it again (--abandon records that it will not be sent)`,
    );
  }
  const remembered = isTopicName(request.topic) ? rememberedSince(request.topic, now) : null;
  if (remembered && request.createdAt < remembered.since) {
    return refused(
      `the request of delivery ${notificationId} (event ${delivery.eventId}) is older than ${request.topic}'s redelivery window (${remembered.days} days): a replay of it would be refused, so nothing could send it again (--abandon records that it will not be sent)`,
    );
  }
  const unreplayable = pastPollingCheckpoint(notificationId, delivery.eventId, request);
  if (unreplayable) return refused(unreplayable);
  return {
    outcome: "found",
    delivery,
    ageSeconds,
    replay: { position: request.position, topic: request.topic },
  };
}

/**
 * A delivery recorded as not sent, to be sent again, that no claim has taken since (a claim clears resolved_by):
 * its replay has still to run. A run stopped after it committed, before it printed the replay (a kill, a
 * connection lost at commit), leaves no other trace of it: run again, it names the replay.
 */
async function recordedNotSent(
  db: Database,
  notificationId: string,
  eventId: string,
  operator: string,
): Promise<string> {
  const recorded = `delivery ${notificationId} was recorded as not sent already (operator ${operator}), and nothing has claimed it since`;
  const request = await requestInOutbox(db, eventId);
  return request
    ? `${recorded}: to send it, replay its request: npm run replay -- --from-position ${request.position} --to-position ${request.position}`
    : `${recorded}; its request (event ${eventId}) is no longer in the outbox (archived), so no replay can send it`;
}

function refused(reason: string): DeliveryToResolve {
  return { outcome: "refused", reason };
}

/** The request's outbox row, and what the replay's rule weighs it against: the polling relay's checkpoint. */
interface RequestRow {
  position: string;
  topic: string;
  createdAt: Date;
  /** Whether the polling relay's checkpoint covers it: what `npm run replay` to its own topic requires. */
  withinCheckpoint: boolean;
  checkpoint: { txId: string; position: string } | null;
  relayMode: "polling" | "debezium";
  /** When the relay mode last changed (the switch to Debezium, in Debezium mode); null: never switched. */
  modeSince: Date | null;
}

async function requestInOutbox(db: Database, eventId: string): Promise<RequestRow | undefined> {
  const { rows } = await db.$client.query<
    Omit<RequestRow, "checkpoint"> & { checkpointTxId: string | null; checkpointPosition: string | null }
  >(
    `SELECT outbox.position::text AS position, outbox.topic, outbox.created_at AS "createdAt",
            coalesce((outbox.tx_id, outbox.position) <= (cursor.tx_id, cursor.position), false) AS "withinCheckpoint",
            cursor.tx_id::text AS "checkpointTxId", cursor.position::text AS "checkpointPosition",
            coalesce(mode.mode, 'polling') AS "relayMode", mode.changed_at AS "modeSince"
       FROM outbox
       LEFT JOIN relay_checkpoints AS cursor ON cursor.name = $2
       LEFT JOIN relay_mode AS mode ON mode.singleton
      WHERE outbox.event_id = $1`,
    [eventId, POLLING_RELAY],
  );
  const [row] = rows;
  if (!row) return undefined;
  const { checkpointTxId, checkpointPosition, ...request } = row;
  const checkpoint =
    checkpointTxId === null || checkpointPosition === null
      ? null
      : { txId: checkpointTxId, position: checkpointPosition };
  return { ...request, checkpoint };
}

/** The polling relay's name: its checkpoint is what a replay to a record's own topic reads (relay/replay/). */
const POLLING_RELAY = "outbox";

/**
 * Why the replay the command would print could not run, or null when it can. `npm run replay` sends a record to
 * its own topic only when the polling relay's checkpoint covers it (relay/replay/replayRule.ts). In polling mode
 * a request its consumer received is covered; in Debezium mode the checkpoint stays where the switch left it,
 * and Debezium's progress (a WAL position) says nothing about one event, so a request written after the switch
 * cannot be replayed to its topic until the polling relay is the relay again and has passed it.
 */
function pastPollingCheckpoint(notificationId: string, eventId: string, request: RequestRow): string | null {
  if (request.withinCheckpoint) return null;
  const checkpoint = request.checkpoint
    ? `tx ${request.checkpoint.txId}, position ${request.checkpoint.position}`
    : "none saved";
  const which = `the request of delivery ${notificationId} (event ${eventId}, outbox position ${request.position})`;
  if (request.relayMode === "debezium") {
    const since = request.modeSince ? ` since ${request.modeSince.toISOString()}` : "";
    return (
      `${which} was published by Debezium (the relay${since}), after the polling relay's last checkpoint (${checkpoint}); ` +
      "npm run replay sends a request to its own topic only where that checkpoint covers it (Debezium's progress " +
      "says nothing about one event), so it would refuse this one. To send it again, make the polling relay the relay " +
      "first (npm run relay:switch -- polling) and run this again once it has passed the request (npm run relay:status); " +
      "or record it with --abandon and send the message another way"
    );
  }
  return (
    `${which} is past the polling relay's checkpoint (${checkpoint}): npm run replay would refuse it until the relay ` +
    "has published it. Check the relay (npm run relay:status), and run this again once its checkpoint has passed the request"
  );
}

export type Resolution = { outcome: "resolved" } | { outcome: "changed"; status: string | null };

/**
 * Records the provider's answer for a delivery found unresolved, if it still is as it was found: a sender
 * that finished it meanwhile, or anyone else's change, is kept, and nothing is written. "Not sent", to be sent
 * again, also removes the request from `consumer`'s inbox, in the same transaction.
 */
export async function resolveDelivery(
  db: Database,
  options: { delivery: UnresolvedDelivery; answer: ProviderAnswer; operator: string; consumer: string },
): Promise<Resolution> {
  const { delivery, answer, operator, consumer } = options;
  return writeTransaction(db, async (tx) => {
    const connection = connectionOf(tx);
    const settled = await connection.query(
      `UPDATE notification_deliveries
          SET status = $3, transport_message_id = $4, last_error = $5, finished_at = now(), resolved_by = $6
        WHERE notification_id = $2 AND status = $7 AND attempts = $8 AND ${UNRESOLVED_DELIVERY}`,
      [
        GIVEN_UP_AFTER_SECONDS,
        delivery.notificationId,
        answer.sent ? "sent" : "failed",
        answer.sent ? answer.transportMessageId : delivery.transportMessageId,
        // A sent message failed nothing; one not sent keeps what its send ran into, unless it is abandoned.
        answer.sent ? null : answer.sendAgain ? delivery.lastError : ABANDONED,
        operator,
        delivery.status,
        delivery.attempts,
      ],
    );
    if (settled.rowCount !== 1) {
      const now = await connection.query<{ status: string }>(
        "SELECT status FROM notification_deliveries WHERE notification_id = $1",
        [delivery.notificationId],
      );
      return { outcome: "changed", status: now.rows[0]?.status ?? null };
    }
    if (!answer.sent && answer.sendAgain) {
      await connection.query("DELETE FROM consumer_inbox WHERE consumer = $1 AND event_id = $2", [
        consumer,
        delivery.eventId,
      ]);
    }
    return { outcome: "resolved" };
  });
}
