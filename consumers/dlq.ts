// `npm run dlq -- list [<topic>...] [--all]` and `npm run dlq -- redrive <topic> [--event <eventId>]...`:
// lists the dead letters not yet re-driven (all of them with --all), and re-drives them to their topic once
// the cause is fixed. Topics may be named with or without `.dlq`. Payloads are never printed: they hold PHI.
import { parseArgs } from "node:util";
import { loadEnv } from "../config/env.ts";
import { createKafka } from "../kafka/client.ts";
import {
  deadLetterTopics,
  listDeadLetters,
  redriveDeadLetters,
  resolveDeadLetterTopic,
} from "./deadLetters/deadLetterQueue.ts";
import type { DeadLetter } from "./runtime/deadLetters.ts";

const usage = `usage:
  npm run dlq -- list [<topic>...] [--all]         dead letters not yet re-driven (--all: every retained one)
  npm run dlq -- redrive <topic> [--event <id>]...  send them back to their topic (--event: only those events)`;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { all: { type: "boolean", default: false }, event: { type: "string", multiple: true } },
});
const [command, ...topicArgs] = positionals;

const brokers = loadEnv().KAFKA_BROKERS ?? ["localhost:9092"];
const kafka = createKafka({ brokers, clientId: "dlq-command" });
const admin = kafka.admin();

try {
  if (command === "list") {
    await admin.connect();
    const chosen = topicArgs.length > 0 ? topicArgs.map(resolveDeadLetterTopic) : deadLetterTopics;
    const letters = (
      await Promise.all(chosen.map((topic) => listDeadLetters(kafka, admin, topic, { all: values.all })))
    ).flat();
    console.log(formatTable(letters));
  } else if (command === "redrive" && topicArgs.length === 1) {
    await admin.connect();
    const topic = resolveDeadLetterTopic(topicArgs[0] as string);
    const eventIds = values.event ? new Set(values.event) : undefined;
    const redriven = await redriveDeadLetters(kafka, admin, topic, { eventIds });
    console.log(formatTable(redriven));
    console.log(
      `re-drove ${redriven.length} dead letter(s) from ${topic} to ${topic.slice(0, -".dlq".length)}`,
    );
  } else {
    console.error(usage);
    process.exitCode = 2;
  }
} catch (error) {
  console.error(`dlq ${command ?? ""} failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await admin.disconnect();
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
