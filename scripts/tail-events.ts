// `npm run events:tail -- <topic> [--from-beginning]`: prints each record of a topic as it arrives
// (partition, offset, key, headers, value), to watch the pipeline work.
import { randomUUID } from "node:crypto";
import { loadEnv } from "../config/env.ts";
import { topics } from "../events/catalog.ts";
import { createKafka } from "../kafka/client.ts";

const [topic = "patient-events", ...flags] = process.argv.slice(2);
if (!topics.some((known) => known.name === topic)) {
  console.error(
    `Unknown topic ${JSON.stringify(topic)}; one of: ${topics.map((known) => known.name).join(", ")}`,
  );
  process.exit(1);
}
const brokers = loadEnv().KAFKA_BROKERS ?? ["localhost:9092"];
const consumer = createKafka({ brokers, clientId: "events-tail" }).consumer({
  groupId: `events-tail-${randomUUID()}`,
});
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: flags.includes("--from-beginning") });
await consumer.run({
  eachMessage: async ({ partition, message }) => {
    const headers = Object.fromEntries(
      Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]),
    );
    console.log(JSON.stringify({ partition, offset: message.offset, key: message.key?.toString(), headers }));
    console.log(`  ${message.value?.toString()}`);
  },
});
console.error(`tailing ${topic} on ${brokers.join(",")} (Ctrl-C to stop)`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => consumer.disconnect().then(() => process.exit(0)));
}
