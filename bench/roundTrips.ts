// `npm run bench:round-trips`: the statements one request sends to Postgres, listed and counted, for the write
// routes whose cost is mostly round trips (POST /patients, PATCH /patients/:id, GET /patients/:id,
// POST /appointments). It runs the platform's app in this process on a fresh <DATABASE_URL's database>_round_trips
// database and records every query the pool's connections send (the pool's own connect is not a statement),
// each named statement (prepared, not built per request) with its name.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { Registry } from "prom-client";
import { createTokenVerifier } from "../apps/http/auth.ts";
import { issueToken } from "../apps/http/issueToken.ts";
import { createPlatformApp } from "../apps/platform.ts";
import { parseCommand } from "../cli/command.ts";
import { loadEnv } from "../config/env.ts";
import { createDatabase } from "../db/client.ts";
import { migrateDatabase } from "../db/migrate.ts";
import type { Admin } from "../kafka/client.ts";
import { createLogger } from "../observability/logger.ts";
import { loadMasterKeys } from "../phi/masterKeys.ts";
import { requestBodies } from "../test/serviceRequests.ts";
import { freshDatabase } from "./freshDatabase.ts";
import { printTable } from "./table.ts";

parseCommand({
  usage: `usage: npm run bench:round-trips
  the SQL statements one POST, PATCH and GET of a patient and one booking send to Postgres, counted; DATABASE_URL names a
  running server (a fresh <its database>_round_trips database is made on it)`,
});
const env = loadEnv();
if (!env.DATABASE_URL) throw new Error("bench:round-trips needs DATABASE_URL: a running Postgres server");
const databaseUrl = await freshDatabase(
  env.DATABASE_URL,
  `${new URL(env.DATABASE_URL).pathname.slice(1) || "healthcare"}_round_trips`,
);
await migrateDatabase(databaseUrl);

let recording: string[] | null = null;
const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
// Every statement goes through Client#query, pooled or not: recording there sees what goes on the wire.
pg.Client.prototype.query = function recorded(this: pg.Client, ...args: unknown[]) {
  const [first] = args;
  const text = typeof first === "string" ? first : (first as { text?: string })?.text;
  const name = typeof first === "string" ? undefined : (first as { name?: string })?.name;
  if (recording && typeof text === "string") {
    recording.push(`${name ? `[${name}] ` : ""}${text.replace(/\s+/g, " ").trim()}`);
  }
  return query.apply(this, args);
} as typeof pg.Client.prototype.query;

const secret = new TextEncoder().encode(`round-trips-${randomUUID()}`);
const db = createDatabase(databaseUrl);
const app = createPlatformApp({
  db,
  masterKeys: loadMasterKeys(),
  kafkaAdmin: { describeCluster: async () => ({}) } as unknown as Admin,
  log: createLogger({ level: "silent" }),
  registry: new Registry(),
  verifyToken: createTokenVerifier({ kind: "secret", secret, origin: "JWT_SECRET" }),
});
const authorization = `Bearer ${await issueToken(secret, { role: "admin", sub: randomUUID(), sessionId: randomUUID() })}`;
const send = async (method: string, path: string, body?: unknown) => {
  const response = await app.request(path, {
    method,
    headers: { "content-type": "application/json", authorization },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status >= 300)
    throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json() as Promise<{ id: string }>;
};
const { id } = await send("POST", "/patients", requestBodies.patient());
await send("PATCH", `/patients/${id}`, { allergies: ["warm-up"] });
const provider = await send("POST", "/providers", requestBodies.provider());
await send("POST", "/appointments", requestBodies.booking(id, provider.id));

const rows: string[][] = [];
for (const [label, method, path, body] of [
  ["POST /patients", "POST", "/patients", requestBodies.patient()],
  ["PATCH /patients/:id", "PATCH", `/patients/${id}`, { allergies: [randomUUID()] }],
  ["GET /patients/:id", "GET", `/patients/${id}`, undefined],
  ["POST /appointments", "POST", "/appointments", requestBodies.booking(id, provider.id, 11 * 86_400_000)],
] as const) {
  recording = [];
  await send(method, path, body);
  const statements = recording;
  recording = null;
  console.log(`\n${label}:`);
  for (const [index, text] of statements.entries()) console.log(`  ${index + 1}. ${text.slice(0, 140)}`);
  rows.push([label, String(statements.length)]);
}
printTable("round trips to Postgres per request", rows, ["request", "statements"]);
await db.$client.end();
