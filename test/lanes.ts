// The integration files run in lanes, side by side: each lane a vitest worker with a Postgres server, a Kafka
// broker, a Connect worker and a secure test broker of its own, so that one lane's files never see another's
// rows, records, locks or transaction horizon, and a file that stops its broker stops only its lane's. The
// services are the project's own (stack/), each lane's on ports of its own, above those of the stack `npm start`
// runs: a test never writes to its topics, parks its consumers' records or stops its broker. Services the
// environment names (DATABASE_URL, a KAFKA_BROKERS that is not the local broker, a cluster of three) cannot be
// doubled, so the suite then runs in one lane, one file at a time, as it did before lanes.
import { loadStackEnv } from "../config/env.ts";
import { connectClusterFromEnv, connectWorkerUrl } from "../stack/connect.ts";
import { kafkaClusterFromEnv, localKafkaBrokers } from "../stack/kafka.ts";

/** How far apart two lanes' ports are: a broker takes its port and the next, the secure broker three. */
export const LANE_PORT_STEP = 10;

/** The first port of the secure test broker of lane 0 (test/secureKafka.ts). */
export const SECURE_KAFKA_BASE_PORT = 19_092;

/** What a worker needs to know of its lane. */
export interface TestLane {
  databaseUrl: string;
  kafkaBrokers: string[];
  /** True when the lane's broker is one this checkout started: the only kind a test may stop. */
  localKafka: boolean;
  /** The variables that point the worker's own code and the processes it starts at the lane's services. */
  env: Record<string, string>;
}

/**
 * TEST_LANES (1 to 4) when set; else 2 when the suite runs on the project's own single-node stack, and 1 when
 * the environment names a service of its own.
 */
export function testLaneCount(env: NodeJS.ProcessEnv = process.env): number {
  const given = env.TEST_LANES;
  if (given !== undefined && given !== "") {
    const count = Number(given);
    if (!Number.isInteger(count) || count < 1 || count > 4)
      throw new Error(`TEST_LANES=${given}: must be a whole number from 1 to 4`);
    return count;
  }
  return ownSingleNodeStack(env) ? 2 : 1;
}

function ownSingleNodeStack(env: NodeJS.ProcessEnv): boolean {
  if (env.DATABASE_URL) return false;
  const stack = loadStackEnv(env);
  if (stack.KAFKA_BROKER_COUNT > 1) return false;
  const brokers = env.KAFKA_BROKERS;
  return !brokers || brokers === localKafkaBrokers(kafkaClusterFromEnv(env)).join(",");
}

/**
 * The variables of lane `index` beside the environment: every port of the project's own services `index + 1`
 * steps above the development stack's (the stack `npm start` and `npm run stack:up` run, which no test touches),
 * the secure test broker's `index` steps above its first, and KAFKA_BROKERS and KAFKA_CONNECT_URL, when they
 * name the development stack's local services, naming the lane's. A DATABASE_URL stays as given.
 */
export function laneEnvironment(index: number, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const stack = loadStackEnv(env);
  const shift = (index + 1) * LANE_PORT_STEP;
  const secureBase = Number(env.TEST_SECURE_KAFKA_PORT || SECURE_KAFKA_BASE_PORT);
  const lane: Record<string, string> = {
    POSTGRES_PORT: String(stack.POSTGRES_PORT + shift),
    KAFKA_PORT: String(stack.KAFKA_PORT + shift),
    CONNECT_PORT: String(stack.CONNECT_PORT + shift),
    TEST_SECURE_KAFKA_PORT: String(secureBase + index * LANE_PORT_STEP),
  };
  const shifted = { ...env, ...lane };
  if (env.KAFKA_BROKERS === localKafkaBrokers(kafkaClusterFromEnv(env)).join(","))
    lane.KAFKA_BROKERS = localKafkaBrokers(kafkaClusterFromEnv(shifted)).join(",");
  if (env.KAFKA_CONNECT_URL && namesLocalConnect(env.KAFKA_CONNECT_URL, env))
    lane.KAFKA_CONNECT_URL = connectWorkerUrl(0, connectClusterFromEnv(shifted));
  return lane;
}

function namesLocalConnect(url: string, env: NodeJS.ProcessEnv): boolean {
  const given = new URL(url);
  const local = new URL(connectWorkerUrl(0, connectClusterFromEnv(env)));
  const loopback = ["127.0.0.1", "localhost", "[::1]"];
  return loopback.includes(given.hostname) && given.port === local.port;
}

/**
 * Runs `work` with `variables` set in this process's environment, and puts the environment back after: the
 * stack's functions read their ports from it when they are called.
 */
export async function withEnvironment<T>(
  variables: Record<string, string>,
  work: () => Promise<T>,
): Promise<T> {
  const before = Object.fromEntries(Object.keys(variables).map((name) => [name, process.env[name]]));
  Object.assign(process.env, variables);
  try {
    return await work();
  } finally {
    for (const [name, value] of Object.entries(before)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}
