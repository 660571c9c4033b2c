// CPU time read from /proc, for benchmarks that charge a load with the work of other processes too: the
// Postgres server's backends, a platform's child processes.
import { readdirSync, readFileSync } from "node:fs";

/** USER_HZ, which Linux fixes at 100 for /proc on every architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** The CPU time of every process named postgres (the server and its backends) so far, in seconds, by pid. */
export function postgresCpuSeconds(): Map<number, number> {
  const pids = readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/comm`, "utf8").trim() === "postgres";
      } catch {
        return false;
      }
    })
    .map(Number);
  return new Map(pids.map((pid) => [pid, processCpuSeconds(pid)]));
}

/**
 * What the Postgres processes alive at the end used since `before`: a backend that exited meanwhile (the
 * pool closes idle connections) takes its time with it, so this is a lower bound.
 */
export function postgresCpuSince(before: Map<number, number>): number {
  return [...postgresCpuSeconds()].reduce((sum, [pid, seconds]) => sum + seconds - (before.get(pid) ?? 0), 0);
}

export function processCpuSeconds(pid: number): number {
  try {
    // Fields 14 and 15 of /proc/<pid>/stat (after the parenthesised name) are utime and stime, in ticks.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

export function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return /PPid:\s+(\d+)/.exec(readFileSync(`/proc/${entry}/status`, "utf8"))?.[1] === String(pid);
      } catch {
        return false;
      }
    })
    .map(Number);
}
