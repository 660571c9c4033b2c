// `tsx stack/cli.ts up|down|status`: runs the local Postgres and Kafka by hand (those DATABASE_URL and
// KAFKA_BROKERS do not name already). `up` prints the variables
// on stdout (progress goes to stderr), so `eval "$(npx tsx stack/cli.ts up)"` points a shell at them.
// `up connect` also starts the local Kafka Connect worker(s) (for RELAY_MODE=debezium); `down` stops them too.
// `--brokers 3` (KAFKA_BROKER_COUNT) runs a three-node cluster, `--workers 2` (CONNECT_WORKERS) two workers.
import { parseCommand } from "../cli/command.ts";
import { reportFailure } from "../cli/failure.ts";
import { loadStackEnv } from "../config/env.ts";
import {
  connectClusterFromEnv,
  connectWorkerPid,
  connectWorkerUrl,
  probeWorker,
  startConnect,
  stopAllConnect,
} from "./connect.ts";
import {
  describeKafkaCluster,
  kafkaClusterFromEnv,
  kafkaNodeLogFile,
  startKafka,
  stopAllKafka,
} from "./kafka.ts";
import {
  localDatabaseUrl,
  localPostgresPid,
  postgresIsRunning,
  postgresLogFile,
  startPostgres,
  stopPostgres,
} from "./postgres.ts";

const progress = (line: string) => console.error(line);

async function up(): Promise<void> {
  // Services the environment already names (DATABASE_URL, KAFKA_BROKERS) are not started: CI points the tests
  // at the machine's Postgres and needs only the broker and the worker from here.
  const givenDatabase = process.env.DATABASE_URL || undefined;
  const givenBrokers = process.env.KAFKA_BROKERS?.split(",").filter(Boolean);
  const cluster = kafkaClusterFromEnv();
  const [postgres, kafka] = await Promise.all([
    givenDatabase ? null : startPostgres(progress),
    givenBrokers?.length ? null : startKafka(progress, cluster),
  ]);
  if (postgres) {
    progress(`postgres ${postgres.startedByUs ? "started" : "already running"}; log ${postgresLogFile()}`);
    console.log(`export DATABASE_URL=${postgres.databaseUrl}`);
  }
  if (kafka) {
    // The node's own log, named by its port unless it is the default one.
    const logs =
      cluster.brokerCount === 1
        ? kafkaNodeLogFile(0, cluster)
        : kafkaNodeLogFile(0, cluster).replace(/-\d+\.log$/, "-*.log");
    progress(`kafka ${kafka.startedByUs ? "started" : "already running"}; log ${logs}`);
    console.log(`export KAFKA_BROKERS=${kafka.brokers.join(",")}`);
    if (cluster.brokerCount > 1) console.log(`export KAFKA_BROKER_COUNT=${cluster.brokerCount}`);
  }
  if (withConnect) {
    const connect = await startConnect(kafka?.brokers ?? givenBrokers ?? [], progress);
    progress(`connect ${connect.startedByUs ? "started" : "already running"}`);
    console.log(`export KAFKA_CONNECT_URL=${connect.url}`);
  }
}

async function down(): Promise<void> {
  // Connect first: it would spend its shutdown retrying a broker that is already gone.
  await stopAllConnect();
  await Promise.all([stopPostgres(), stopAllKafka()]);
  progress("postgres, kafka and connect stopped");
}

async function status(): Promise<void> {
  const cluster = kafkaClusterFromEnv();
  const workers = connectClusterFromEnv();
  const [pgAnswers, pgPid, kafka, connect] = await Promise.all([
    postgresIsRunning(),
    localPostgresPid(),
    describeKafkaCluster(cluster),
    Promise.all(
      Array.from({ length: workers.workers }, async (_, index) => {
        const url = connectWorkerUrl(index, workers);
        const answers = (await probeWorker(url).catch(() => "absent")) === "ready";
        return { url, answers, pid: await connectWorkerPid(index, workers) };
      }),
    ),
  ]);
  console.log(`postgres: ${describe(pgAnswers, pgPid, localDatabaseUrl())}`);
  for (const node of kafka.nodes) {
    const name = cluster.brokerCount === 1 ? "kafka:   " : `kafka ${node.index}: `;
    console.log(`${name} ${describe(node.up, node.pid, `localhost:${node.port}`)} node.id ${node.nodeId}`);
  }
  if (kafka.nodes.some((node) => node.up)) {
    console.log(
      `  controller leader: ${kafka.controllerLeader === undefined ? "unknown" : `node.id ${kafka.controllerLeader}`}`,
    );
    console.log(`  under-replicated partitions: ${kafka.underReplicatedPartitions ?? "unknown"}`);
  }
  for (const [index, worker] of connect.entries()) {
    const name = workers.workers === 1 ? "connect: " : `connect ${index}:`;
    console.log(`${name} ${describe(worker.answers, worker.pid, worker.url)}`);
  }
}

function describe(answers: boolean, pid: number | undefined, where: string): string {
  if (answers && pid === undefined) return `running at ${where} (not started by this project)`;
  if (answers) return `running at ${where} (pid ${pid})`;
  if (pid !== undefined) return `not answering at ${where} yet (pid ${pid}: starting, or stuck)`;
  return `stopped (${where})`;
}

const { positionals, values, refuse } = parseCommand({
  usage: `usage: npm run stack:up [-- [connect] [--brokers N] [--workers N]] | npm run stack:down | npm run stack:status
  up       starts the local Postgres and Kafka that DATABASE_URL and KAFKA_BROKERS do not name, and prints
           the variables (eval "$(npx tsx stack/cli.ts up)"); with connect, the Kafka Connect worker(s) too
  down     stops everything this checkout started (Connect workers, every Kafka node, Postgres)
  status   tells whether each one runs: every Kafka node, the quorum's leader, under-replicated partitions
  --brokers N   Kafka nodes (KAFKA_BROKER_COUNT, default 1; 3 makes a three-voter cluster, RF 3 topics)
  --workers N   Connect workers in one group (CONNECT_WORKERS, default 1)
  KAFKA_PORT (default 9092) and CONNECT_PORT (default 8083) move the stack to other ports`,
  allowPositionals: true,
  options: { brokers: { type: "string" }, workers: { type: "string" } },
});
// The options stand for their variables, so every module that reads the environment sees the same shape.
if (values.brokers !== undefined) process.env.KAFKA_BROKER_COUNT = values.brokers;
if (values.workers !== undefined) process.env.CONNECT_WORKERS = values.workers;
const commands: Record<string, () => Promise<void>> = { up, down, status };
const [name = "", ...extra] = positionals;
const command = commands[name] ?? refuse(name ? `unknown command ${name}` : "which command?");
const withConnect = name === "up" && extra[0] === "connect";
if (extra.length > (withConnect ? 1 : 0)) refuse(`unexpected argument ${extra.join(" ")}`);
try {
  // The stack's variables (the options among them) and any misspelt one, all reported before anything starts or
  // stops: the modules above read them only when asked.
  loadStackEnv();
  await command();
} catch (error) {
  process.exit(reportFailure(error));
}
