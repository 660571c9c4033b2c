// Postgres constraint violations that a service turns into a client's problem (a 409), recognised by the
// constraint's name; drizzle wraps the driver's error, so the name may sit on its cause.
import { HttpProblem } from "./problem.ts";

export function violatesConstraint(error: unknown, constraint: string): boolean {
  for (let current = error; current instanceof Error; current = current.cause) {
    if ((current as { constraint?: string }).constraint === constraint) return true;
  }
  return false;
}

/**
 * Runs `write`; a violation of one of the constraints `conflicts` names becomes a 409 with that constraint's
 * detail (the transaction is rolled back by the caller's failure, as for any error). Other errors pass.
 */
export async function refusingConflicts<T>(
  write: () => Promise<T>,
  conflicts: Readonly<Record<string, string>>,
): Promise<T> {
  try {
    return await write();
  } catch (error) {
    const violated = Object.keys(conflicts).find((constraint) => violatesConstraint(error, constraint));
    if (violated === undefined) throw error;
    throw new HttpProblem(409, "Conflict", conflicts[violated]);
  }
}
