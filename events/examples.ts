// One valid `data` payload for every event type, typed against the catalog: the unit tests prove each passes
// its schema, and integration tests and benchmarks reuse them as realistic events.
import type { EventData, EventType, NewEvent } from "./catalog.ts";

const patientId = "3b241101-e2bb-4255-8caf-4136c566a962";
const providerId = "9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f";
const userId = "5d6e7f80-91a2-4b3c-8d4e-5f60718293a4";
const appointmentId = "b3c4d5e6-f708-4192-a3b4-c5d6e7f80912";
const documentId = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f";
const modelId = "d4e5f607-1829-4a3b-9c4d-5e6f708192a3";
const staffId = "e5f60718-293a-4b4c-8d5e-6f708192a3b4";

export const exampleData: { readonly [T in EventType]: EventData<T> } = {
  "patient.created": {
    patientId,
    userId,
    firstName: "Ada",
    lastName: "Lovelace",
    dateOfBirth: "1985-12-10",
    email: "ada.lovelace@example.org",
    phone: "+442071234567",
    insuranceInfo: {
      provider: "Northwind Health",
      policyNumber: "NWH-2024-000417",
      effectiveDate: "2024-01-01",
      expiryDate: "2024-12-31",
    },
    medicalConditions: ["asthma"],
    allergies: ["penicillin"],
  },
  "patient.updated": {
    patientId,
    changedFields: ["email", "insuranceInfo"],
    changes: { email: "ada@example.org", insuranceInfo: null },
  },
  "patient.deleted": { patientId, deletedAt: "2024-06-30T08:00:00Z", erasure: false },
  "patient.consent.changed": {
    patientId,
    consentType: "research",
    granted: true,
    changedAt: "2024-01-15T10:30:00Z",
  },

  "appointment.booked": {
    appointmentId,
    patientId,
    providerId,
    scheduledAt: "2024-02-01T14:00:00Z",
    durationMinutes: 30,
    appointmentType: "TELEHEALTH",
    location: { type: "VIRTUAL", url: "https://meet.example.org/rooms/7f3a" },
    notes: "Follow-up on the asthma action plan",
  },
  "appointment.cancelled": {
    appointmentId,
    patientId,
    cancelledAt: "2024-01-30T09:15:00Z",
    cancelledBy: "PATIENT",
    reason: "Travelling that week",
  },
  "appointment.completed": {
    appointmentId,
    patientId,
    providerId,
    completedAt: "2024-02-01T14:32:10.250Z",
  },
  "appointment.reminder": {
    appointmentId,
    patientId,
    scheduledAt: "2024-02-01T14:00:00Z",
    hoursBefore: 24,
  },

  "document.uploaded": {
    documentId,
    patientId,
    fileName: "blood-panel-2024-01.pdf",
    mimeType: "application/pdf",
    sizeBytes: 482_113,
    checksum: {
      algorithm: "sha256",
      value: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    },
    storageUrl: "s3://patient-documents/3b241101/blood-panel-2024-01.pdf",
  },
  "document.deleted": {
    documentId,
    patientId,
    deletedAt: "2024-03-01T12:00:00Z",
    reason: "Uploaded to the wrong patient",
  },
  "consent.given": {
    documentId,
    patientId,
    grantedTo: "St. Mary's Cardiology",
    purpose: "TREATMENT",
    expiresAt: "2025-01-15T00:00:00Z",
  },
  "document.processed": {
    documentId,
    patientId,
    processor: "ocr@2.3",
    processedAt: "2024-01-15T10:31:12Z",
    status: "SUCCEEDED",
    extracted: {
      documentKind: "lab-result",
      pageCount: 3,
      language: "en",
      summary: "Complete blood count, normal",
    },
  },

  "audit.data.accessed": {
    actorId: providerId,
    actorRole: "PROVIDER",
    resourceType: "patient",
    resourceId: patientId,
    patientId,
    action: "READ",
    fields: ["medicalConditions", "allergies"],
  },
  "audit.data.modified": {
    actorId: staffId,
    actorRole: "STAFF",
    resourceType: "appointment",
    resourceId: appointmentId,
    patientId,
    action: "UPDATE",
    fields: ["scheduledAt"],
  },
  "audit.login.attempt": {
    userId: null,
    username: "unknown.user@example.org",
    method: "PASSWORD",
    success: false,
    reason: "no account with this username",
    patientId: null,
  },
  "audit.compliance.violation": {
    actorId: staffId,
    actorRole: "STAFF",
    resourceType: "document",
    resourceId: documentId,
    patientId,
    rule: "minimum-necessary",
    reason: "Exported a full record where the request needed only the allergy list",
    severity: "HIGH",
  },
  "audit.compliance.alert": {
    rule: "many-patients-read",
    principal: { kind: "actor", id: staffId },
    window: { start: "2024-01-15T09:00:00Z", end: "2024-01-15T09:42:10Z" },
    threshold: 50,
    observed: 51,
    evidenceEventIds: ["0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"],
  },
  "audit.history.replayed": {
    replayId: "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
    operator: "oncall",
    selection: {
      topic: "patient-events",
      fromPosition: null,
      toPosition: null,
      since: "2024-01-15T00:00:00Z",
      until: "2024-01-16T00:00:00Z",
      aggregateType: null,
      aggregateId: null,
      eventType: null,
      correlationId: null,
    },
    toTopic: "patient-events-replay",
    through: { txId: "90210", position: "1048576" },
    events: 1200,
    eventsPerTopic: { "patient-events": 1200 },
    ratePerSecond: 500,
  },
  "audit.operator.decrypted": {
    operator: "oncall",
    tool: "events:tail",
    patientId,
    record: {
      topic: "patient-events",
      partition: 3,
      offset: "18211",
      eventId: "4d5e6f7a-8b9c-4dae-8f01-2b3c4d5e6f7a",
      eventType: "patient.updated",
    },
    fields: ["changes.phone", "metadata.ipAddress"],
  },

  "notification.email.requested": {
    notificationId: "f6071829-3a4b-4c5d-9e6f-708192a3b4c5",
    patientId,
    relatedEventId: "07182930-4a5b-4c6d-8e7f-8192a3b4c5d6",
    to: "ada.lovelace@example.org",
    subject: "Your appointment tomorrow",
    template: "appointment-reminder",
    variables: { firstName: "Ada", scheduledAt: "2024-01-16 14:00 UTC", hoursBefore: 24 },
  },
  "notification.sms.requested": {
    notificationId: "18293a4b-5c6d-4e7f-8091-a2b3c4d5e6f7",
    patientId,
    relatedEventId: null,
    to: "+442071234567",
    body: "Reminder: your appointment is tomorrow at 14:00.",
  },
  "notification.push.requested": {
    notificationId: "293a4b5c-6d7e-4f80-91a2-b3c4d5e6f708",
    patientId,
    relatedEventId: null,
    userId,
    title: "New lab result",
    body: "A new document is available in your record.",
  },

  "ai.model.trained": {
    modelId,
    modelName: "Readmission risk",
    version: "2.1.0",
    algorithm: "gradient-boosted trees",
    trainedAt: "2024-01-10T02:00:00Z",
    metrics: { auc: 0.87, f1: 0.74 },
    datasetSize: 120_000,
  },
  "ai.prediction.generated": {
    predictionId: "3a4b5c6d-7e8f-4091-a2b3-c4d5e6f70819",
    modelId,
    modelVersion: "2.1.0",
    patientId,
    predictionType: "readmission-risk",
    score: 0.23,
    label: "low",
    confidence: 0.91,
  },
  "ai.insight.created": {
    insightId: "4b5c6d7e-8f90-41a2-b3c4-d5e6f708192a",
    patientId,
    predictionId: "3a4b5c6d-7e8f-4091-a2b3-c4d5e6f70819",
    category: "readmission-risk-rising",
    summary: "Readmission risk rose from 0.12 to 0.23 since the last discharge",
    severity: "MEDIUM",
  },
  "ai.model.performance.updated": {
    modelId,
    version: "2.1.0",
    metrics: { auc: 0.85, calibrationError: 0.04 },
    measuredAt: "2024-02-01T00:00:00Z",
    window: { start: "2024-01-01T00:00:00Z", end: "2024-02-01T00:00:00Z" },
  },
};

/**
 * The example of one type as an event to append, with `overrides` on top of its data, e.g.
 * `exampleEvent("patient.created", { patientId })`.
 */
export function exampleEvent<T extends EventType>(
  type: T,
  overrides: Partial<EventData<T>> = {},
): NewEvent & { type: T } {
  return { type, data: { ...structuredClone(exampleData[type]), ...overrides } } as NewEvent & { type: T };
}
