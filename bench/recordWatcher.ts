// bench:relay's measuring consumer, in a process of its own: decoding every record of a 100,000-event catch-up
// costs an event loop as much as a good part of what the relay spends publishing them, and in the relay's
// process that work was counted as the relay's.
//
// A read-committed consumer of patient-events that notes when each event of one correlation id first arrives
// (epoch milliseconds, a clock every process shares). Started by `watchRecords` with fork(); asked over IPC to
// wait for a count of events, and at the end for every arrival.
import { fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { createKafka } from "../kafka/client.ts";

interface WatchOptions {
  brokers: string[];
  correlationId: string;
}

type Request = { until: number; timeoutMs: number } | { arrivals: true };
type Reply = { joined: true } | { reached: number; lastAt: number } | { arrivals: Array<[string, number]> };

export interface RecordWatch {
  /** Waits until `count` events have arrived (or the timeout), and resolves with when the last of them did. */
  until(count: number, timeoutMs?: number): Promise<number>;
  /** When each event first arrived, by event id; the watcher stops. */
  arrivals(): Promise<Map<string, number>>;
}

/** Starts the watcher and resolves once its consumer has joined its group (so nothing published after is missed). */
export async function watchRecords(options: WatchOptions): Promise<RecordWatch> {
  const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(options)], {
    execArgv: ["--import", "tsx"],
  });
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) => reject(new Error(`the record watcher exited with code ${code}`))),
  );
  exited.catch(() => undefined);
  const next = () =>
    Promise.race([
      new Promise<Reply>((resolve) => child.once("message", (reply) => resolve(reply as Reply))),
      exited,
    ]);
  const ask = (request: Request) => {
    const reply = next();
    child.send(request);
    return reply;
  };
  await next();
  return {
    async until(count, timeoutMs = 300_000) {
      const reply = await ask({ until: count, timeoutMs });
      if (!("reached" in reply)) throw new Error("the record watcher answered out of turn");
      if (reply.reached < count) console.error(`only ${reply.reached} of ${count} events became readable`);
      return reply.lastAt;
    },
    async arrivals() {
      const reply = await ask({ arrivals: true });
      if (!("arrivals" in reply)) throw new Error("the record watcher answered out of turn");
      return new Map(reply.arrivals);
    },
  };
}

const now = () => performance.timeOrigin + performance.now();

async function watch({ brokers, correlationId }: WatchOptions): Promise<void> {
  const consumer = createKafka({ brokers, clientId: "bench-watch" }).consumer({
    groupId: `bench-${randomUUID()}`,
    maxWaitTimeInMs: 20,
  });
  const seen = new Map<string, number>();
  let last = 0;
  await consumer.connect();
  await consumer.subscribe({ topic: "patient-events", fromBeginning: false });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({
    eachBatch: async ({ batch }) => {
      const at = now();
      for (const message of batch.messages) {
        if (String(message.headers?.correlationId) !== correlationId) continue;
        const eventId = String(message.headers?.eventId);
        if (!seen.has(eventId)) {
          seen.set(eventId, at);
          last = at;
        }
      }
    },
  });
  await joined;
  const reply = (message: Reply) => new Promise<void>((resolve) => process.send?.(message, () => resolve()));
  process.on("message", async (request: Request) => {
    if ("until" in request) {
      const deadline = Date.now() + request.timeoutMs;
      while (seen.size < request.until && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      await reply({ reached: seen.size, lastAt: last });
    } else {
      await consumer.disconnect();
      await reply({ arrivals: [...seen] });
      process.exit(0);
    }
  });
  await reply({ joined: true });
}

if (process.send && process.argv[1] === fileURLToPath(import.meta.url)) {
  // The bench gone (finished or failed), its watcher goes too.
  process.once("disconnect", () => process.exit(0));
  await watch(JSON.parse(process.argv[2] as string) as WatchOptions);
}
