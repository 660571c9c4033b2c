// What `npm run dlq -- list` prints of a dead letter: its row and error, and, for one parked without its
// record (too large for its dead-letter topic), where the record still is and that a re-drive leaves it.
import { describe, expect, it } from "vitest";
import type { DeadLetter } from "../runtime/deadLetters.ts";
import { deadLetterTable } from "./deadLetterTable.ts";

const letter: DeadLetter = {
  dlqTopic: "patient-events.dlq",
  partition: 5,
  offset: "3",
  eventId: "0f6f3c3e-8d7b-4c1a-9e2f-3a4b5c6d7e8f",
  eventType: "patient.created",
  consumer: "patient-directory",
  reason: "poison",
  error: "too-large",
  errorMessage: "the record takes 5529658 bytes, more than the 1048576 an event may take",
  attempts: 1,
  original: { topic: "patient-events", partition: 5, offset: "977" },
  deadLetteredAt: "2026-12-07T08:00:00.000Z",
  redrivenFrom: null,
  recordOmitted: 5529658,
};

describe("the dead-letter table", () => {
  it("says where a letter parked without its record left it", () => {
    const lines = deadLetterTable([letter]).split("\n");
    expect(lines.at(-1)).toBe(
      "  patient-events.dlq/5/3: the record takes 5529658 bytes, more than the 1048576 an event may take " +
        "(the record, 5529658 bytes, is not in its dead letter: it is at patient-events/5/977; a re-drive leaves it)",
    );
    expect(lines[0]).toMatch(/^dead letter\s+event type\s+event id/);
    expect(lines[1]).toMatch(/^patient-events.dlq\/5\/3\s+patient.created/);
  });

  it("prints a whole letter's error alone, and says when there are none", () => {
    const lines = deadLetterTable([{ ...letter, recordOmitted: null }]).split("\n");
    expect(lines.at(-1)).toBe(
      "  patient-events.dlq/5/3: the record takes 5529658 bytes, more than the 1048576 an event may take",
    );
    expect(deadLetterTable([])).toBe("no dead letters");
  });
});
