// The AI API's bodies, built from the catalog's ai-events schemas. Ids are the server's; a model version is
// the model's, so predictions and performance reports name the model only.
import { z } from "zod";
import {
  insightCreatedSchema,
  modelPerformanceUpdatedSchema,
  modelTrainedSchema,
  predictionGeneratedSchema,
} from "../../events/ai.ts";

export const recordModelBody = modelTrainedSchema.omit({ modelId: true });

export const recordPerformanceBody = modelPerformanceUpdatedSchema.omit({ modelId: true, version: true });

export const recordPredictionBody = predictionGeneratedSchema.omit({
  predictionId: true,
  modelVersion: true,
});

const insight = insightCreatedSchema.omit({ insightId: true }).shape;
export const recordInsightBody = z.strictObject({
  ...insight,
  patientId: insight.patientId.optional().default(null),
  predictionId: insight.predictionId.optional().default(null),
});

export const modelIdParam = z.strictObject({ id: z.uuid() });

const instant = z.iso.datetime();

export const modelResponse = z.object({
  id: z.uuid(),
  ...recordModelBody.shape,
  latestMetrics: recordModelBody.shape.metrics.nullable(),
  latestMeasuredAt: instant.nullable(),
});

export const predictionResponse = z.object({
  id: z.uuid(),
  ...predictionGeneratedSchema.omit({ predictionId: true }).shape,
  createdAt: instant,
});

export const insightResponse = z.object({ id: z.uuid(), ...recordInsightBody.shape, createdAt: instant });

export type ModelResponse = z.infer<typeof modelResponse>;
export type PredictionResponse = z.infer<typeof predictionResponse>;
export type InsightResponse = z.infer<typeof insightResponse>;
