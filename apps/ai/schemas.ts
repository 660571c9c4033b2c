// The AI API's bodies, built from the catalog's ai-events schemas. Ids are the server's; a model version is
// the model's, so predictions and performance reports name the model only.
import { z } from "zod";
import {
  insightCreatedSchema,
  modelPerformanceUpdatedSchema,
  modelTrainedSchema,
  predictionGeneratedSchema,
} from "../../events/ai.ts";
import { identifyingName, isNotBefore, pastOrPresentInstant } from "../../events/fields.ts";
import { anyCaseUuid } from "../http/ids.ts";

/** A model version is one per name and version: the name is compared, and so stored, in NFC. */
export const recordModelBody = modelTrainedSchema
  .omit({ modelId: true })
  .extend({ modelName: identifyingName(200), trainedAt: pastOrPresentInstant });

/**
 * measuredAt in the past: the model keeps the latest measurement as its current metrics, and one dated in the
 * future would stay the latest, hiding every real one reported after it. And not before the end of the window
 * it was measured on: metrics of traffic still to come are not measured yet. (Not before the model was trained
 * either: the route checks that against the stored model.)
 */
export const recordPerformanceBody = modelPerformanceUpdatedSchema
  .omit({ modelId: true, version: true })
  .extend({
    measuredAt: pastOrPresentInstant.meta({
      ...pastOrPresentInstant.meta(),
      description:
        "Not in the future (up to a minute ahead of the server's clock is taken as clock skew), and not before window.end.",
      "x-not-before": "window.end",
    }),
  })
  .refine((body) => isNotBefore(body.measuredAt, body.window.end), {
    path: ["measuredAt"],
    error: "must not be before window.end",
  });

export const recordPredictionBody = predictionGeneratedSchema
  .omit({ predictionId: true, modelVersion: true })
  .extend({ modelId: anyCaseUuid, patientId: anyCaseUuid });

const insight = insightCreatedSchema.omit({ insightId: true }).shape;
export const recordInsightBody = z.strictObject({
  ...insight,
  /** Required: an insight's summary is sealed under its patient's key, and population-level text has none. */
  patientId: anyCaseUuid,
  predictionId: anyCaseUuid.nullable().optional().default(null),
});

export const modelIdParam = z.strictObject({ id: anyCaseUuid });

const instant = z.iso.datetime();

/** A model as recorded: its training time without the request's "not in the future" (see patientResponse). */
export const modelResponse = z.object({
  id: z.uuid(),
  ...modelTrainedSchema.omit({ modelId: true }).shape,
  latestMetrics: recordModelBody.shape.metrics.nullable(),
  latestMeasuredAt: instant.nullable(),
});

export const predictionResponse = z.object({
  id: z.uuid(),
  ...predictionGeneratedSchema.omit({ predictionId: true }).shape,
  createdAt: instant,
});

export const insightResponse = z.object({
  id: z.uuid(),
  ...recordInsightBody.shape,
  /** `null` for population-level insights recorded before every insight had to name its patient. */
  patientId: z.uuid().nullable(),
  createdAt: instant,
});

export type ModelResponse = z.infer<typeof modelResponse>;
export type PredictionResponse = z.infer<typeof predictionResponse>;
export type InsightResponse = z.infer<typeof insightResponse>;
