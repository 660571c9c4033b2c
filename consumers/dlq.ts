// `npm run dlq -- list [<topic>...] [--all]` and `npm run dlq -- redrive <topic> [--event <eventId>]...`:
// lists the dead letters not yet re-driven (all of them with --all), and re-drives them to their topic once
// the cause is fixed. Topics may be named with or without `.dlq`. Payloads are never printed: they hold PHI.
import { confirm, parseCommand } from "../cli/command.ts";
import { type Progress, startProgress } from "../cli/progress.ts";
import { loadEnv } from "../config/env.ts";
import { createKafka } from "../kafka/client.ts";
import {
  deadLetterTopics,
  listDeadLetters,
  originalTopic,
  redriveDeadLetters,
  resolveDeadLetterTopic,
} from "./deadLetters/deadLetterQueue.ts";
import type { DeadLetter } from "./runtime/deadLetters.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const { positionals, values, refuse } = parseCommand({
  usage: `usage: npm run dlq -- list [<topic>...] [--all]
       npm run dlq -- redrive <topic> [--event <id>]... [--yes]
  list      the dead letters not yet re-driven (--all: every retained one)
  redrive   sends them back to their topic (--event: only those events); asks first (--yes, -y: do not ask,
            needed when not run from a terminal)
  A topic may be named with or without .dlq.`,
  allowPositionals: true,
  options: {
    all: { type: "boolean", default: false },
    event: { type: "string", multiple: true },
    yes: { type: "boolean", short: "y", default: false },
  },
  subcommands: { list: ["all"], redrive: ["event", "yes"] },
});
const [command, ...topicArgs] = positionals;
if (command !== "list" && command !== "redrive")
  refuse(command ? `unknown command ${command}` : "list or redrive?");
if (command === "redrive" && topicArgs.length !== 1) refuse("redrive one topic at a time");
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
const redriveTopic = command === "redrive" ? chosenTopics[0] : undefined;
// Before the question: a bad or misspelt variable is refused without asking first.
const brokers = loadEnv().KAFKA_BROKERS ?? ["localhost:9092"];
if (redriveTopic) {
  const which = chosenEvents
    ? `${chosenEvents.length} chosen dead letter(s)`
    : "every dead letter not yet re-driven";
  await confirm(`Re-drive ${which} from ${redriveTopic} to ${originalTopic(redriveTopic)}`, values.yes);
}

const kafka = createKafka({ brokers, clientId: "dlq-command" });
const admin = kafka.admin();

try {
  if (command === "list") {
    await admin.connect();
    const chosen = chosenTopics.length > 0 ? chosenTopics : deadLetterTopics;
    const letters = (
      await Promise.all(chosen.map((topic) => listDeadLetters(kafka, admin, topic, { all: values.all })))
    ).flat();
    console.log(formatTable(letters));
  } else if (redriveTopic) {
    await admin.connect();
    const eventIds = chosenEvents ? new Set(chosenEvents) : undefined;
    let progress: Progress | undefined;
    const redriven = await redriveDeadLetters(kafka, admin, redriveTopic, {
      eventIds,
      progress: (records) => {
        progress = startProgress({ label: "redrive", total: records, unit: "dead letters" });
        return progress;
      },
    }).catch((error) => {
      progress?.finish("stopped");
      throw error;
    });
    progress?.finish("read and sent back");
    console.log(formatTable(redriven));
    console.log(
      `re-drove ${redriven.length} dead letter(s) from ${redriveTopic} to ${originalTopic(redriveTopic)}`,
    );
  }
} catch (error) {
  console.error(`dlq ${command ?? ""} failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await admin.disconnect();
}

/** An --event value as event ids are stored: a UUID in lower case (one in upper case is the same id). */
function eventIdOf(value: string): string {
  const eventId = value.toLowerCase();
  if (!UUID.test(eventId)) refuse(`--event ${value}: must be an event id (a UUID)`);
  return eventId;
}

function formatTable(letters: readonly DeadLetter[]): string {
  if (letters.length === 0) return "no dead letters";
  const header = [
    "dead letter",
    "event type",
    "event id",
    "consumer",
    "reason",
    "error",
    "attempts",
    "from",
    "at",
  ];
  const rows = letters.map((letter) => [
    `${letter.dlqTopic}/${letter.partition}/${letter.offset}`,
    letter.eventType ?? "?",
    letter.eventId ?? "?",
    letter.consumer,
    letter.reason,
    letter.error,
    String(letter.attempts),
    `${letter.original.partition}/${letter.original.offset}`,
    letter.deadLetteredAt,
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd();
  const messages = letters.map(
    (letter) => `  ${letter.dlqTopic}/${letter.partition}/${letter.offset}: ${letter.errorMessage}`,
  );
  return [line(header), ...rows.map(line), "", "errors:", ...messages].join("\n");
}
