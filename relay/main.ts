// Runs the polling relay as its own process (`npm run relay`), with /metrics and /health on PORT.
import { startProcess } from "../process/frame.ts";
import { OutboxRelay } from "./relay.ts";

const frame = await startProcess({ name: "relay" });
const { log, stack, registry } = frame;
const relay = new OutboxRelay({
  databaseUrl: stack.databaseUrl,
  kafkaBrokers: stack.kafkaBrokers,
  log,
  registry,
});
relay.start();
frame.onStop(() => relay.stop());

frame.serve(
  frame.opsRoutes([]).get("/relay/status", (c) => c.json({ name: relay.name, leader: relay.leader })),
  (port) => log.info({ port }, "relay metrics listening"),
);
