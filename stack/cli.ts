// `tsx stack/cli.ts up|down|status`: runs the local Postgres and Kafka by hand. `up` prints the variables
// on stdout (progress goes to stderr), so `eval "$(npx tsx stack/cli.ts up)"` points a shell at them.
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
  // The local services, whatever DATABASE_URL / KAFKA_BROKERS say: this command exists to run them.
  const [postgres, kafka] = await Promise.all([startPostgres(progress), startKafka(progress)]);
  progress(`postgres ${postgres.startedByUs ? "started" : "already running"}; log ${postgresLogFile}`);
  progress(`kafka ${kafka.startedByUs ? "started" : "already running"}; log ${kafkaLogFile}`);
  console.log(`export DATABASE_URL=${postgres.databaseUrl}`);
  console.log(`export KAFKA_BROKERS=${kafka.brokers.join(",")}`);
}

async function down(): Promise<void> {
  await Promise.all([stopPostgres(), stopKafka()]);
  progress("postgres and kafka stopped");
}

async function status(): Promise<void> {
  const [pgAnswers, pgPid, kafkaAnswers, kafkaPid] = await Promise.all([
    postgresIsRunning(),
    localPostgresPid(),
    kafkaIsRunning(),
    localKafkaPid(),
  ]);
  console.log(`postgres: ${describe(pgAnswers, pgPid, localDatabaseUrl)}`);
  console.log(`kafka:    ${describe(kafkaAnswers, kafkaPid, localKafkaBrokers.join(","))}`);
}

function describe(answers: boolean, pid: number | undefined, where: string): string {
  if (answers && pid === undefined) return `running at ${where} (not started by this project)`;
  if (answers) return `running at ${where} (pid ${pid})`;
  if (pid !== undefined) return `not answering yet (pid ${pid}: starting, or stuck)`;
  return "stopped";
}

const commands: Record<string, () => Promise<void>> = { up, down, status };
const command = commands[process.argv[2] ?? ""];
if (!command) {
  console.error("usage: tsx stack/cli.ts up|down|status");
  process.exit(2);
}
try {
  await command();
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
