// EXPLAIN for the tests that pin a query's plan: the plan's nodes, their types and the indexes they read.
import type pg from "pg";

/** One node of a plan as `EXPLAIN (FORMAT JSON)` prints it: the fields the tests read. */
export interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  "Index Cond"?: string;
  "Sort Key"?: string[];
  /** Only with ANALYZE. */
  "Actual Loops"?: number;
  Plans?: PlanNode[];
}

export interface QueryPlan {
  root: PlanNode;
  /** Every node of the plan, the root first, each before its children. */
  nodes: PlanNode[];
  nodeTypes: string[];
  indexes: string[];
  /** The whole plan as JSON, to print when an assertion fails. */
  text: string;
}

/** The plan of `sql` (a statement EXPLAIN takes: a query, an EXECUTE, a DECLARE … CURSOR), run too with `analyze`. */
export async function explainPlan(
  client: pg.ClientBase,
  sql: string,
  values: unknown[],
  { analyze = false } = {},
): Promise<QueryPlan> {
  const explained = await client.query<{ "QUERY PLAN": Array<{ Plan: PlanNode }> }>(
    `EXPLAIN (${analyze ? "ANALYZE, " : ""}FORMAT JSON) ${sql}`,
    values,
  );
  const root = explained.rows[0]?.["QUERY PLAN"][0]?.Plan;
  if (!root) throw new Error("EXPLAIN returned no plan");
  const nodesOf = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodesOf)];
  const nodes = nodesOf(root);
  return {
    root,
    nodes,
    nodeTypes: nodes.map((node) => node["Node Type"]),
    indexes: nodes.flatMap((node) => (node["Index Name"] ? [node["Index Name"]] : [])),
    text: JSON.stringify(root),
  };
}
