// The AI service: the ML pipeline (service role) records trained models, their measured performance, the
// predictions they make about patients and the insights drawn from them. Each is a record of its own,
// appended with its ai-events event and audited as a created or changed record.
import { randomUUID } from "node:crypto";
import type { Database } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import { dataModified } from "../http/auditEvents.ts";
import type { Role } from "../http/auth.ts";
import { refusingConflicts } from "../http/constraintViolation.ts";
import { eventContext } from "../http/eventContext.ts";
import { answerOnce } from "../http/idempotency.ts";
import { json, problem, securedRoute } from "../http/openapi.ts";
import { patientAggregate, requirePatientOwner } from "../http/patientAccess.ts";
import { HttpProblem } from "../http/problem.ts";
import { createRouter } from "../http/service.ts";
import {
  type InsightResponse,
  insightResponse,
  type ModelResponse,
  modelIdParam,
  modelResponse,
  type PredictionResponse,
  predictionResponse,
  recordInsightBody,
  recordModelBody,
  recordPerformanceBody,
  recordPredictionBody,
} from "./schemas.ts";
import {
  findModel,
  findPrediction,
  type InsightRow,
  insertInsight,
  insertModel,
  insertPrediction,
  type ModelRow,
  ONE_ROW_PER_MODEL_VERSION,
  type PredictionRow,
  recordPerformance,
} from "./store.ts";

export const AI_SERVICE = "ai-service";

const ROLES: readonly Role[] = ["service", "admin"];
const access = (resource: string) => ({
  source: AI_SERVICE,
  resource,
  roles: ROLES,
  rule: "Recorded by the ML pipeline.",
});
const created = <T extends Parameters<typeof json>[0]>(schema: T) => ({
  description: "Recorded",
  content: json(schema),
});

const routes = {
  model: securedRoute(access("model"), {
    method: "post",
    path: "/ai/models",
    summary: "Record a trained model version (emits ai.model.trained)",
    request: { body: { content: json(recordModelBody), required: true } },
    responses: {
      201: created(modelResponse),
      400: problem("Invalid input"),
      409: problem("That model version is already recorded"),
      422: problem("Idempotency-Key reused for another request"),
    },
  }),
  performance: securedRoute(access("model"), {
    method: "post",
    path: "/ai/models/{id}/performance",
    summary: "Record a model's measured performance (emits ai.model.performance.updated)",
    request: {
      params: modelIdParam,
      body: { content: json(recordPerformanceBody), required: true },
    },
    responses: {
      200: { description: "The model with its latest performance", content: json(modelResponse) },
      400: problem("Invalid input"),
      404: problem("Unknown model"),
      409: problem("The measuredAt is before the model was trained"),
      422: problem("Idempotency-Key reused for another request"),
    },
  }),
  prediction: securedRoute(access("prediction"), {
    method: "post",
    path: "/ai/predictions",
    summary: "Record a prediction for a patient (emits ai.prediction.generated)",
    request: { body: { content: json(recordPredictionBody), required: true } },
    responses: {
      201: created(predictionResponse),
      400: problem("Invalid input"),
      404: problem("Unknown model or patient"),
      422: problem("Idempotency-Key reused for another request"),
    },
  }),
  insight: securedRoute(access("insight"), {
    method: "post",
    path: "/ai/insights",
    summary: "Record an insight about a patient (emits ai.insight.created)",
    description:
      "`patientId` is required: the summary is personal data, sealed under that patient's key so that erasure shreds it. A population-level insight has no such key and is refused (400 naming `body.patientId`).",
    request: { body: { content: json(recordInsightBody), required: true } },
    responses: {
      201: created(insightResponse),
      400: problem("Invalid input"),
      404: problem("Unknown patient or prediction"),
      409: problem("The prediction is about another patient"),
      422: problem("Idempotency-Key reused for another request"),
    },
  }),
};

export function aiRoutes(db: Database) {
  return createRouter()
    .openapi(routes.model, async (c) => {
      const body = c.req.valid("json");
      const id = randomUUID();
      const answer = await answerOnce(
        c,
        db,
        AI_SERVICE,
        async (tx) => {
          const trainedAt = new Date(body.trainedAt);
          const row = await refusingConflicts(
            () =>
              insertModel(tx, {
                id,
                name: body.modelName,
                version: body.version,
                algorithm: body.algorithm,
                trainedAt,
                datasetSize: body.datasetSize,
                trainingMetrics: body.metrics,
              }),
            { [ONE_ROW_PER_MODEL_VERSION]: `${body.modelName} ${body.version} is already recorded.` },
          );
          await appendEvents(tx, eventContext(c, AI_SERVICE), [
            // Times in the one form events carry them (toISOString()'s), whichever form the request used.
            { type: "ai.model.trained", data: { modelId: id, ...body, trainedAt: trainedAt.toISOString() } },
            dataModified(c.get("principal"), { type: "model", id, patientId: null }, "CREATE"),
          ]);
          return { status: 201 as const, body: toModelResponse(row), patientId: null };
        },
        { appendsTo: modelAggregate(id) },
      );
      return c.json(answer.body, answer.status);
    })
    .openapi(routes.performance, async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      const answer = await answerOnce(
        c,
        db,
        AI_SERVICE,
        async (tx) => {
          const model = await findModel(tx, id, { lock: true });
          if (!model) throw HttpProblem.notFound(`There is no model ${id}.`);
          const measuredAt = new Date(body.measuredAt);
          if (measuredAt < model.trainedAt) {
            throw new HttpProblem(
              409,
              "Conflict",
              `Model ${id} was trained at ${model.trainedAt.toISOString()}: it cannot have been measured before.`,
            );
          }
          // A measurement reported late is recorded (its event) but is not the latest: the model keeps the newer one.
          const latest = model.latestMeasuredAt === null || model.latestMeasuredAt <= measuredAt;
          const row = latest ? await recordPerformance(tx, id, { metrics: body.metrics, measuredAt }) : model;
          await appendEvents(tx, eventContext(c, AI_SERVICE), [
            {
              type: "ai.model.performance.updated",
              data: {
                modelId: id,
                version: model.version,
                ...body,
                measuredAt: measuredAt.toISOString(),
                window: {
                  start: new Date(body.window.start).toISOString(),
                  end: new Date(body.window.end).toISOString(),
                },
              },
            },
            ...(latest
              ? [
                  dataModified(c.get("principal"), { type: "model", id, patientId: null }, "UPDATE", [
                    "latestMetrics",
                  ]),
                ]
              : []),
          ]);
          return { status: 200 as const, body: toModelResponse(row), patientId: null };
        },
        { appendsTo: modelAggregate(id) },
      );
      return c.json(answer.body, answer.status);
    })
    .openapi(routes.prediction, async (c) => {
      const body = c.req.valid("json");
      const id = randomUUID();
      const answer = await answerOnce(
        c,
        db,
        AI_SERVICE,
        async (tx) => {
          const model = await findModel(tx, body.modelId);
          if (!model) throw HttpProblem.notFound(`There is no model ${body.modelId}.`);
          await requirePatientOwner(tx, body.patientId);
          const row = await insertPrediction(tx, { id, ...body });
          const data = { predictionId: id, ...body, modelVersion: model.version };
          await appendEvents(tx, eventContext(c, AI_SERVICE), [
            { type: "ai.prediction.generated", data },
            dataModified(c.get("principal"), { type: "prediction", id, patientId: body.patientId }, "CREATE"),
          ]);
          return {
            status: 201 as const,
            body: toPredictionResponse(row, model.version),
            patientId: body.patientId,
          };
        },
        { lockAggregate: patientAggregate(body.patientId) },
      );
      return c.json(answer.body, answer.status);
    })
    .openapi(routes.insight, async (c) => {
      const body = c.req.valid("json");
      const id = randomUUID();
      const answer = await answerOnce(
        c,
        db,
        AI_SERVICE,
        async (tx) => {
          await requirePatientOwner(tx, body.patientId);
          if (body.predictionId !== null) {
            const prediction = await findPrediction(tx, body.predictionId);
            if (!prediction) throw HttpProblem.notFound(`There is no prediction ${body.predictionId}.`);
            // An insight drawn from another patient's prediction would tie two records together, and erasing
            // that patient would take this one's insight with it.
            if (prediction.patientId !== body.patientId) {
              throw new HttpProblem(409, "Conflict", "The prediction is about another patient.", [
                { field: "body.predictionId", message: "is a prediction about another patient" },
              ]);
            }
          }
          const row = await insertInsight(tx, { id, ...body });
          await appendEvents(tx, eventContext(c, AI_SERVICE), [
            { type: "ai.insight.created", data: { insightId: id, ...body } },
            dataModified(c.get("principal"), { type: "insight", id, patientId: body.patientId }, "CREATE"),
          ]);
          return { status: 201 as const, body: toInsightResponse(row), patientId: body.patientId };
        },
        { lockAggregate: patientAggregate(body.patientId), appendsTo: insightAggregate(id) },
      );
      return c.json(answer.body, answer.status);
    });
}

function toModelResponse(row: ModelRow): ModelResponse {
  return {
    id: row.id,
    modelName: row.name,
    version: row.version,
    algorithm: row.algorithm,
    trainedAt: row.trainedAt.toISOString(),
    metrics: row.trainingMetrics,
    datasetSize: row.datasetSize,
    latestMetrics: row.latestMetrics,
    latestMeasuredAt: row.latestMeasuredAt?.toISOString() ?? null,
  };
}

function toPredictionResponse(row: PredictionRow, modelVersion: string): PredictionResponse {
  return {
    id: row.id,
    modelId: row.modelId,
    modelVersion,
    patientId: row.patientId,
    predictionType: row.predictionType,
    score: row.score,
    label: row.label,
    confidence: row.confidence,
    createdAt: row.createdAt.toISOString(),
  };
}

function toInsightResponse(row: InsightRow): InsightResponse {
  return {
    id: row.id,
    patientId: row.patientId,
    predictionId: row.predictionId,
    category: row.category,
    summary: row.summary,
    severity: row.severity as InsightResponse["severity"],
    createdAt: row.createdAt.toISOString(),
  };
}

const modelAggregate = (id: string) => ({ aggregateType: "model", aggregateId: id });
// A prediction is an event of its patient's chain (its events/catalog.ts entry); an insight starts its own.
const insightAggregate = (id: string) => ({ aggregateType: "insight", aggregateId: id });
