// `npm run chaos`: a bounded fault-injection run on a three-broker Kafka cluster under a steady HTTP write load
// through the real API. It chooses its own ports (so it never touches a development stack) before the stack
// modules read them, then runs chaos/run.ts.
import { parseCommand } from "../cli/command.ts";

const { values, refuse } = parseCommand({
  usage: `usage: npm run chaos -- [--mode polling|debezium] [--profile full|ci]
  starts its own Postgres, a three-node Kafka cluster (and two Kafka Connect workers in Debezium mode), the
  platform's API and two polling relays as processes, writes through the API at a steady rate while it kills
  the leader broker of a busy partition, the leading relay (several times), Postgres (fast shutdown and
  restart), a Connect worker (Debezium mode) and leaves a zombie relay (polling mode), then reads every topic
  back with a read_committed consumer and prints what was lost, invented, re-ordered or duplicated, and the
  delays around each fault. Exits 1 on any loss, phantom or re-ordering, or a fault it could not inject. The
  full profile takes under 10 minutes, ci about 3. Ports from the environment: POSTGRES_PORT (23005), KAFKA_PORT (29092: nodes on 29092,
  29094, 29096), CONNECT_PORT (28084), CHAOS_API_PORT (23000; relays on the next two ports).`,
  options: {
    mode: { type: "string", default: "polling" },
    profile: { type: "string", default: "full" },
  },
});
const mode = values.mode;
const profile = values.profile;
if (mode !== "polling" && mode !== "debezium") refuse(`--mode must be polling or debezium, not ${mode}`);
if (profile !== "full" && profile !== "ci") refuse(`--profile must be full or ci, not ${profile}`);

process.env.POSTGRES_PORT ||= "23005";
process.env.KAFKA_PORT ||= "29092";
process.env.KAFKA_BROKER_COUNT ||= "3";
process.env.CONNECT_PORT ||= "28084";
process.env.CONNECT_WORKERS ||= "2";
// The run owns its services: the variables that would point it at others are ignored.
delete process.env.DATABASE_URL;
delete process.env.KAFKA_BROKERS;
delete process.env.KAFKA_CONNECT_URL;

const { runChaos } = await import("./run.ts");
process.exitCode = await runChaos({
  mode: mode as "polling" | "debezium",
  profile: profile as "full" | "ci",
  apiPort: Number(process.env.CHAOS_API_PORT || 23000),
});
