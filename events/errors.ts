// The two ways an event can be refused by the catalog, each naming what a person needs to fix it:
// the event type, and every bad field by its path.
import type { z } from "zod";

export class UnknownEventTypeError extends Error {
  constructor(readonly eventType: string) {
    super(`Unknown event type "${eventType}": it is not in the event catalog (events/catalog.ts)`);
    this.name = "UnknownEventTypeError";
  }
}

export interface FieldProblem {
  /** Dotted path inside the checked value, e.g. `insuranceInfo.expiryDate` or `allergies[2]`. */
  path: string;
  message: string;
}

export class EventValidationError extends Error {
  constructor(
    /** The event type whose schema refused the value; `null` when the envelope itself is malformed. */
    readonly eventType: string | null,
    readonly problems: readonly FieldProblem[],
  ) {
    const subject =
      eventType === null ? "Invalid event envelope" : `Invalid data for event type "${eventType}"`;
    super(`${subject}:\n${problems.map((problem) => `  - ${problem.path}: ${problem.message}`).join("\n")}`);
    this.name = "EventValidationError";
  }

  static fromZod(eventType: string | null, error: z.ZodError, pathPrefix: readonly PropertyKey[] = []) {
    return new EventValidationError(
      eventType,
      error.issues.flatMap((issue) => fieldProblems(issue, pathPrefix)),
    );
  }
}

/** Passed to every parse, so that a missing field reads "is required", not "expected string, received undefined". */
export const missingFieldIsRequired: z.core.$ZodErrorMap = (issue) =>
  issue.code === "invalid_type" && issue.input === undefined ? "is required" : undefined;

function fieldProblems(issue: z.core.$ZodIssue, pathPrefix: readonly PropertyKey[]): FieldProblem[] {
  const path = [...pathPrefix, ...issue.path];
  // zod reports every unknown key of an object in one issue at the object's path; name each key instead.
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => ({ path: formatPath([...path, key]), message: "unknown field" }));
  }
  return [{ path: formatPath(path), message: issue.message }];
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "(the value itself)";
  return path
    .map((segment, index) => {
      if (typeof segment === "number") return `[${segment}]`;
      return index === 0 ? String(segment) : `.${String(segment)}`;
    })
    .join("");
}
