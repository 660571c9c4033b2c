// What of a W3C tracestate the platform lets into its trace context. The outbox stores the trace context of the
// span that appends each event, and both relays copy it into every record's headers: a tracestate is text its
// sender chooses (a caller's header, a record's), and what of it reaches a row stays in the tamper-evident
// history and in Kafka for good, where erasing a patient (destroying their key) cannot reach it. So it is cut
// down where it comes in, before a span is made of it: only members whose keys the operator named
// (TRACESTATE_KEYS) are kept, and a tracestate that is not well-formed is dropped whole, as W3C Trace Context
// lets a vendor drop what it does not understand. Members the platform's own tracer adds come after, on its spans.
import { TRACESTATE_KEY } from "../config/tracestateKeys.ts";

/** W3C Trace Context's limits on a tracestate: its members, and the length of the whole header. */
const MAX_MEMBERS = 32;
const MAX_LENGTH = 512;

/** A member's value: up to 256 printable ASCII characters but `,` and `=`, the last not a space. */
const VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/** Optional white space around a member (spaces and tabs), as joining several headers leaves it. */
const AROUND_MEMBER = /^[ \t]+|[ \t]+$/g;

export interface TracestateMember {
  key: string;
  value: string;
}

/**
 * The members of `tracestate` whose keys are in `keys`, as a tracestate header; undefined when none is, or
 * when `tracestate` is absent or not well-formed.
 */
export function admittedTracestate(
  tracestate: string | null | undefined,
  keys: ReadonlySet<string>,
): string | undefined {
  if (tracestate === null || tracestate === undefined || keys.size === 0) return undefined;
  const admitted = (tracestateMembers(tracestate) ?? []).filter(({ key }) => keys.has(key));
  if (admitted.length === 0) return undefined;
  return admitted.map(({ key, value }) => `${key}=${value}`).join(",");
}

/**
 * The members of a tracestate header in their order, or undefined when it is not well-formed: longer than 512
 * characters, more than 32 members, a member that is not `key=value` by the grammar, or a key given twice.
 * Empty members (`a=1,,b=2`) are allowed, as the specification allows them.
 */
export function tracestateMembers(tracestate: string): TracestateMember[] | undefined {
  if (tracestate.length > MAX_LENGTH) return undefined;
  const members: TracestateMember[] = [];
  for (const listed of tracestate.split(",")) {
    const member = listed.replace(AROUND_MEMBER, "");
    if (member === "") continue;
    const equals = member.indexOf("=");
    const key = member.slice(0, equals);
    const value = member.slice(equals + 1);
    if (equals < 0 || !TRACESTATE_KEY.test(key) || !VALUE.test(value)) return undefined;
    if (members.some((earlier) => earlier.key === key)) return undefined;
    members.push({ key, value });
  }
  return members.length <= MAX_MEMBERS ? members : undefined;
}
