// "In the future" is checked when a request is done, not when it is read: inside the route's work, after its
// Idempotency-Key is claimed, so that a retry of a request that was taken gets its answer again even once the
// time it named has passed (the schema cannot tell a retry from a new request).
import { HttpProblem } from "./problem.ts";

/** Refuses, naming the field, an instant that is not after now; null (none given) passes. */
export function requireFuture(field: string, instant: string | null): void {
  if (instant !== null && Date.parse(instant) <= Date.now()) {
    throw HttpProblem.invalid([{ field, message: "must be in the future" }]);
  }
}
