// `npm run dlq -- list [<topic>...] [--all]` and `npm run dlq -- redrive <topic> [--event <eventId>]...`:
// lists the dead letters not yet re-driven (all of them with --all), and re-drives them to their topic once
// the cause is fixed, unless one is no committed event or would be applied over newer events of its aggregate
// (then none, or with --skip-superseded the others). Topics may be named with or without `.dlq`. Payloads are never printed: they
// hold PHI.
import { confirm, parseCommand } from "../cli/command.ts";
import { reportFailure } from "../cli/failure.ts";
import { printable } from "../cli/printable.ts";
import { type Progress, startProgress } from "../cli/progress.ts";
import { loadEnv } from "../config/env.ts";
import { createDatabase, type Database } from "../db/client.ts";
import { createKafka } from "../kafka/client.ts";
import { databaseUrlOf, kafkaBrokersOf } from "../stack/index.ts";
import {
  DeadLettersSuperseded,
  deadLetterTopics,
  listDeadLettersOf,
  NoDeadLettersToRedrive,
  originalTopic,
  redriveDeadLetters,
  resolveDeadLetterTopic,
} from "./deadLetters/deadLetterQueue.ts";
import { deadLetterTable } from "./deadLetters/deadLetterTable.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const { positionals, values, refuse } = parseCommand({
  usage: `usage: npm run dlq -- list [<topic>...] [--all]
       npm run dlq -- redrive <topic> [--event <id>]... [--skip-superseded] [--yes]
  list      the dead letters not yet re-driven (--all: every retained one)
  redrive   sends them back to their topic (--event: only those events); asks first (--yes, -y: do not ask,
            needed when not run from a terminal). Refused, sending nothing, when one is not the committed
            event it names, or would be applied over newer events of its aggregate (its consumer has
            applied one since, or it is older than its topic's redelivery window); --skip-superseded sends
            the others and leaves those parked
  A topic may be named with or without .dlq.`,
  allowPositionals: true,
  options: {
    all: { type: "boolean", default: false },
    event: { type: "string", multiple: true },
    "skip-superseded": { type: "boolean", default: false },
    yes: { type: "boolean", short: "y", default: false },
  },
  subcommands: { list: ["all"], redrive: ["event", "skip-superseded", "yes"] },
});
const [command, ...topicArgs] = positionals;
if (command !== "list" && command !== "redrive")
  refuse(command ? `unknown command ${command}` : "list or redrive?");
if (command === "redrive" && topicArgs.length === 0)
  refuse("name the dead-letter topic to redrive (npm run dlq -- list shows those holding letters)");
if (command === "redrive" && topicArgs.length > 1) refuse("redrive one topic at a time");
const chosenTopics = topicArgs.map((name) => {
  try {
    return resolveDeadLetterTopic(name);
  } catch (error) {
    return refuse((error as Error).message);
  }
});
const twice = chosenTopics.find((topic, index) => chosenTopics.indexOf(topic) !== index);
if (twice) refuse(`${twice} is named more than once; name each topic once`);
const chosenEvents = values.event?.map(eventIdOf);
// Refused as a topic named twice is: the question counted it twice ("2 chosen event(s)" for one event).
const eventTwice = chosenEvents?.find((eventId, index) => chosenEvents.indexOf(eventId) !== index);
if (eventTwice) refuse(`--event ${eventTwice} is given more than once; name each event once`);
const redriveTopic = command === "redrive" ? chosenTopics[0] : undefined;
// Before the question: a bad or misspelt variable is refused without asking first.
const env = loadEnv();
const brokers = kafkaBrokersOf(env);
if (redriveTopic) {
  const which = chosenEvents
    ? // An event may be parked several times (once by each consumer that gave up on it, again after a re-drive).
      `every dead letter of ${chosenEvents.length} chosen event(s)`
    : "every dead letter not yet re-driven";
  await confirm(`Re-drive ${which} from ${redriveTopic} to ${originalTopic(redriveTopic)}`, values.yes);
}

const kafka = createKafka({ brokers, clientId: "dlq-command" });
const admin = kafka.admin();
let db: Database | undefined;

try {
  if (command === "list") {
    await admin.connect();
    const chosen = chosenTopics.length > 0 ? chosenTopics : deadLetterTopics;
    const letters = await listDeadLettersOf(kafka, admin, chosen, { all: values.all });
    console.log(deadLetterTable(letters));
  } else if (redriveTopic) {
    // The outbox orders each aggregate's events, and the consumers' inboxes say what each has applied.
    const databaseUrl = await databaseUrlOf(env, (line) => console.error(line));
    db = createDatabase(databaseUrl, { max: 1, applicationName: "dlq-command" });
    await admin.connect();
    const eventIds = chosenEvents ? new Set(chosenEvents) : undefined;
    let progress: Progress | undefined;
    const { redriven, skipped } = await redriveDeadLetters(kafka, admin, db, redriveTopic, {
      eventIds,
      skipSuperseded: values["skip-superseded"],
      waiting: () => console.error(`waiting for another re-drive of ${redriveTopic} to end`),
      progress: (records) => {
        progress = startProgress({ label: "redrive", total: records, unit: "dead letters" });
        return progress;
      },
    }).catch((error) => {
      progress?.finish("stopped");
      throw error;
    });
    // What it read, of which each chosen letter was either sent back or left parked (the stdout table's).
    progress?.finish(`read (${redriven.length} sent back, ${skipped.length} left parked)`);
    console.log(deadLetterTable(redriven));
    for (const { reason } of skipped) console.log(`left parked: ${printable(reason)}`);
    console.log(
      `re-drove ${redriven.length} dead letter(s) from ${redriveTopic} to ${originalTopic(redriveTopic)}` +
        (skipped.length > 0 ? `; left ${skipped.length} parked (above)` : ""),
    );
  }
} catch (error) {
  if (error instanceof DeadLettersSuperseded) {
    // Its own line breaks kept, what it quotes of each dead letter escaped.
    console.error(error.render(printable));
    process.exitCode = 1;
  } else if (error instanceof NoDeadLettersToRedrive) {
    console.error(`dlq ${command} failed: ${printable(error.message)}`);
    process.exitCode = 1;
  } else process.exitCode = reportFailure(error, `dlq ${command}`);
} finally {
  await admin.disconnect();
  await db?.$client.end();
}

/** An --event value as event ids are stored: a UUID in lower case (one in upper case is the same id). */
function eventIdOf(value: string): string {
  const eventId = value.toLowerCase();
  if (!UUID.test(eventId)) refuse(`--event ${value}: must be an event id (a UUID)`);
  return eventId;
}
