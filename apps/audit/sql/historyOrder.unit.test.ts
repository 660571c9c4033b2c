// Which history filters are read in order off their own index with sorting disabled, and which are left to
// the planner: a time range may be best found by its time index and sorted.
import { describe, expect, it } from "vitest";
import { instantOf } from "../../../events/instant.ts";
import { type HistoryFilter, servedInHistoryOrder } from "./historyPage.ts";

const patientId = "5f0c3c8e-1d2b-4c6a-9e7f-0a1b2c3d4e5f";
const day = {
  from: instantOf(new Date("2026-01-01T00:00:00Z")),
  to: instantOf(new Date("2026-01-02T00:00:00Z")),
};

describe("the history filters served in (tx_id, position) order by their own index", () => {
  const ordered: Record<string, HistoryFilter> = {
    "a patient": { patientId },
    "a patient's events of one type": { patientId, eventType: "patient.updated" },
    "a user": { userId: patientId },
    "a request": { correlationId: patientId },
    "an aggregate": { aggregateType: "patient", aggregateId: "42" },
    "an event type": { eventType: "patient.updated" },
    "the whole history": {},
  };
  for (const [name, filter] of Object.entries(ordered))
    it(`include ${name}`, () => expect(servedInHistoryOrder(filter)).toBe(true));

  const planned: Record<string, HistoryFilter> = {
    "an aggregate type alone": { aggregateType: "patient" },
    "an aggregate id without its type": { aggregateId: "42" },
    "a time range": day,
    "an event type over a day": { eventType: "patient.updated", ...day },
    "a patient since a date": { patientId, from: day.from },
  };
  for (const [name, filter] of Object.entries(planned))
    it(`leave ${name} to the planner`, () => expect(servedInHistoryOrder(filter)).toBe(false));
});
