// Every `npm run` command of the project, with the arguments a user gives it: `--help` prints its usage and
// changes nothing (no database touched, no file under .data/ written, no process left running); an unknown
// option is refused with the usage and exit code 2; a destructive command run by a script without --yes is
// refused. The commands are pointed at an empty database, and at a Kafka and a Connect that do not answer: a
// command that went on past its arguments would fail, hang, or leave a trace here.
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPortOpen } from "../stack/processes.ts";
import { compiledScript } from "../test/compiledCommands.ts";
import { databaseUrl } from "../test/fixtures.ts";

const projectRoot = fileURLToPath(new URL("..", import.meta.url));
const UNTOUCHED_DATABASE = "healthcare_commands_untouched";
/** Nothing listens on port 1: a command that reached for Kafka or Connect would fail or hang. */
const NOBODY = "127.0.0.1:1";
const COMMAND_TIMEOUT_MS = 60_000;
const AT_ONCE = 4;

const packageJson = JSON.parse(await readFile(join(projectRoot, "package.json"), "utf8")) as {
  scripts: Record<string, string>;
};
/**
 * The project's own commands, `tsx <file> [args]` each, or `npm run --silent build && exec node dist/<file>.js` for
 * the long-running ones (the others, tsc, vitest, biome, drizzle-kit, have their own --help). They are run with
 * the arguments after the script's own, without npm's launcher process, each compiled into dist/ once (as `npm
 * run build` compiles the long-running ones) and run on plain Node: the same code, at about a third of the CPU
 * that tsx's module loader takes to start it, for the two hundred processes this file starts. (Every other test
 * that starts a command runs it under tsx, as npm does.)
 */
const COMPILED = /^npm run --silent build && exec node dist\/(\S+)\.js(.*)$/;
const commandLines = new Map(
  Object.entries(packageJson.scripts).flatMap(([name, script]) => {
    if (script.startsWith("tsx ")) return [[name, script.slice("tsx ".length).split(" ")] as const];
    const compiled = COMPILED.exec(script);
    if (compiled) return [[name, `${compiled[1]}.ts${compiled[2]}`.split(" ")] as const];
    return [];
  }),
);
const commands = [...commandLines.keys()];
/** Each command's line with its file compiled (beforeAll). */
const compiledLines = new Map<string, string[]>();

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Whether any process of the command's process group was still alive after it exited. */
  leftRunning: boolean;
}

function runCommand(
  name: string,
  args: string[],
  untouchedUrl: string,
  extraEnv: Record<string, string> = {},
): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const line = compiledLines.get(name);
    if (!line) throw new Error(`${name} is not one of the project's commands`);
    const child = spawn(process.execPath, [...line, ...args], {
      cwd: projectRoot,
      // Its own process group, so that whatever it started can be found (and killed) afterwards.
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        DATABASE_URL: untouchedUrl,
        KAFKA_BROKERS: NOBODY,
        KAFKA_CONNECT_URL: `http://${NOBODY}`,
        CONNECT_DATABASE_URL: untouchedUrl,
        PORT: "0",
        ...extraEnv,
      },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const group = -(child.pid ?? 0);
    const timer = setTimeout(() => killGroup(group), COMMAND_TIMEOUT_MS);
    child.once("error", reject);
    child.once("close", async (code) => {
      clearTimeout(timer);
      const leftRunning = !(await groupGone(group));
      if (leftRunning) killGroup(group);
      resolve({ code, stdout, stderr, leftRunning });
    });
  });
}

/**
 * Whether the process group has ended. A helper process may take a moment to exit after the command's own
 * output closed; anything the command started to keep running (a server, a broker) is still there after that.
 */
async function groupGone(group: number, withinMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      process.kill(group, 0);
    } catch {
      return true;
    }
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function killGroup(group: number): void {
  try {
    process.kill(group, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/** Runs every command with the same arguments, a few at a time (each is a Node process of its own). */
async function runEvery(args: string[], untouchedUrl: string): Promise<Map<string, Outcome>> {
  const outcomes = await runEach(
    commands.map((name) => [name, args]),
    untouchedUrl,
  );
  return new Map(commands.map((name, index) => [name, outcomes[index] as Outcome]));
}

/** Runs each command line (a command and its arguments), a few at a time; the outcomes in the same order. */
async function runEach(
  lines: ReadonlyArray<readonly [string, readonly string[]]>,
  untouchedUrl: string,
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: AT_ONCE }, async () => {
      for (let index = next++; index < lines.length; index = next++) {
        const [name, args] = lines[index] as readonly [string, readonly string[]];
        outcomes[index] = await runCommand(name, [...args], untouchedUrl);
      }
    }),
  );
  return outcomes;
}

/**
 * A local service's own entries under .data/: its directory (`kafka/`, or `kafka-9392-1n/` for a stack on other
 * ports), what is in it, and its lock files. They come and go by themselves while the services run, and the
 * other test lanes (test/lanes.ts) start services of their own meanwhile.
 */
const LOCAL_SERVICE_ENTRY = /^(?:(?:postgres|kafka|connect)(?:-[^/\\]+)?|logs)(?:$|[/\\]|\.lock$)/;

/**
 * What is under .data/: every file (pid and lock files, development keys, archives, event docs) with its size
 * and mtime, and which directories exist. The local services' own entries do not count.
 */
async function dataDirectoryState(): Promise<string[]> {
  const root = join(projectRoot, ".data");
  const entries = await readdir(root, { recursive: true }).catch(() => [] as string[]);
  const described = await Promise.all(
    entries
      .filter((entry) => !LOCAL_SERVICE_ENTRY.test(entry))
      .map(async (entry) => {
        const info = await stat(join(root, entry)).catch(() => null);
        if (info?.isDirectory()) return `${entry}/`;
        return info ? `${entry} ${info.size} ${info.mtimeMs}` : `${entry} (gone)`;
      }),
  );
  return described.sort();
}

async function withServer<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

let untouchedUrl = "";

beforeAll(async () => {
  for (const [name, [file, ...scriptArgs]] of commandLines)
    compiledLines.set(name, [compiledScript(file as string), ...scriptArgs]);
  await withServer(async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${UNTOUCHED_DATABASE} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${UNTOUCHED_DATABASE}`);
  });
  const url = new URL(databaseUrl());
  url.pathname = `/${UNTOUCHED_DATABASE}`;
  untouchedUrl = url.toString();
});

afterAll(() =>
  withServer((client) => client.query(`DROP DATABASE IF EXISTS ${UNTOUCHED_DATABASE} WITH (FORCE)`)),
);

/** Relations, schemas and sessions of the untouched database: a migration or any query would show here. */
async function untouchedDatabaseState() {
  const client = new pg.Client({ connectionString: untouchedUrl });
  await client.connect();
  try {
    const relations = await client.query<{ name: string }>(
      `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1`,
    );
    const schemas = await client.query<{ name: string }>(
      `SELECT nspname AS name FROM pg_namespace
        WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1`,
    );
    return { relations: relations.rows.map((row) => row.name), schemas: schemas.rows.map((row) => row.name) };
  } finally {
    await client.end();
  }
}

describe("every npm run command", () => {
  it("covers the project's commands", () => {
    expect(commands).toEqual(
      expect.arrayContaining(["start", "stack:up", "db:migrate", "relay:switch", "dlq", "phi:rewrap"]),
    );
  });

  it("answers --help with its usage and changes nothing", async () => {
    const databaseBefore = await untouchedDatabaseState();
    const filesBefore = await dataDirectoryState();

    const outcomes = await runEvery(["--help"], untouchedUrl);

    for (const name of commands) {
      const outcome = outcomes.get(name);
      const invocation = name === "start" ? "npm start" : `npm run ${name}`;
      expect({ name, ...outcome }).toMatchObject({ name, code: 0, leftRunning: false });
      expect(outcome?.stdout, name).toMatch(/^usage: /);
      expect(outcome?.stdout, name).toContain(invocation);
    }
    expect(await untouchedDatabaseState()).toEqual(databaseBefore);
    expect(await dataDirectoryState()).toEqual(filesBefore);
  });

  it("refuses a destructive command without --yes when no terminal can ask, changing nothing", async () => {
    const databaseBefore = await untouchedDatabaseState();
    const filesBefore = await dataDirectoryState();

    const destructive = [
      ["phi:rewrap"],
      ["audit:archive"],
      ["dlq", "redrive", "patient-events"],
      ["relay:switch", "polling"],
      ["notifications:resolve", "--id", "0b8f6a7e-3c1d-4e2f-9a8b-7c6d5e4f3a2b", "--not-sent"],
    ] as const;
    const outcomes = await Promise.all(
      destructive.map(([name, ...args]) => runCommand(name, [...args], untouchedUrl)),
    );

    for (const [index, outcome] of outcomes.entries()) {
      expect({ command: destructive[index], ...outcome }).toMatchObject({ code: 2, leftRunning: false });
      expect(outcome.stderr).toContain("run it again with --yes");
    }
    expect(await untouchedDatabaseState()).toEqual(databaseBefore);
    expect(await dataDirectoryState()).toEqual(filesBefore);
  });

  it("refuses a misspelt variable of the project's, naming it and the one meant, changing nothing", async () => {
    const databaseBefore = await untouchedDatabaseState();
    const filesBefore = await dataDirectoryState();

    // The platform and the commands that would act without arguments: each refuses before it starts anything.
    const acting = [
      ["start"],
      ["relay"],
      ["consumers"],
      ["db:migrate"],
      ["topics"],
      ["relay:status"],
      ["stack:up"],
      ["audit:archive", "--yes"],
      ["phi:rewrap", "--yes"],
      ["dlq", "redrive", "patient-events", "--yes"],
    ] as const;
    const outcomes = await Promise.all(
      acting.map(([name, ...args]) =>
        runCommand(name, [...args], untouchedUrl, {
          PHI_MASTER_KEY: "prod:c2VjcmV0",
          AUDIT_RETENTION_DAY: "3650",
        }),
      ),
    );

    for (const [index, outcome] of outcomes.entries()) {
      expect({ command: acting[index], ...outcome }).toMatchObject({
        code: 1,
        stdout: "",
        leftRunning: false,
      });
      expect(outcome.stderr).toContain(
        "PHI_MASTER_KEY: not a variable this project reads; did you mean PHI_MASTER_KEYS?",
      );
      expect(outcome.stderr).toContain(
        "AUDIT_RETENTION_DAY: not a variable this project reads; did you mean AUDIT_RETENTION_DAYS?",
      );
      expect(outcome.stderr).not.toContain("c2VjcmV0");
      // The operator's mistake, not the code's: no stack trace follows the list.
      expect(outcome.stderr).not.toMatch(/^\s+at /m);
    }
    expect(await untouchedDatabaseState()).toEqual(databaseBefore);
    expect(await dataDirectoryState()).toEqual(filesBefore);
  });

  it("refuses a malformed variable, naming it with its password masked, changing nothing", async () => {
    const databaseBefore = await untouchedDatabaseState();
    // The untouched database under another scheme: a connection string library that ignores the scheme would
    // connect to it anyway.
    const mysqlUrl = untouchedUrl.replace(/^postgres(ql)?:/, "mysql:");
    const user = new URL(untouchedUrl).username;
    const cases = [
      [
        { DATABASE_URL: mysqlUrl },
        `DATABASE_URL="mysql://${user}:***@`,
        "must be a postgres:// connection URL",
      ],
      [{ CONNECT_DATABASE_URL: "nonsense" }, 'CONNECT_DATABASE_URL="nonsense"', "must be a postgres://"],
      // fetch refuses a URL with credentials: the worker was told as not answering, quoting the URL, password and all.
      [
        { KAFKA_CONNECT_URL: "http://admin:connect-secret@127.0.0.1:8083" },
        'KAFKA_CONNECT_URL="http://admin:***@127.0.0.1:8083"',
        "must not hold a user or password",
      ],
    ] as const;
    const outcomes = await Promise.all(
      cases.map(([env]) => runCommand("relay:status", [], untouchedUrl, env)),
    );

    for (const [index, outcome] of outcomes.entries()) {
      const [, variable, problem] = cases[index] as (typeof cases)[number];
      expect({ variable, ...outcome }).toMatchObject({ code: 1, stdout: "", leftRunning: false });
      expect(outcome.stderr).toContain(variable);
      expect(outcome.stderr).toContain(problem);
      expect(outcome.stderr).not.toContain("secret");
    }
    expect(await untouchedDatabaseState()).toEqual(databaseBefore);
  });

  it("in production, refuses to run without DATABASE_URL or KAFKA_BROKERS: no local service takes its place", async () => {
    const { privateKey } = generateKeyPairSync("ed25519");
    const production = {
      NODE_ENV: "production",
      DATABASE_URL: "",
      KAFKA_BROKERS: "",
      PHI_MASTER_KEYS: `k1:${Buffer.alloc(32, 7).toString("base64")}`,
      AUDIT_SIGNING_KEY: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      JWT_SECRET: "a-production-secret-of-32-characters-at-least",
    };
    // Each reaches for Postgres, Kafka or both once its arguments are read.
    const lines = [
      ["phi:rewrap", ["--yes"]],
      ["db:migrate", []],
      ["topics", []],
      ["audit:verify", []],
      ["relay:rebase", ["--dry-run"]],
      ["events:tail", []],
      ["dlq", ["list"]],
      ["relay", []],
    ] as const;
    const outcomes = await Promise.all(
      lines.map(([name, args]) => runCommand(name, [...args], untouchedUrl, production)),
    );
    for (const [index, outcome] of outcomes.entries()) {
      const [command] = lines[index] as (typeof lines)[number];
      expect({ command, code: outcome.code, leftRunning: outcome.leftRunning }).toEqual({
        command,
        code: 1,
        leftRunning: false,
      });
      expect(outcome.stderr).toMatch(/(DATABASE_URL|KAFKA_BROKERS): must be set when NODE_ENV=production/);
      expect(outcome.stdout).not.toMatch(/re-wrapped|migrations applied|intact/);
    }
  });

  it("refuses a NODE_ENV it does not know, rather than make up keys and use local services as outside production", async () => {
    const databaseBefore = await untouchedDatabaseState();
    const filesBefore = await dataDirectoryState();
    // A deployment's own spelling of production, with neither keys nor services set, as in production.
    const misspelt = { NODE_ENV: "Production", DATABASE_URL: "", KAFKA_BROKERS: "" };
    const lines = [
      ["phi:rewrap", ["--yes"]],
      ["audit:seal", []],
      ["token", ["--role", "admin"]],
      ["db:migrate", []],
    ] as const;
    const outcomes = await Promise.all(
      lines.map(([name, args]) => runCommand(name, [...args], untouchedUrl, misspelt)),
    );

    for (const [index, outcome] of outcomes.entries()) {
      const [command] = lines[index] as (typeof lines)[number];
      expect({ command, ...outcome }).toMatchObject({ command, stdout: "", leftRunning: false });
      expect([1, 2], command).toContain(outcome.code);
      expect(outcome.stderr, command).toContain(
        'NODE_ENV="Production": must be production, development or test',
      );
      expect(outcome.stderr, command).not.toMatch(/^\s+at /m);
    }
    expect(await untouchedDatabaseState()).toEqual(databaseBefore);
    expect(await dataDirectoryState()).toEqual(filesBefore);
  });

  it("names DATABASE_URL or KAFKA_BROKERS when the service it names does not answer, with no stack trace", async () => {
    const noPostgres = new URL(untouchedUrl);
    noPostgres.port = "1";
    const lines: ReadonlyArray<readonly [string, readonly string[], "DATABASE_URL" | "KAFKA_BROKERS"]> = [
      ["db:migrate", [], "DATABASE_URL"],
      ["audit:verify", [], "DATABASE_URL"],
      ["phi:rewrap", ["--yes"], "DATABASE_URL"],
      ["relay:status", [], "DATABASE_URL"],
      ["relay:rebase", ["--dry-run"], "DATABASE_URL"],
      ["notifications:resolve", [], "DATABASE_URL"],
      // Kafka is NOBODY for every command here; these reach it before, or without, Postgres.
      ["dlq", ["list"], "KAFKA_BROKERS"],
      ["topics", [], "KAFKA_BROKERS"],
      ["events:tail", [], "KAFKA_BROKERS"],
      ["replay", ["--topic", "patient-events", "--dry-run"], "KAFKA_BROKERS"],
    ];
    const outcomes = await Promise.all(
      lines.map(([name, args, variable]) =>
        runCommand(
          name,
          [...args],
          untouchedUrl,
          variable === "DATABASE_URL" ? { DATABASE_URL: noPostgres.toString() } : {},
        ),
      ),
    );

    for (const [index, outcome] of outcomes.entries()) {
      const [name, args, variable] = lines[index] as (typeof lines)[number];
      const command = [name, ...args].join(" ");
      expect({ command, code: outcome.code, leftRunning: outcome.leftRunning }).toEqual({
        command,
        code: 1,
        leftRunning: false,
      });
      expect(outcome.stderr, command).toContain(
        variable === "DATABASE_URL"
          ? "Postgres cannot be reached at the server DATABASE_URL names (127.0.0.1:1): connect ECONNREFUSED"
          : "Kafka cannot be reached at the brokers KAFKA_BROKERS names: Connection error: connect ECONNREFUSED",
      );
      expect(outcome.stderr, command).not.toMatch(/^\s+at /m);
    }
  });

  it("relay:switch -- debezium names KAFKA_BROKERS when Kafka does not answer, starting no Connect worker", async () => {
    // A Connect port of its own, where no worker runs: the switch would start one there.
    const connectPort = Number(process.env.CONNECT_PORT) + 7;
    // The tests' database, migrated: the switch reads which relay is in place before it reaches for Kafka.
    const outcome = await runCommand("relay:switch", ["debezium", "--yes"], databaseUrl(), {
      KAFKA_CONNECT_URL: "",
      CONNECT_PORT: String(connectPort),
    });
    expect({ code: outcome.code, leftRunning: outcome.leftRunning }).toEqual({ code: 1, leftRunning: false });
    expect(outcome.stderr).toContain(
      "Kafka cannot be reached at the brokers KAFKA_BROKERS names: Connection error: connect ECONNREFUSED",
    );
    expect(outcome.stderr).not.toContain("Kafka Connect exited");
    expect(outcome.stderr).not.toMatch(/^\s+at /m);
    expect(await isPortOpen("127.0.0.1", connectPort)).toBe(false);
  });

  it("names DATABASE_URL and the migration when the database is not migrated, with no stack trace, changing nothing", async () => {
    const databaseBefore = await untouchedDatabaseState();
    // Each reads the project's tables before it reaches for Kafka or Connect (which do not answer here).
    const lines = [
      ["phi:rewrap", "--yes"],
      ["audit:seal"],
      ["audit:verify"],
      ["audit:archive", "--yes"],
      ["relay:status"],
      ["relay:rebase", "--dry-run"],
      ["relay:switch", "polling", "--yes"],
      ["notifications:resolve"],
      ["notifications:resolve", "--id", "0b8f6a7e-3c1d-4e2f-9a8b-7c6d5e4f3a2b", "--sent", "--yes"],
    ] as const;
    const outcomes = await runEach(
      lines.map(([name, ...args]) => [name, args]),
      untouchedUrl,
    );

    for (const [index, outcome] of outcomes.entries()) {
      const command = (lines[index] as readonly string[]).join(" ");
      expect({ command, code: outcome.code, leftRunning: outcome.leftRunning }).toEqual({
        command,
        code: 1,
        leftRunning: false,
      });
      expect(outcome.stderr, command).toMatch(
        /the database DATABASE_URL names is not migrated, or not this project's \(relation "\w+" does not exist\): run npm run db:migrate against it/,
      );
      expect(outcome.stderr, command).not.toMatch(/^\s+at /m);
    }
    expect(await untouchedDatabaseState()).toEqual(databaseBefore);
  });

  it("refuses an argument that makes no sense, naming it, with the usage on stderr and exit code 2, changing nothing", async () => {
    const databaseBefore = await untouchedDatabaseState();
    const filesBefore = await dataDirectoryState();

    // Each with what its refusal must say; a command that went on would reach the services that do not answer.
    const refused: ReadonlyArray<readonly [string, readonly string[], string]> = [
      [
        "replay",
        ["--topic", "patient-events", "--topic", "appointment-events", "--dry-run"],
        "--topic is given more than once",
      ],
      ["audit:verify", ["--from", "5", "--from", "1"], "--from is given more than once"],
      ["relay:rebase", ["--dry-run", "--dry-run"], "--dry-run is given more than once"],
      [
        "replay",
        ["--topic", "patient-events", "--to-topic", "connect-offsets", "--dry-run"],
        "--to-topic connect-offsets: a topic of Kafka Connect's own state",
      ],
      [
        "replay",
        ["--since", "2099-01-01T00:00:00Z", "--dry-run"],
        "--since 2099-01-01T00:00:00Z: is in the future",
      ],
      [
        "audit:verify",
        ["--since", "2099-01-01T00:00:00Z"],
        "--since: 2099-01-01T00:00:00.000Z is in the future",
      ],
      // One reading of a time for every command (events/instant.ts): Date would take hour 24 as the next midnight.
      [
        "replay",
        ["--since", "2026-01-01T24:00:00Z", "--dry-run"],
        "--since 2026-01-01T24:00:00Z: has no hour 24",
      ],
      ["audit:verify", ["--since", "2026-01-01T24:00:00Z"], "--since: has no hour 24"],
      [
        "replay",
        ["--until", "2026-02-30T00:00:00Z", "--dry-run"],
        "--until 2026-02-30T00:00:00Z: has no day 30",
      ],
      ["audit:verify", ["--until", "2026-02-30T00:00:00Z"], "--until: has no day 30"],
      [
        "replay",
        ["--since", "2026-01-01T00:00Z", "--dry-run"],
        "--since 2026-01-01T00:00Z: must be an RFC 3339",
      ],
      ["audit:verify", ["--since", "2026-01-01T00:00Z"], "--since: must be an RFC 3339"],
      // Nine fraction digits are read as they are, ten refused; a replay records its selection to the millisecond.
      [
        "audit:verify",
        ["--since", "2026-01-01T00:00:00.1234567891Z"],
        "--since: must not be more precise than nanoseconds",
      ],
      [
        "audit:verify",
        ["--since", "2099-01-01T00:00:00.000000001Z"],
        "--since: 2099-01-01T00:00:00.000000001Z is in the future",
      ],
      [
        "replay",
        ["--since", "2026-01-01T00:00:00.123456Z", "--dry-run"],
        "--since 2026-01-01T00:00:00.123456Z: must not be more precise than milliseconds",
      ],
      ["relay:rebase", ["--name", "", "--yes"], "--name: give the relay's name"],
      // A --yes where nothing asks: not the command line meant.
      ["relay:rebase", ["--dry-run", "--yes"], "--yes goes with a real run: a dry run asks nothing"],
      [
        "replay",
        ["--topic", "patient-events", "--dry-run", "--yes"],
        "--yes goes with a real run: a dry run asks nothing",
      ],
      ["audit:archive", ["--dir", "", "--yes"], "--dir: give the directory to archive into"],
      ["audit:archive", ["--dir", " ", "--yes"], "--dir: give the directory to archive into"],
      ["audit:archive", ["--dir", "package.json", "--yes"], "--dir package.json: is a file, not a directory"],
      // An option of another sub-command.
      [
        "audit:archive",
        ["--until", "2026-01-01T00:00:00Z", "--from", "1", "--public-key", "x", "--yes"],
        "--until is not an option of archive",
      ],
      ["audit:verify", ["--dir", "x"], "--dir is not an option of verify"],
      ["audit:seal", ["--from", "3"], "--from is not an option of seal"],
      ["audit:verify-archive", ["--since", "2026-01-01T00:00:00Z", "x.json"], "--since is not an option"],
      [
        "audit:verify-archive",
        ["--public-key", "package.json", "x.json"],
        "--public-key package.json is not a PEM public key",
      ],
      ["dlq", ["list", "patient-events", "--event", "foo"], "--event is not an option of list"],
      ["dlq", ["redrive", "patient-events", "--all", "--yes"], "--all is not an option of redrive"],
      ["dlq", ["list", "patient-events", "patient-events.dlq"], "patient-events.dlq is named more than once"],
      [
        "dlq",
        ["redrive", "patient-events", "--event", "not-a-uuid", "--yes"],
        "--event not-a-uuid: must be an event id (a UUID)",
      ],
      [
        "notifications:resolve",
        ["--id", "not-a-uuid", "--sent", "--yes"],
        "--id not-a-uuid: must be a notification id (a UUID)",
      ],
      [
        "notifications:resolve",
        ["--id", "0b8f6a7e-3c1d-4e2f-9a8b-7c6d5e4f3a2b", "--sent", "--not-sent", "--yes"],
        "--sent and --not-sent: give one",
      ],
      ["notifications:resolve", ["--not-sent", "--yes"], "--not-sent: give the delivery's --id"],
    ];
    const outcomes = await runEach(
      refused.map(([name, args]) => [name, args]),
      untouchedUrl,
    );

    for (const [index, outcome] of outcomes.entries()) {
      const [name, args, problem] = refused[index] as (typeof refused)[number];
      const command = [name, ...args].join(" ");
      expect({ command, ...outcome }).toMatchObject({ command, code: 2, stdout: "", leftRunning: false });
      expect(outcome.stderr, command).toContain(problem);
      expect(outcome.stderr, command).toContain("usage: ");
    }
    expect(await untouchedDatabaseState()).toEqual(databaseBefore);
    expect(await dataDirectoryState()).toEqual(filesBefore);
  });

  it("refuses an unknown option with its usage on stderr and exit code 2, changing nothing", async () => {
    const databaseBefore = await untouchedDatabaseState();
    const filesBefore = await dataDirectoryState();

    const outcomes = await runEvery(["--no-such-option"], untouchedUrl);

    for (const name of commands) {
      const outcome = outcomes.get(name);
      expect({ name, ...outcome }).toMatchObject({ name, code: 2, stdout: "", leftRunning: false });
      expect(outcome?.stderr, name).toContain("--no-such-option");
      expect(outcome?.stderr, name).toContain("usage: ");
    }
    expect(await untouchedDatabaseState()).toEqual(databaseBefore);
    expect(await dataDirectoryState()).toEqual(filesBefore);
  });
});
