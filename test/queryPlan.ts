// EXPLAIN for the tests that pin a query's plan: the plan's node types and the indexes it reads.
import type pg from "pg";

interface PlanNode {
  "Node Type": string;
  "Index Name"?: string;
  Plans?: PlanNode[];
}

export interface QueryPlan {
  nodeTypes: string[];
  indexes: string[];
  /** The whole plan as JSON, to print when an assertion fails. */
  text: string;
}

export async function explainPlan(client: pg.ClientBase, sql: string, values: unknown[]): Promise<QueryPlan> {
  const explained = await client.query<{ "QUERY PLAN": Array<{ Plan: PlanNode }> }>(
    `EXPLAIN (FORMAT JSON) ${sql}`,
    values,
  );
  const root = explained.rows[0]?.["QUERY PLAN"][0]?.Plan;
  if (!root) throw new Error("EXPLAIN returned no plan");
  const nodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)];
  const all = nodes(root);
  return {
    nodeTypes: all.map((node) => node["Node Type"]),
    indexes: all.flatMap((node) => (node["Index Name"] ? [node["Index Name"]] : [])),
    text: JSON.stringify(root),
  };
}
