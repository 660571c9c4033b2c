// The `data` schemas of ai-events: models trained and monitored, and the predictions and insights they
// produce about patients.
import { z } from "zod";
import {
  finiteNumber,
  INT4_MAX,
  identifier,
  isNotBefore,
  line,
  metrics,
  text,
  unitInterval,
  utcTimestamp,
  uuid,
} from "./fields.ts";

/** A model version as its registry names it, e.g. `2.1.0` or `2024-06-01`. */
const modelVersion = identifier;

export const modelTrainedSchema = z.strictObject({
  modelId: uuid,
  modelName: line(200),
  version: modelVersion,
  algorithm: line(200),
  trainedAt: utcTimestamp,
  metrics,
  datasetSize: z.int().min(1).max(INT4_MAX),
});

export const predictionGeneratedSchema = z.strictObject({
  predictionId: uuid,
  modelId: uuid,
  modelVersion,
  patientId: uuid,
  /** What is predicted, e.g. `readmission-risk` or `no-show`. */
  predictionType: identifier,
  /** The model's output on its own scale (a risk score, an expected length of stay, ...). */
  score: finiteNumber,
  /** A class label when the model classifies, `null` for a plain score. */
  label: identifier.nullable(),
  confidence: unitInterval,
});

export const insightSeverities = ["INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"] as const;

export const insightCreatedSchema = z.strictObject({
  insightId: uuid,
  /**
   * `null` only in population-level insights of the history: the summary is personal data, sealed under the
   * patient's key, so the write path refuses a new insight that names no patient.
   */
  patientId: uuid.nullable(),
  /** The prediction the insight was drawn from, if any. */
  predictionId: uuid.nullable(),
  category: identifier,
  summary: text(2000),
  severity: z.enum(insightSeverities),
});

export const modelPerformanceUpdatedSchema = z.strictObject({
  modelId: uuid,
  version: modelVersion,
  metrics,
  measuredAt: utcTimestamp,
  /** The period of live traffic the metrics were measured on. */
  window: z
    .strictObject({
      start: utcTimestamp,
      end: utcTimestamp.meta({ description: "Not before start.", "x-not-before": "start" }),
    })
    .refine((window) => isNotBefore(window.end, window.start), {
      path: ["end"],
      error: "must not be before start",
    }),
});
