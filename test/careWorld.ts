// A small world of care for service tests, written straight into the tables (no events): two patients with
// logins, two providers with logins, each patient with an appointment with one provider and a document,
// and a trained model. "own" is what the first patient and the first provider reach, "other" what they don't.
import { randomUUID } from "node:crypto";
import type { Database } from "../db/client.ts";
import { aiModels, appointments, documents, patients, providers } from "../db/schema.ts";
import { newPatientBody } from "./fixtures.ts";

export interface CareSide {
  /** The patient's login (a patient token's subject). */
  patientUserId: string;
  /** A login without a patient record yet: a patient about to register (one live record per login). */
  newcomerUserId: string;
  patientId: string;
  /** The login of the provider this patient has an appointment with. */
  providerUserId: string;
  providerId: string;
  appointmentId: string;
  documentId: string;
}

export interface CareWorld {
  own: CareSide;
  other: CareSide;
  modelId: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export async function careWorld(db: Database): Promise<CareWorld> {
  const [own, other] = await Promise.all([careSide(db), careSide(db)]);
  const modelId = randomUUID();
  await db.insert(aiModels).values({
    id: modelId,
    name: `model-${modelId}`,
    version: "1.0.0",
    algorithm: "logistic regression",
    trainedAt: new Date(),
    datasetSize: 1000,
    trainingMetrics: { auc: 0.8 },
  });
  return { own, other, modelId };
}

/** A world's ids, none of them written: for what needs only the shape of its requests. */
export function careWorldIds(): CareWorld {
  return { own: careSideIds(), other: careSideIds(), modelId: randomUUID() };
}

function careSideIds(): CareSide {
  return {
    patientUserId: randomUUID(),
    newcomerUserId: randomUUID(),
    patientId: randomUUID(),
    providerUserId: randomUUID(),
    providerId: randomUUID(),
    appointmentId: randomUUID(),
    documentId: randomUUID(),
  };
}

async function careSide(db: Database): Promise<CareSide> {
  const side = careSideIds();
  const { insuranceInfo: _, ...patient } = newPatientBody();
  await db.insert(patients).values({ id: side.patientId, userId: side.patientUserId, ...patient });
  await db.insert(providers).values({
    id: side.providerId,
    userId: side.providerUserId,
    firstName: "Grace",
    lastName: "Hopper",
    specialty: "cardiology",
    email: "grace.hopper@example.org",
  });
  // Begun already, so that its provider may complete it and no reminder is ever due for it; on a provider of its
  // own, so no slot is ever taken twice.
  const scheduledAt = new Date(Date.now() - 30 * 60_000 - Math.floor(Math.random() * DAY_MS));
  await db.insert(appointments).values({
    id: side.appointmentId,
    patientId: side.patientId,
    providerId: side.providerId,
    scheduledAt,
    endsAt: new Date(scheduledAt.getTime() + 30 * 60_000),
    durationMinutes: 30,
    appointmentType: "CONSULTATION",
    location: { type: "IN_PERSON", address: "1 Infinite Loop" },
  });
  await db.insert(documents).values({
    id: side.documentId,
    patientId: side.patientId,
    fileName: "blood-panel.pdf",
    mimeType: "application/pdf",
    sizeBytes: 1234,
    checksumSha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    storageUrl: "s3://patient-documents/blood-panel.pdf",
  });
  return side;
}
