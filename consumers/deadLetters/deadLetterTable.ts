// The dead letters as `npm run dlq` prints them: a row each, then each one's error message, and where a
// letter that holds no record (it was too large to park) left it. Payloads are never printed: they hold PHI.
import { printable } from "../../cli/printable.ts";
import { textTable } from "../../cli/textTable.ts";
import type { DeadLetter } from "../runtime/deadLetters.ts";

/** The table, or "no dead letters". */
export function deadLetterTable(letters: readonly DeadLetter[]): string {
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
  const messages = letters.map(
    (letter) =>
      `  ${letter.dlqTopic}/${letter.partition}/${letter.offset}: ${printable(letter.errorMessage)}` +
      (letter.recordOmitted === null
        ? ""
        : ` (the record, ${letter.recordOmitted} bytes, is not in its dead letter: it is at ` +
          `${letter.original.topic}/${letter.original.partition}/${letter.original.offset}; a re-drive leaves it)`),
  );
  return [...textTable(header, rows), "", "errors:", ...messages].join("\n");
}
