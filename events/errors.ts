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
  /** The path's segments, as the value spelled them. */
  segments: readonly PropertyKey[];
  /** Whose name the last segment is: a field the schema does not know, or a map's key its rule refused. */
  named?: "unknown-field" | "refused-key";
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

  /**
   * The problems without a name the value chose, for text that travels beside the value (a dead letter's
   * headers, which `npm run dlq list` prints): a forged record's field names could carry patient data. Unknown
   * fields are counted in the object that holds them; a map's key, or a segment that is no plain field name, is
   * shown as `[key]`.
   */
  messageNamingNothingFromTheValue(): string {
    const lines = new Map<string, number>();
    for (const { segments, named, message } of this.problems) {
      const shown = (named ? segments.slice(0, -1) : segments).map(plainOrHidden);
      const line =
        named === "unknown-field"
          ? `${formatPath(shown)}: unknown field`
          : `${formatPath(named === "refused-key" ? [...shown, HIDDEN] : shown)}: ${message}`;
      lines.set(line, (lines.get(line) ?? 0) + 1);
    }
    const subject =
      this.eventType === null ? "Invalid event envelope" : `Invalid data for event type "${this.eventType}"`;
    const listed = [...lines].map(([line, count]) => `  - ${line}${count > 1 ? ` (${count} times)` : ""}`);
    return `${subject}:\n${listed.join("\n")}`;
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
    return issue.keys.map((key) => {
      const segments = [...path, key];
      return { path: formatPath(segments), message: "unknown field", segments, named: "unknown-field" };
    });
  }
  const named = issue.code === "invalid_key" ? "refused-key" : undefined;
  return [{ path: formatPath(path), message: issue.message, segments: path, ...(named && { named }) }];
}

/** A field name as the schemas spell theirs, or a list index; anything else stands hidden as `[key]`. */
function plainOrHidden(segment: PropertyKey): PropertyKey {
  if (typeof segment === "number") return segment;
  return typeof segment === "string" && /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(segment) ? segment : HIDDEN;
}

const HIDDEN = Symbol("[key]");

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "(the value itself)";
  return path
    .map((segment, index) => {
      if (typeof segment === "number") return `[${segment}]`;
      if (segment === HIDDEN) return "[key]";
      return index === 0 ? String(segment) : `.${String(segment)}`;
    })
    .join("");
}
