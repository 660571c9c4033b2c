// bench:relay's writers, in a process of their own as the platform's API processes are: a writer's CPU must
// not hold up the relay's event loop, or the bench measures the writer as the relay's latency.
//
// Open-loop writes of one-event transactions: each starts on schedule, whether or not earlier ones have
// finished. Started by `steadyWrites` with fork(); reports, over IPC, the rate reached and when each event's
// COMMIT returned (epoch milliseconds, a clock every process shares).
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createDatabase, writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { benchEvent, benchEventContext } from "./relayBenchEvents.ts";

export interface SteadyWrites {
  databaseUrl: string;
  /** Events (one a transaction) a second, for `seconds`. */
  rate: number;
  seconds: number;
  correlationId: string;
}

export interface SteadyWritesDone {
  achievedRate: number;
  /** [eventId, epoch ms at which its COMMIT returned] */
  committedAt: Array<[string, number]>;
}

const now = () => performance.timeOrigin + performance.now();

/** Runs the writes in a child process and resolves with what it reports. */
export function steadyWrites(options: SteadyWrites): Promise<SteadyWritesDone> {
  const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(options)], {
    execArgv: ["--import", "tsx"],
  });
  return new Promise((resolve, reject) => {
    child.once("message", (message) => resolve(message as SteadyWritesDone));
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`the steady writer exited with code ${code}`)));
  });
}

async function writeSteadily(options: SteadyWrites): Promise<SteadyWritesDone> {
  const db = createDatabase(options.databaseUrl, { max: 20, applicationName: "bench-writer" });
  const context = benchEventContext(options.correlationId);
  const total = options.rate * options.seconds;
  const committedAt: Array<[string, number]> = [];
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const wait = started + (i * 1000) / options.rate - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const write = writeTransaction(db, (tx) => appendEvents(tx, context, [benchEvent(i)])).then(([event]) => {
      if (event) committedAt.push([event.eventId, now()]);
    });
    inFlight.add(write);
    void write.finally(() => inFlight.delete(write));
  }
  await Promise.all(inFlight);
  const achievedRate = total / ((performance.now() - started) / 1000);
  await db.$client.end();
  return { achievedRate, committedAt };
}

if (process.send && process.argv[1] === fileURLToPath(import.meta.url)) {
  const done = await writeSteadily(JSON.parse(process.argv[2] as string) as SteadyWrites);
  process.send(done, () => process.exit(0));
}
