// Runs effectConsumerProcess.ts as a real child process, to kill it with SIGKILL or run two in one group.
import { type ScriptProcess, spawnScript } from "../childProcess.ts";

export interface ConsumerProcess extends ScriptProcess {
  /** Resolves once the process has joined its group. */
  ready: Promise<void>;
}

export function spawnEffectConsumer(name: string, env: Record<string, string> = {}): ConsumerProcess {
  const consumer = spawnScript("test/consumers/effectConsumerProcess.ts", {
    env: { CONSUMER_NAME: name, ...env },
  });
  const ready = consumer.printed(/consumer process ready/).then(() => {});
  // A test may kill the consumer before it is ready, and never wait for it.
  ready.catch(() => {});
  return { ...consumer, ready };
}
