// Valid request bodies for every service route, from the catalog's examples: tests change only what the
// behaviour under test is about (whose patient, which provider, which slot).
import { randomUUID } from "node:crypto";
import { exampleData } from "../events/examples.ts";
import { newPatientBody } from "./fixtures.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const without = <T extends object, K extends keyof T>(value: T, ...keys: K[]): Omit<T, K> => {
  const copy = structuredClone(value);
  for (const key of keys) delete copy[key];
  return copy;
};

export const requestBodies = {
  patient: newPatientBody,

  provider: (overrides: Record<string, unknown> = {}) => ({
    firstName: "Grace",
    lastName: "Hopper",
    specialty: "cardiology",
    email: "grace.hopper@example.org",
    phone: "+14155550123",
    ...overrides,
  }),

  /** A booking `startsIn` ms from now (ten days by default), on the minute. */
  booking: (patientId: string, providerId: string, startsIn = 10 * DAY_MS) => ({
    ...without(exampleData["appointment.booked"], "appointmentId"),
    patientId,
    providerId,
    scheduledAt: new Date(Math.ceil((Date.now() + startsIn) / 60_000) * 60_000).toISOString(),
  }),

  cancellation: () => ({ reason: "Travelling that week" }),

  document: (patientId: string) => ({
    ...without(exampleData["document.uploaded"], "documentId"),
    patientId,
  }),

  consent: () => ({
    ...without(exampleData["consent.given"], "documentId", "patientId"),
    expiresAt: new Date(Date.now() + 365 * DAY_MS).toISOString(),
  }),

  /** Processed now: a result cannot precede its document's upload. */
  processingResult: () => ({
    ...without(exampleData["document.processed"], "documentId", "patientId"),
    processedAt: new Date().toISOString(),
  }),

  /** To the patient's own contact on file, which the service fills in. */
  email: (patientId: string) => ({
    ...without(exampleData["notification.email.requested"], "notificationId", "to"),
    patientId,
  }),

  sms: (patientId: string) => ({
    ...without(exampleData["notification.sms.requested"], "notificationId", "to"),
    patientId,
  }),

  push: (patientId: string) => ({
    ...without(exampleData["notification.push.requested"], "notificationId", "userId"),
    patientId,
  }),

  /** A model version not recorded before (name and version are unique together). */
  model: () => ({ ...without(exampleData["ai.model.trained"], "modelId"), version: randomUUID() }),

  /** Measured now, on the month before: not before the model was trained (the care world's, just now). */
  performance: () => {
    const now = Date.now();
    return {
      ...without(exampleData["ai.model.performance.updated"], "modelId", "version"),
      measuredAt: new Date(now).toISOString(),
      window: { start: new Date(now - 30 * DAY_MS).toISOString(), end: new Date(now).toISOString() },
    };
  },

  prediction: (modelId: string, patientId: string) => ({
    ...without(exampleData["ai.prediction.generated"], "predictionId", "modelVersion"),
    modelId,
    patientId,
  }),

  insight: (patientId: string) => ({
    ...without(exampleData["ai.insight.created"], "insightId"),
    patientId,
    predictionId: null,
  }),

  /** As the auth service reports it: the service finds the patient itself. */
  loginAttempt: () => without(exampleData["audit.login.attempt"], "patientId"),
};
