// A write whose session is ended while its COMMIT runs (pg_terminate_backend, a failover, an operator) is
// answered as what Postgres did, never as the other (db/commitOutcome.ts). The COMMIT rides with the advisory
// unlock in one query: a session terminated during the COMMIT's WAL flush commits, then ends before the unlock,
// and pg rejected the query, so the write was reported failed while its events were committed (a pg-level probe
// found 147 of 300 such commits reported failed; an API run, 6 PATCHes answered 503 that Kafka carried).
// `commit_delay` holds the COMMIT in its flush for 100 ms, so that the termination lands inside it every time.
import { randomUUID } from "node:crypto";
import { connect, createServer, type Socket } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { advisoryLocksOf } from "../test/advisoryLocks.ts";
import { conditionsUpdate, databaseUrl, patientCreated, testEventContext } from "../test/fixtures.ts";
import { connectionOf, createDatabase, type WriteTransaction, writeTransaction } from "./client.ts";
import { committedAfterAll } from "./commitOutcome.ts";
import { appendEvents } from "./outbox/appendEvents.ts";

const applicationName = `commit-outcome-${randomUUID().slice(0, 8)}`;
const db = createDatabase(databaseUrl(), { max: 3, applicationName });
const observer = new pg.Client({ connectionString: databaseUrl() });
beforeAll(() => observer.connect());
afterAll(async () => {
  await Promise.all([db.$client.end(), observer.end()]);
});

const patient = (id: string) => ({ aggregateType: "patient", aggregateId: id });

async function newPatient(): Promise<string> {
  const id = randomUUID();
  await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [patientCreated(id)]));
  return id;
}

const eventsOf = async (id: string) =>
  (
    await observer.query<{ type: string }>(
      "SELECT event_type AS type FROM outbox WHERE aggregate_id = $1 ORDER BY position",
      [id],
    )
  ).rows.map((row) => row.type);

/** Ends the transaction's session `afterMs` from now: by then its COMMIT is in its 100 ms WAL flush. */
async function terminatedDuringCommit(tx: WriteTransaction, afterMs = 30): Promise<void> {
  const session = connectionOf(tx);
  await session.query("SET LOCAL commit_delay = 100000; SET LOCAL commit_siblings = 0");
  const { rows } = await session.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
  setTimeout(() => void observer.query("SELECT pg_terminate_backend($1)", [rows[0]?.pid]), afterMs);
}

describe("a write whose session is ended at its COMMIT", () => {
  it("is answered committed when Postgres committed it, its lock released with the session", async () => {
    const id = await newPatient();
    const written = await writeTransaction(db, { lockAggregate: patient(id) }, async (tx) => {
      await appendEvents(tx, testEventContext(), [conditionsUpdate(id, 1, "kept")]);
      await terminatedDuringCommit(tx);
      return "written";
    });

    expect(written).toBe("written");
    expect(await eventsOf(id)).toEqual(["patient.created", "patient.updated"]);
    expect(await advisoryLocksOf(observer, applicationName)).toBe(0);
    // The pool dropped the dead connection: the next write of the patient goes through.
    await writeTransaction(db, { lockAggregate: patient(id) }, (tx) =>
      appendEvents(tx, testEventContext(), [conditionsUpdate(id, 1, "next")]),
    );
    expect(await eventsOf(id)).toEqual(["patient.created", "patient.updated", "patient.updated"]);
  });

  it("is answered committed when its COMMIT handed the lock on to the next writer in line", async () => {
    const id = await newPatient();
    const first = writeTransaction(db, { lockAggregate: patient(id) }, async (tx) => {
      await appendEvents(tx, testEventContext(), [conditionsUpdate(id, 1, "first")]);
      await terminatedDuringCommit(tx);
      return "first";
    });
    const second = writeTransaction(db, { lockAggregate: patient(id) }, async (tx) => {
      await appendEvents(tx, testEventContext(), [conditionsUpdate(id, 1, "second")]);
      return "second";
    });

    expect(await Promise.all([first, second])).toEqual(["first", "second"]);
    expect(await eventsOf(id)).toEqual(["patient.created", "patient.updated", "patient.updated"]);
    expect(await advisoryLocksOf(observer, applicationName)).toBe(0);
  });

  it("fails, having written nothing, when the session is ended before its COMMIT", async () => {
    const id = await newPatient();
    const written = writeTransaction(db, { lockAggregate: patient(id) }, async (tx) => {
      await appendEvents(tx, testEventContext(), [conditionsUpdate(id, 1, "lost")]);
      const { rows } = await connectionOf(tx).query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      setTimeout(() => void observer.query("SELECT pg_terminate_backend($1)", [rows[0]?.pid]), 30);
      await connectionOf(tx).query("SELECT pg_sleep(1)");
    });

    // What the work met (its session terminated), not what the ROLLBACK on the dead connection met after it.
    await expect(written).rejects.toMatchObject({ code: "57P01" });
    expect(await eventsOf(id)).toEqual(["patient.created"]);
    // The dead connection was closed, not pooled: the next write has a live one.
    await expect(newPatient()).resolves.toBeTruthy();
  });
});

describe("committedAfterAll", () => {
  it("ends a session still running the transaction (a network fault), which then never commits", async () => {
    const id = randomUUID();
    const session = new pg.Client({ connectionString: databaseUrl() });
    session.on("error", () => {});
    await session.connect();
    await session.query("BEGIN");
    await session.query(
      "INSERT INTO aggregate_versions (aggregate_type, aggregate_id, version, last_hash) VALUES ('test', $1, 1, '')",
      [id],
    );
    const { rows } = await session.query<{ txId: string }>('SELECT pg_current_xact_id()::text AS "txId"');

    expect(await committedAfterAll(db.$client, rows[0]?.txId as string)).toBe(false);
    await expect(session.query("COMMIT")).rejects.toThrow();
    const left = await observer.query("SELECT 1 FROM aggregate_versions WHERE aggregate_id = $1", [id]);
    expect(left.rowCount).toBe(0);
    await session.end().catch(() => {});
  });

  it("asks again on a new connection when its question's connection is lost, and is answered committed", async () => {
    const txId = await committedTransaction();
    const proxy = await questionCutter(1);
    try {
      expect(await committedAfterAll(proxy.pool, txId)).toBe(true);
      expect(proxy.questionsCut).toBe(1);
    } finally {
      await proxy.close();
    }
  });

  it("reports false (the outcome unknown) when no question reaches Postgres at all", async () => {
    const txId = await committedTransaction();
    const proxy = await questionCutter(Number.POSITIVE_INFINITY);
    try {
      expect(await committedAfterAll(proxy.pool, txId)).toBe(false);
      expect(proxy.questionsCut).toBeGreaterThan(1);
    } finally {
      await proxy.close();
    }
  });
});

/** The id of a transaction that committed. */
async function committedTransaction(): Promise<string> {
  const { rows } = await observer.query<{ txId: string }>('SELECT pg_current_xact_id()::text AS "txId"');
  return rows[0]?.txId as string;
}

/**
 * A pool whose connections pass through a TCP proxy that cuts the first `cuts` connections asking for a
 * transaction's status, as their question goes out: the connection is lost, Postgres is up.
 */
async function questionCutter(cuts: number) {
  const target = new URL(databaseUrl());
  const sockets = new Set<Socket>();
  const proxy = { questionsCut: 0 };
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (chunk: Buffer) => {
      if (chunk.includes("pg_xact_status") && proxy.questionsCut < cuts) {
        proxy.questionsCut++;
        client.destroy();
      } else upstream.write(chunk);
    });
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const url = new URL(target);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  pool.on("error", () => {});
  return Object.assign(proxy, {
    pool,
    close: async () => {
      await pool.end();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}
