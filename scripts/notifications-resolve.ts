// `npm run notifications:resolve [-- --id <notificationId> --sent [--message-id <id>] | --not-sent]`: lists the
// notification deliveries nobody knows the outcome of (what notification_deliveries_unresolved counts and the
// alert NotificationDeliveriesUnresolved fires on), and records what the mail provider said about one of them
// (consumers/notifications/deliveryResolutions.ts). Prints no personal data: the ledger holds none but the
// error codes, and of those only what reads as a code is shown.
import { confirm, parseCommand, refuseUnconfirmable, yesOption } from "../cli/command.ts";
import { reportFailure } from "../cli/failure.ts";
import { operatorName } from "../cli/operator.ts";
import { duration } from "../cli/progress.ts";
import { textTable } from "../cli/textTable.ts";
import { loadEnv } from "../config/env.ts";
import {
  deliveryToResolve,
  type ProviderAnswer,
  type RequestToReplay,
  resolveDelivery,
  type UnresolvedDelivery,
  unresolvedDeliveryList,
} from "../consumers/notifications/deliveryResolutions.ts";
import { NOTIFICATION_DELIVERY } from "../consumers/notifications/notificationDelivery.ts";
import { createDatabase } from "../db/client.ts";
import { databaseUrlOf } from "../stack/index.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A Message-ID as a provider reports it: printable ASCII without spaces (RFC 5322's msg-id is narrower). */
const MESSAGE_ID = /^[\x21-\x7e]{1,255}$/;

const { values, refuse } = parseCommand({
  usage: `usage: npm run notifications:resolve
       npm run notifications:resolve -- --id <notificationId> --sent [--message-id <id>] [--yes]
       npm run notifications:resolve -- --id <notificationId> --not-sent | --abandon [--yes]
  without --id, lists the deliveries nobody knows the outcome of: a claim still sending after 15 minutes (its
  sender died) and every send that failed in an unknown way. Check each with the mail provider, then record:
  --sent          the provider has the message: the delivery is sent (--message-id: the id it gave it)
  --not-sent      the provider never had it: the delivery is failed, and the command prints the replay that
                  sends it again, once
  --abandon       the provider never had it, and it is not to be sent (its request can no longer be replayed,
                  or the message is no longer worth sending): the delivery is failed, marked abandoned
  --yes, -y       do not ask for confirmation (needed when not run from a terminal)
  With --id it reads the delivery first (a missing or settled one is refused at once), shows it (state,
  attempts, age; nothing personal), then asks; it records the answer only if the delivery is still as it was
  read. README: "Consumers".`,
  options: {
    id: { type: "string" },
    sent: { type: "boolean", default: false },
    "not-sent": { type: "boolean", default: false },
    abandon: { type: "boolean", default: false },
    "message-id": { type: "string" },
    ...yesOption,
  },
});
const answer = providerAnswer();
const notificationId = values.id === undefined ? undefined : notificationIdOf(values.id);
// No one to ask (a script without --yes): refused before anything is read, as every destructive command is.
if (notificationId && answer) await refuseUnconfirmable(recording(notificationId, answer), values.yes);

const env = loadEnv();
const databaseUrl = await databaseUrlOf(env, (line) => console.error(line));
const db = createDatabase(databaseUrl, { max: 1, applicationName: "notifications-resolve" });
try {
  if (notificationId && answer) await resolve(notificationId, answer);
  else console.log(formatTable(await unresolvedDeliveryList(db)));
} catch (error) {
  process.exitCode = reportFailure(error, "notifications:resolve");
} finally {
  await db.$client.end();
}

/**
 * Reads the delivery first: one that does not exist or cannot be settled is refused before anyone is asked.
 * Then shows what is about to change, asks, and records it only if the delivery is still as it was read.
 */
async function resolve(id: string, answer: ProviderAnswer): Promise<void> {
  const found = await deliveryToResolve(db, id, answer);
  if (found.outcome === "refused") return refused(found.reason);
  const { delivery, replay } = found;
  console.log(deliveryShown(delivery, found.ageSeconds));
  await confirm(recording(id, answer), values.yes);
  const operator = operatorName();
  const resolution = await resolveDelivery(db, {
    delivery,
    answer,
    operator,
    consumer: NOTIFICATION_DELIVERY,
  });
  if (resolution.outcome === "changed") {
    return refused(
      `delivery ${id} changed while this ran (it is ${resolution.status ?? "gone"} now, it was ${delivery.status})`,
    );
  }
  if (answer.sent) {
    console.log(`delivery ${id} recorded as sent (operator ${operator})`);
    return;
  }
  if (!answer.sendAgain) {
    console.log(
      `delivery ${id} recorded as abandoned (operator ${operator}): it is failed, and nothing sends it`,
    );
    return;
  }
  console.log(
    `delivery ${id} recorded as not sent (operator ${operator}): it is failed, and may be sent again`,
  );
  if (replay) console.log(nextStep(replay));
}

/** What the command is about to record, as the question puts it. */
function recording(id: string, answer: ProviderAnswer): string {
  const as = answer.sent
    ? "sent"
    : answer.sendAgain
      ? "not sent, to be sent again"
      : "not sent, and never to be (abandoned)";
  return `Record delivery ${id} as ${as}`;
}

/**
 * The delivery as it was read, before anything changes: the ledger's own fields, as the listing shows them. No
 * recipient or content: the ledger holds none (the message went to the transport, not here).
 */
function deliveryShown(delivery: UnresolvedDelivery, ageSeconds: number): string {
  const attempts = `${delivery.attempts} attempt${delivery.attempts === 1 ? "" : "s"}`;
  const finished = delivery.finishedAt ? `, finished ${delivery.finishedAt.toISOString()}` : "";
  return (
    `delivery ${delivery.notificationId}: ${delivery.status}, ${attempts}, claimed ${delivery.claimedAt.toISOString()} ` +
    `(${duration(ageSeconds * 1000)} ago)${finished}, last error ${shownError(delivery.lastError)}; ` +
    `${delivery.channel} by ${delivery.transport}, request ${delivery.eventId}`
  );
}

/** Nothing was written: one line, exit code 1. */
function refused(reason: string): void {
  console.error(`notifications:resolve refused: ${reason}; nothing changed`);
  process.exitCode = 1;
}

/**
 * The request is acknowledged: the consumer received it long ago. A replay of its one outbox position hands it
 * to the consumer again, which now claims the failed delivery and sends it.
 */
function nextStep({ position }: RequestToReplay): string {
  return `to send it, replay its request: npm run replay -- --from-position ${position} --to-position ${position}`;
}

/** The answer the options give, or none (a listing); a contradictory or incomplete one is refused. */
function providerAnswer(): ProviderAnswer | undefined {
  const { id, sent, "not-sent": notSent, abandon, "message-id": messageId } = values;
  if (id === undefined) {
    const given = [
      sent && "--sent",
      notSent && "--not-sent",
      abandon && "--abandon",
      messageId !== undefined && "--message-id",
    ];
    const first = given.find(Boolean);
    if (first) refuse(`${first}: give the delivery's --id <notificationId>`);
    // The listing changes nothing and asks nothing: a --yes there was meant for a resolution not given.
    if (values.yes) refuse("--yes goes with --id and the provider's answer: nothing else asks");
    return undefined;
  }
  const answers = [sent && "--sent", notSent && "--not-sent", abandon && "--abandon"].filter(Boolean);
  if (answers.length > 1) refuse(`${answers.join(" and ")}: give one, what the mail provider said`);
  if (answers.length === 0)
    refuse(`--id ${id}: give --sent, --not-sent or --abandon, what the mail provider said`);
  if (messageId !== undefined && !sent) refuse("--message-id: only with --sent");
  if (messageId !== undefined && !MESSAGE_ID.test(messageId))
    refuse("--message-id: must be the provider's message id (printable characters, no spaces, at most 255)");
  return sent ? { sent: true, transportMessageId: messageId ?? null } : { sent: false, sendAgain: notSent };
}

/** An --id as notification ids are stored: a UUID in lower case (one in upper case is the same id). */
function notificationIdOf(value: string): string {
  const id = value.toLowerCase();
  if (!UUID.test(id)) refuse(`--id ${value}: must be a notification id (a UUID)`);
  return id;
}

/**
 * The ledger's last_error holds an error's class or code (`TimeoutError`, `smtp-451`); anything else is
 * withheld, so that no value of another kind (an address, were one ever written there) is printed.
 */
function shownError(lastError: string | null): string {
  if (lastError === null) return "-";
  return /^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(lastError) ? lastError : "(withheld)";
}

function formatTable(deliveries: readonly UnresolvedDelivery[]): string {
  if (deliveries.length === 0) return "no unresolved notification deliveries";
  const header = [
    "notification",
    "event",
    "channel",
    "transport",
    "status",
    "attempts",
    "claimed",
    "finished",
    "last error",
  ];
  const rows = deliveries.map((delivery) => [
    delivery.notificationId,
    delivery.eventId,
    delivery.channel,
    delivery.transport,
    delivery.status,
    String(delivery.attempts),
    delivery.claimedAt.toISOString(),
    delivery.finishedAt?.toISOString() ?? "-",
    shownError(delivery.lastError),
  ]);
  return [
    ...textTable(header, rows),
    `${deliveries.length} unresolved: check each with the mail provider, then record it with --id <notification> --sent, --not-sent or --abandon`,
  ].join("\n");
}
