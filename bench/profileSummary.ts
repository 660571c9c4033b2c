// `npx tsx bench/profileSummary.ts <file.cpuprofile>`: where a CPU profile's time goes, as the README's
// profile table: self time summed by the part of the stack (library or project folder) each function is in.
import { readFileSync } from "node:fs";
import { printTable } from "./table.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The first matching rule names the part; a function's file says which part it belongs to. */
const parts: Array<[string, RegExp]> = [
  ["validation (zod)", /node_modules\/zod\//],
  ["JWT (jose)", /node_modules\/jose\//],
  ["query building and results (drizzle-orm)", /node_modules\/drizzle-orm\//],
  ["Postgres protocol (pg, pg-protocol)", /node_modules\/pg[^/]*\//],
  ["logging (pino)", /node_modules\/(pino|thread-stream|sonic-boom)/],
  ["metrics (prom-client)", /node_modules\/prom-client\//],
  ["Kafka client (kafkajs)", /node_modules\/kafkajs\//],
  ["HTTP framework (hono, @hono)", /node_modules\/(hono|@hono)\//],
  ["OpenAPI route layer (@asteasolutions, openapi3-ts)", /node_modules\/(@asteasolutions|openapi3-ts)\//],
  ["sealing personal data (phi/)", /\/phi\//],
  ["the write path (db/)", /\/db\//],
  ["the HTTP services (apps/)", /\/apps\//],
  ["the relay (relay/)", /\/relay\//],
  ["consumers (consumers/)", /\/consumers\//],
  ["the event catalog (events/)", /\/events\//],
  ["audit (audit/)", /\/audit\//],
  ["tsx (TypeScript loader)", /node_modules\/(tsx|esbuild)\//],
  ["other libraries", /node_modules\//],
  ["Node internals (HTTP, streams, crypto, timers)", /^node:|^internal\//],
  ["garbage collection", /^\(garbage collector\)$/],
  ["idle", /^\(idle\)$/],
  ["(program, native)", /^\(program\)$/],
  // A function with no file is native code: above all the socket writes (writev: pg; writeBuffer: kafkajs).
  ["native calls (socket writes: writev, writeBuffer)", /^[^/:]*$/],
  ["other project code", /./],
];

const file = process.argv[2];
if (!file) throw new Error("usage: tsx bench/profileSummary.ts <file.cpuprofile>");
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const totals = new Map<string, number>();
profile.samples.forEach((id, index) => {
  const node = byId.get(id);
  const { url, functionName } = node?.callFrame ?? { url: "", functionName: "" };
  const where = url || functionName;
  const part = parts.find(([, pattern]) => pattern.test(where))?.[0] ?? "(program, native)";
  totals.set(part, (totals.get(part) ?? 0) + (profile.timeDeltas[index] ?? 0));
});
const busy = [...totals].filter(([part]) => part !== "idle").reduce((sum, [, micros]) => sum + micros, 0);
printTable(
  `CPU profile ${file}: self time by part, ${(busy / 1e6).toFixed(1)} s busy`,
  [...totals]
    .filter(([part]) => part !== "idle")
    .sort(([, a], [, b]) => b - a)
    .map(([part, micros]) => [
      part,
      `${(micros / 1e6).toFixed(2)} s`,
      `${((micros / busy) * 100).toFixed(1)}%`,
    ]),
  ["part", "self time", "of busy"],
);
