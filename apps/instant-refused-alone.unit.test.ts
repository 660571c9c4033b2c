// A time or date that is none (a leap second, February 30th) is refused for what it is, alone: not also as in
// the future, or out of order with the field it is compared with, which the client did not get wrong.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { exampleData } from "../events/examples.ts";
import { recordPerformanceBody } from "./ai/schemas.ts";
import { bookAppointmentBody } from "./appointment/schemas.ts";
import { createPatientBody } from "./patient/schemas.ts";

const HOUR_MS = 3_600_000;

function refusals(schema: z.ZodType, body: unknown): string[] {
  const parsed = schema.safeParse(body);
  return parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
}

const booking = (scheduledAt: string, durationMinutes = 30) => ({
  ...exampleData["appointment.booked"],
  patientId: randomUUID(),
  providerId: randomUUID(),
  scheduledAt,
  durationMinutes,
});

const performance = (measuredAt: string, start: string, end: string) => {
  const { modelId, version, ...report } = exampleData["ai.model.performance.updated"];
  return { ...report, measuredAt, window: { start, end } };
};

const now = () => new Date(Date.now() - HOUR_MS).toISOString();
const dayAgo = () => new Date(Date.now() - 24 * HOUR_MS).toISOString();

describe("a time or date that is none", () => {
  it("is refused alone in a booking, where a real time past the year 9999 is refused as such", () => {
    const { appointmentId, ...rest } = booking("2027-06-30T23:59:60Z");
    expect(refusals(bookAppointmentBody, rest)).toEqual(["scheduledAt: Invalid ISO datetime"]);
    const { appointmentId: _, ...late } = booking("9999-12-31T23:59:00.000Z");
    expect(refusals(bookAppointmentBody, late)).toEqual([
      "scheduledAt: the appointment must end within the year 9999",
    ]);
  });

  it("is refused alone in a model's performance report, and its window", () => {
    expect(refusals(recordPerformanceBody, performance("2026-12-07T10:00:60Z", dayAgo(), dayAgo()))).toEqual([
      "measuredAt: Invalid ISO datetime",
    ]);
    expect(refusals(recordPerformanceBody, performance(now(), "2026-13-01T00:00:00Z", dayAgo()))).toEqual([
      "window.start: Invalid ISO datetime",
    ]);
    expect(refusals(recordPerformanceBody, performance(now(), now(), dayAgo()))).toEqual([
      "window.end: must not be before start",
    ]);
  });

  it("is refused alone in a patient's insurance dates", () => {
    const insured = (effectiveDate: string, expiryDate: string) => {
      const { patientId, ...patient } = exampleData["patient.created"];
      return { ...patient, insuranceInfo: { ...patient.insuranceInfo, effectiveDate, expiryDate } };
    };
    expect(refusals(createPatientBody, insured("2025-02-30", "2024-01-01"))).toEqual([
      "insuranceInfo.effectiveDate: Invalid ISO date",
    ]);
    expect(refusals(createPatientBody, insured("2025-02-01", "2024-01-01"))).toEqual([
      "insuranceInfo.expiryDate: must not be before effectiveDate",
    ]);
  });
});
