// bench:api's baseline: a bare Hono + pg handler that inserts the same patient JSON into one table of the same
// Postgres, with no validation, auth, outbox or sealing: what a write costs at the least. PORT, DATABASE_URL.
import { randomUUID } from "node:crypto";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import pg from "pg";

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
await pool.query("CREATE TABLE IF NOT EXISTS bench_bare_patients (id uuid PRIMARY KEY, doc jsonb NOT NULL)");
const app = new Hono()
  .get("/health/live", (c) => c.json({ status: "ok" }))
  .post("/patients", async (c) => {
    const id = randomUUID();
    const body = await c.req.json();
    await pool.query("INSERT INTO bench_bare_patients (id, doc) VALUES ($1, $2)", [id, body]);
    return c.json({ id, ...body }, 201);
  });
serve({ fetch: app.fetch, port: Number(process.env.PORT) });
