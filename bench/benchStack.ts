// What a benchmark runs on: the services the environment names, or the project's own stack, with the
// catalog's topics in place.
import { loadEnv } from "../config/env.ts";
import { applyTopics } from "../events/apply-topics.ts";
import { createKafka } from "../kafka/client.ts";
import { ensureStack } from "../stack/index.ts";

export async function benchStack() {
  const env = loadEnv();
  const stack = await ensureStack(env, (line) => console.error(`[stack] ${line}`));
  const admin = createKafka({ brokers: stack.kafkaBrokers, clientId: "bench" }).admin();
  await admin.connect();
  try {
    await applyTopics(admin, { log: { info: () => {}, warn: (message) => console.error(message) } });
  } finally {
    await admin.disconnect();
  }
  return { env, stack };
}
