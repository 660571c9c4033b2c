// `tsx stack/cli.ts up|down|status`: runs the local Postgres and Kafka by hand (those DATABASE_URL and
// KAFKA_BROKERS do not name already). `up` prints the variables
// on stdout (progress goes to stderr), so `eval "$(npx tsx stack/cli.ts up)"` points a shell at them.
// `up connect` also starts the local Kafka Connect worker (for RELAY_MODE=debezium); `down` stops it too.
import { parseCommand } from "../cli/command.ts";
import {
  connectIsRunning,
  connectLogFile,
  localConnectPid,
  localConnectUrl,
  startConnect,
  stopConnect,
} from "./connect.ts";
import {
  kafkaIsRunning,
  kafkaLogFile,
  localKafkaBrokers,
  localKafkaPid,
  startKafka,
  stopKafka,
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
  const [postgres, kafka] = await Promise.all([
    givenDatabase ? null : startPostgres(progress),
    givenBrokers?.length ? null : startKafka(progress),
  ]);
  if (postgres) {
    progress(`postgres ${postgres.startedByUs ? "started" : "already running"}; log ${postgresLogFile}`);
    console.log(`export DATABASE_URL=${postgres.databaseUrl}`);
  }
  if (kafka) {
    progress(`kafka ${kafka.startedByUs ? "started" : "already running"}; log ${kafkaLogFile}`);
    console.log(`export KAFKA_BROKERS=${kafka.brokers.join(",")}`);
  }
  if (withConnect) {
    const connect = await startConnect(kafka?.brokers ?? givenBrokers ?? localKafkaBrokers, progress);
    progress(`connect ${connect.startedByUs ? "started" : "already running"}; log ${connectLogFile}`);
    console.log(`export KAFKA_CONNECT_URL=${connect.url}`);
  }
}

async function down(): Promise<void> {
  // Connect first: it would spend its shutdown retrying a broker that is already gone.
  await stopConnect();
  await Promise.all([stopPostgres(), stopKafka()]);
  progress("postgres, kafka and connect stopped");
}

async function status(): Promise<void> {
  const [pgAnswers, pgPid, kafkaAnswers, kafkaPid, connectAnswers, connectPid] = await Promise.all([
    postgresIsRunning(),
    localPostgresPid(),
    kafkaIsRunning(),
    localKafkaPid(),
    connectIsRunning().catch(() => false),
    localConnectPid(),
  ]);
  console.log(`postgres: ${describe(pgAnswers, pgPid, localDatabaseUrl)}`);
  console.log(`kafka:    ${describe(kafkaAnswers, kafkaPid, localKafkaBrokers.join(","))}`);
  console.log(`connect:  ${describe(connectAnswers, connectPid, localConnectUrl)}`);
}

function describe(answers: boolean, pid: number | undefined, where: string): string {
  if (answers && pid === undefined) return `running at ${where} (not started by this project)`;
  if (answers) return `running at ${where} (pid ${pid})`;
  if (pid !== undefined) return `not answering yet (pid ${pid}: starting, or stuck)`;
  return "stopped";
}

const { positionals, refuse } = parseCommand({
  usage: `usage: npm run stack:up [-- connect] | npm run stack:down | npm run stack:status
  up       starts the local Postgres and Kafka that DATABASE_URL and KAFKA_BROKERS do not name, and prints
           the variables (eval "$(npx tsx stack/cli.ts up)"); with connect, the Kafka Connect worker too
  down     stops what this project started (Connect, Kafka, Postgres)
  status   tells whether each one runs`,
  allowPositionals: true,
});
const commands: Record<string, () => Promise<void>> = { up, down, status };
const [name = "", ...extra] = positionals;
const command = commands[name] ?? refuse(name ? `unknown command ${name}` : "which command?");
const withConnect = name === "up" && extra[0] === "connect";
if (extra.length > (withConnect ? 1 : 0)) refuse(`unexpected argument ${extra.join(" ")}`);
try {
  await command();
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
