// Detached service processes for the local stack: spawning them so they outlive the caller, finding them
// again through pid files, stopping them, and serialising concurrent starts with a lock file.
import { type SpawnOptions, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { mkdir, open, readdir, readFile, readlink, rename, stat, unlink } from "node:fs/promises";
import { createConnection } from "node:net";
import { dirname, join } from "node:path";
import { projectRoot } from "../config/projectRoot.ts";

/**
 * Names what belongs to this checkout where checkouts share something (a server, a directory outside it):
 * the first hex digits of the sha256 of its path.
 */
export const checkoutId = createHash("sha256").update(projectRoot).digest("hex").slice(0, 10);

/** Where the local services keep their state; `.data/` is gitignored and safe to delete when stopped. */
export const stackPaths = {
  data: join(projectRoot, ".data"),
  logs: join(projectRoot, ".data", "logs"),
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads the pid from the first line of a pid file (Postgres' postmaster.pid has more lines after it). */
export async function readPid(pidFile: string): Promise<number | undefined> {
  const text = await readFile(pidFile, "utf8").catch(() => "");
  const pid = Number.parseInt(text.split("\n", 1)[0] ?? "", 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * True when `pid` runs and its command line contains `marker`. The marker guards against a stale pid file
 * whose pid the OS has since given to an unrelated process, and treats zombies (empty cmdline) as gone.
 * Without /proc (macOS) only the signal-0 probe is available.
 */
export async function isProcessAlive(pid: number, marker: string): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to another user, which still counts as running.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.replaceAll("\0", " ").includes(marker);
  } catch {
    return process.platform !== "linux";
  }
}

/**
 * True when `pid` itself holds a listening TCP socket on `port`. A pid file and a live process with the
 * right command line say the process is ours; only this says that what answers on the port is that process
 * and not a service another checkout (or anyone) started there first. Without /proc it cannot tell: true.
 */
export async function listensOn(pid: number, port: number): Promise<boolean> {
  if (process.platform !== "linux") return true;
  const portHex = port.toString(16).toUpperCase().padStart(4, "0");
  const listening = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await readFile(table, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      // 0A: TCP_LISTEN.
      if (fields[1]?.endsWith(`:${portHex}`) && fields[3] === "0A" && fields[9]) listening.add(fields[9]);
    }
  }
  if (listening.size === 0) return false;
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode && listening.has(inode)) return true;
  }
  return false;
}

/** The live process a pid file points at, or undefined when the file is missing or stale. */
export async function runningPid(pidFile: string, marker: string): Promise<number | undefined> {
  const pid = await readPid(pidFile);
  return pid !== undefined && (await isProcessAlive(pid, marker)) ? pid : undefined;
}

export interface DetachedSpawn {
  command: string;
  args: string[];
  logFile: string;
  uid?: number;
  gid?: number;
}

/**
 * Starts a process in its own session (so it is also its own process group) with stdout and stderr
 * appended to `logFile`. No pipe ties it to us, so it keeps running after the caller exits.
 */
export async function spawnDetached(options: DetachedSpawn): Promise<number> {
  await mkdir(dirname(options.logFile), { recursive: true });
  await rotateLog(options.logFile);
  const log = openSync(options.logFile, "a");
  try {
    const spawnOptions: SpawnOptions = {
      detached: true,
      stdio: ["ignore", log, log],
      cwd: projectRoot,
      uid: options.uid,
      gid: options.gid,
    };
    const child = spawn(options.command, options.args, spawnOptions);
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (error) => reject(new Error(`Could not run ${options.command}: ${error.message}`)));
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`${options.command} started without a pid`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** Keeps a log that is appended to on every start from growing without bound: one old copy is kept. */
async function rotateLog(logFile: string): Promise<void> {
  const size = await stat(logFile).then(
    (s) => s.size,
    () => 0,
  );
  if (size > 50 * 1024 * 1024) await rename(logFile, `${logFile}.1`);
}

export async function tailOfFile(file: string, lines = 25): Promise<string> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

export interface StopOptions {
  /** The signal that asks for a clean shutdown (SIGTERM for Kafka, SIGINT = fast shutdown for Postgres). */
  signal: NodeJS.Signals;
  marker: string;
  timeoutMs: number;
}

/**
 * Asks `pid` to shut down and waits until it has exited. Past the timeout its whole process group is
 * killed: the process was started detached, so the group holds exactly it and its children.
 */
export async function stopProcess(pid: number, options: StopOptions): Promise<void> {
  if (!(await isProcessAlive(pid, options.marker))) return;
  signal(pid, options.signal);
  if (await exited(pid, options.marker, options.timeoutMs)) return;
  signal(-pid, "SIGKILL");
  signal(pid, "SIGKILL");
  if (!(await exited(pid, options.marker, 10_000))) {
    throw new Error(`Process ${pid} survived SIGKILL; stop it by hand`);
  }
}

/** Sends a signal, ignoring a process (or group) that is already gone. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

async function exited(pid: number, marker: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await isProcessAlive(pid, marker))) return true;
    await sleep(50);
  }
  return false;
}

export interface WaitOptions {
  what: string;
  timeoutMs: number;
  /** Fails the wait early, e.g. when the process that should become ready has died. */
  giveUp?: () => Promise<string | undefined>;
}

/** Polls `probe` until it returns true; a thrown error counts as "not yet". */
export async function waitUntil(probe: () => Promise<boolean>, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError = "";
  for (;;) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = (error as Error).message;
    }
    const reason = await options.giveUp?.();
    if (reason) throw new Error(reason);
    if (Date.now() > deadline) {
      throw new Error(
        `${options.what} was not ready after ${options.timeoutMs / 1000}s${lastError ? ` (${lastError})` : ""}`,
      );
    }
    await sleep(200);
  }
}

/** Whether anything accepts TCP connections there; says nothing about what it is. */
export function isPortOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port, timeout: timeoutMs });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.once("connect", () => done(true));
    socket.once("timeout", () => done(false));
    socket.once("error", () => done(false));
  });
}

/**
 * Runs `fn` while holding an exclusive lock file, so that two processes (say, parallel test workers) never
 * start the same service twice. A lock left by a dead process is taken over.
 */
export async function withLock<T>(lockFile: string, what: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(dirname(lockFile), { recursive: true });
  const deadline = Date.now() + 5 * 60_000;
  for (;;) {
    try {
      const handle = await open(lockFile, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = await readPid(lockFile);
    if (await lockIsStale(lockFile, holder)) {
      await unlink(lockFile).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`Gave up on ${what}: ${lockFile} is still held by pid ${holder}`);
    }
    await sleep(200);
  }
  try {
    return await fn();
  } finally {
    await unlink(lockFile).catch(() => undefined);
  }
}

async function lockIsStale(lockFile: string, holder: number | undefined): Promise<boolean> {
  if (holder !== undefined) return !(await isProcessAlive(holder, ""));
  // An empty lock file is normally one whose writer is between open and write; only an old one is stale.
  const writtenAt = await stat(lockFile).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  return Date.now() - writtenAt > 10_000;
}

export interface CommandResult {
  code: number;
  output: string;
}

/** Runs a short command to completion and captures stdout and stderr together. */
export function runCommand(
  command: string,
  args: string[],
  owner: { uid?: number; gid?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: projectRoot,
      uid: owner.uid,
      gid: owner.gid,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code: code ?? 1, output }));
  });
}
