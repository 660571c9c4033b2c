// The AI service's SQL: trained models (with their latest measured performance), predictions and insights.
import { eq } from "drizzle-orm";
import type { WriteTransaction } from "../../db/client.ts";
import { aiInsights, aiModels, aiPredictions } from "../../db/schema.ts";

export type ModelRow = typeof aiModels.$inferSelect;
export type PredictionRow = typeof aiPredictions.$inferSelect;
export type InsightRow = typeof aiInsights.$inferSelect;

/** One row per model name (compared in NFC) and version: a model version is trained once. */
export const ONE_ROW_PER_MODEL_VERSION = "ai_models_name_version";

export async function insertModel(
  tx: WriteTransaction,
  row: typeof aiModels.$inferInsert,
): Promise<ModelRow> {
  const [inserted] = await tx.insert(aiModels).values(row).returning();
  if (!inserted) throw new Error("insert into ai_models returned no row");
  return inserted;
}

export async function findModel(
  tx: WriteTransaction,
  id: string,
  options: { lock?: boolean } = {},
): Promise<ModelRow | undefined> {
  const query = tx.select().from(aiModels).where(eq(aiModels.id, id));
  const [row] = options.lock ? await query.for("update") : await query;
  return row;
}

export async function recordPerformance(
  tx: WriteTransaction,
  id: string,
  performance: { metrics: Record<string, number>; measuredAt: Date },
): Promise<ModelRow> {
  const [updated] = await tx
    .update(aiModels)
    .set({ latestMetrics: performance.metrics, latestMeasuredAt: performance.measuredAt })
    .where(eq(aiModels.id, id))
    .returning();
  if (!updated) throw new Error(`update of model ${id} returned no row`);
  return updated;
}

export async function insertPrediction(
  tx: WriteTransaction,
  row: typeof aiPredictions.$inferInsert,
): Promise<PredictionRow> {
  const [inserted] = await tx.insert(aiPredictions).values(row).returning();
  if (!inserted) throw new Error("insert into ai_predictions returned no row");
  return inserted;
}

export async function findPrediction(tx: WriteTransaction, id: string): Promise<PredictionRow | undefined> {
  const [row] = await tx.select().from(aiPredictions).where(eq(aiPredictions.id, id));
  return row;
}

export async function insertInsight(
  tx: WriteTransaction,
  row: typeof aiInsights.$inferInsert,
): Promise<InsightRow> {
  const [inserted] = await tx.insert(aiInsights).values(row).returning();
  if (!inserted) throw new Error("insert into ai_insights returned no row");
  return inserted;
}
