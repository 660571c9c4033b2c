// The chaos report finds every kind of damage a relay can do to the stream, and tells duplicates apart.
import { describe, expect, it } from "vitest";
import { type CommittedEvent, chaosFailed, chaosFindings, type ReadRecord } from "./report.ts";

const event = (eventId: string, key: string, order: number): CommittedEvent => ({
  eventId,
  topic: "patient-events",
  key,
  value: `{"eventId":"${eventId}"}`,
  order: BigInt(order),
  createdAtMs: 1_000 + order * 100,
});

const recordOf = (
  committed: CommittedEvent,
  offset: number,
  changes: Partial<ReadRecord> = {},
): ReadRecord => ({
  topic: committed.topic,
  partition: 0,
  offset: BigInt(offset),
  key: committed.key,
  value: committed.value,
  headers: { eventId: committed.eventId },
  eventId: committed.eventId,
  ...changes,
});

const a1 = event("a1", "A", 1);
const a2 = event("a2", "A", 2);
const b1 = event("b1", "B", 3);

describe("chaos findings", () => {
  it("pass a stream that holds every committed event once, in order, redelivered byte for byte", () => {
    const records = [recordOf(a1, 0), recordOf(b1, 1), recordOf(a2, 2), recordOf(a1, 3), recordOf(a2, 4)];
    const findings = chaosFindings([a1, a2, b1], records, new Map(), []);
    expect(findings).toMatchObject({ lost: [], phantoms: [], reorderedKeys: [], duplicates: 2 });
    expect(findings.duplicatesByteIdentical).toBe(2);
    expect(chaosFailed(findings)).toBe(false);
  });

  it("fail a run in which a fault could not be injected, however whole the stream: it proved nothing of that fault", () => {
    const records = [recordOf(a1, 0), recordOf(b1, 1), recordOf(a2, 2)];
    const fault = { name: "kill", injectedAtMs: 1_150, endedAtMs: 1_150 };
    const whole = chaosFindings([a1, a2, b1], records, new Map(), [{ ...fault, note: "", injected: true }]);
    expect(chaosFailed(whole)).toBe(false);
    const notInjected = chaosFindings([a1, a2, b1], records, new Map(), [
      { ...fault, note: "failed to inject: no relay leads", injected: false },
    ]);
    expect(notInjected).toMatchObject({ lost: [], phantoms: [], reorderedKeys: [] });
    expect(chaosFailed(notInjected)).toBe(true);
  });

  it("find a lost event, a phantom one, a key out of order and a duplicate that differs", () => {
    const phantom: ReadRecord = { ...recordOf(b1, 9), eventId: "never-committed", headers: {} };
    const records = [recordOf(a2, 0), recordOf(a1, 1), recordOf(a1, 2, { value: "other bytes" }), phantom];
    const findings = chaosFindings([a1, a2, b1], records, new Map(), []);
    expect(findings.lost).toEqual(["b1"]);
    expect(findings.phantoms).toEqual(["never-committed"]);
    expect(findings.reorderedKeys).toEqual(["patient-events/A"]);
    expect({ duplicates: findings.duplicates, identical: findings.duplicatesByteIdentical }).toEqual({
      duplicates: 1,
      identical: 0,
    });
    expect(chaosFailed(findings)).toBe(true);
  });

  it("time a fault: recovery until what was committed before its end is visible, and the longest delay", () => {
    const visible = new Map([
      ["a1", 1_150],
      ["a2", 2_500],
      ["b1", 2_600],
    ]);
    const [fault] = chaosFindings([a1, a2, b1], [], visible, [
      { name: "kill", injectedAtMs: 1_150, endedAtMs: 1_350, note: "", injected: true },
    ]).faults;
    // a2 (committed at 1,200) and b1 (at 1,300) were committed during the fault; b1 became visible last.
    expect(fault).toMatchObject({ recoveryMs: 2_600 - 1_350, longestDelayMs: 2_500 - 1_200 });
  });
});
