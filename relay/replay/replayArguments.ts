// The replay's command line read into a request, every flag checked: a problem names the flag and what it
// accepts, and nothing runs (cli/command.ts prints it with the usage and exits 2).
import { eventDefinition, eventTypes, isEventType, isTopicName, topics } from "../../events/index.ts";
import { millisecondDate, readInstant } from "../../events/instant.ts";
import { MIN_RATE_PER_SECOND } from "./ratePacer.ts";
import type { ReplayRequest } from "./replayHistory.ts";
import { holdsNoEvents } from "./replayRule.ts";

export const replayOptions = {
  topic: { type: "string" },
  "from-position": { type: "string" },
  "to-position": { type: "string" },
  since: { type: "string" },
  until: { type: "string" },
  aggregate: { type: "string" },
  "event-type": { type: "string" },
  "correlation-id": { type: "string" },
  "to-topic": { type: "string" },
  rate: { type: "string" },
  "dry-run": { type: "boolean", default: false },
  yes: { type: "boolean", short: "y", default: false },
} as const;

export type ReplayValues = {
  [Name in keyof typeof replayOptions]?: (typeof replayOptions)[Name]["type"] extends "string"
    ? string
    : boolean;
};

export class ReplayArgumentError extends Error {}

const POSITION = /^\d{1,19}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** What Kafka accepts as a topic name. */
const KAFKA_TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
/**
 * A number in decimal notation (250, 0.5, 1e-3). `Number()` alone also takes "0x10" (16), "0b11" (3) and
 * blanks around it: a typo must be an error, not another pace.
 */
const DECIMAL = /^(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

const aggregateTypes = [...new Set(eventTypes.map((type) => eventDefinition(type).aggregateType))];

/**
 * Reads the flags into a request, or throws ReplayArgumentError naming the first bad one. `now` is the present
 * a --since may not be after: such a replay would select nothing and report success. (An --until after it
 * only means "up to now".)
 */
export function replayRequest(values: ReplayValues, now = new Date()): ReplayRequest {
  const fail = (problem: string): never => {
    throw new ReplayArgumentError(problem);
  };
  const position = (flag: "from-position" | "to-position") => {
    const value = values[flag];
    if (value === undefined) return undefined;
    if (!POSITION.test(value) || BigInt(value) > 9223372036854775807n)
      fail(`--${flag} ${value}: must be an outbox position (a whole number, 0 or more)`);
    return value;
  };
  const instant = (flag: "since" | "until") => {
    const value = values[flag];
    if (value === undefined) return undefined;
    const reading = readInstant(value);
    if (!reading.instant) return fail(`--${flag} ${value}: ${reading.problem}`);
    // The replay's audit event records its selection to the millisecond (audit.history.replayed): a finer
    // bound would select other rows than the record says.
    return (
      millisecondDate(reading.instant) ??
      fail(
        `--${flag} ${value}: must not be more precise than milliseconds (a replay records its selection to the millisecond)`,
      )
    );
  };

  const topic = values.topic;
  if (topic !== undefined && !isTopicName(topic))
    fail(
      `--topic ${topic}: unknown topic; one of ${topics
        .filter((t) => !t.name.endsWith(".dlq"))
        .map((t) => t.name)
        .join(", ")}`,
    );
  const fromPosition = position("from-position");
  const toPosition = position("to-position");
  if (fromPosition !== undefined && toPosition !== undefined && BigInt(fromPosition) > BigInt(toPosition))
    fail(`--from-position ${fromPosition} is after --to-position ${toPosition}: an empty range`);
  const since = instant("since");
  const until = instant("until");
  if (since && since > now)
    fail(`--since ${values.since}: is in the future; nothing has been committed since then to replay`);
  if (since && until && since >= until)
    fail(`--since ${values.since} is not before --until ${values.until}: an empty range`);

  let aggregate: { type: string; id: string } | undefined;
  if (values.aggregate !== undefined) {
    const colon = values.aggregate.indexOf(":");
    const type = values.aggregate.slice(0, colon);
    const id = values.aggregate.slice(colon + 1);
    if (colon < 1 || id === "")
      fail(`--aggregate ${values.aggregate}: must be <type>:<id>, e.g. patient:<uuid>`);
    if (!(aggregateTypes as string[]).includes(type))
      fail(
        `--aggregate ${values.aggregate}: unknown aggregate type ${type}; one of ${aggregateTypes.join(", ")}`,
      );
    // Ids are canonical (lower case) in the outbox: another spelling would select nothing.
    aggregate = { type, id: UUID.test(id.toLowerCase()) ? id.toLowerCase() : id };
  }
  const eventType = values["event-type"];
  if (eventType !== undefined && !isEventType(eventType))
    fail(`--event-type ${eventType}: unknown event type; see events/catalog.ts (e.g. patient.updated)`);
  const correlationId = values["correlation-id"]?.toLowerCase();
  if (correlationId !== undefined && !UUID.test(correlationId))
    fail(`--correlation-id ${values["correlation-id"]}: must be a UUID`);

  const toTopic = values["to-topic"];
  if (toTopic !== undefined && !KAFKA_TOPIC.test(toTopic))
    fail(`--to-topic ${toTopic}: not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)`);
  const notForEvents = toTopic === undefined ? null : holdsNoEvents(toTopic);
  if (notForEvents) fail(`--to-topic ${toTopic}: ${notForEvents}`);
  let ratePerSecond: number | null = null;
  if (values.rate !== undefined) {
    ratePerSecond = Number(values.rate);
    if (!DECIMAL.test(values.rate) || !Number.isFinite(ratePerSecond) || ratePerSecond <= 0)
      fail(`--rate ${values.rate}: must be a number of events per second above 0`);
    if (ratePerSecond < MIN_RATE_PER_SECOND)
      fail(
        `--rate ${values.rate}: must be at least ${MIN_RATE_PER_SECOND} events per second (one event every ${1 / MIN_RATE_PER_SECOND} s); a slower pace cannot be timed`,
      );
  }

  const filter = { topic, fromPosition, toPosition, since, until, aggregate, eventType, correlationId };
  if (Object.values(filter).every((value) => value === undefined))
    fail(
      "choose what to replay: --topic, a position range, a time range, --aggregate, --event-type or --correlation-id",
    );
  return {
    filter: Object.fromEntries(Object.entries(filter).filter(([, value]) => value !== undefined)),
    toTopic: toTopic ?? null,
    ratePerSecond,
  };
}
