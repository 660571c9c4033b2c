// A stopping process closes its HTTP server before its pools (process/frame.ts), and waits for it: the requests in
// flight finish, each connection then closed, none kept alive for another request. Before, the server stopped
// taking connections and the pools closed at once, while kept-alive connections still brought requests in:
// those were answered 500 ("the database cannot be reached") for seconds after SIGTERM.
import type { Server } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { createLogger } from "../observability/logger.ts";
import { closeGracefully, serveHttp } from "./httpServer.ts";

const log = createLogger({ level: "silent" });

/** An open connection to the server, its answers read as they come, and whether the server has closed it. */
function connection(port: number) {
  const socket: Socket = connect(port, "127.0.0.1");
  let received = "";
  let closed = false;
  const waiting: Array<() => void> = [];
  const wake = () => {
    for (const resolve of waiting.splice(0)) resolve();
  };
  socket.on("data", (chunk) => {
    received += chunk.toString("latin1");
    wake();
  });
  socket.on("close", () => {
    closed = true;
    wake();
  });
  socket.on("error", () => {});
  const until = async (met: () => boolean) => {
    while (!met()) await new Promise<void>((resolve) => waiting.push(resolve));
  };
  return {
    send: (path: string) => socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`),
    /** The next whole answer's head and body (its Content-Length read). */
    async answer(): Promise<{ head: string; body: string }> {
      const whole = () => {
        const end = received.indexOf("\r\n\r\n");
        if (end < 0) return null;
        const length = Number(/content-length: (\d+)/i.exec(received.slice(0, end))?.[1] ?? 0);
        return received.length >= end + 4 + length ? { end, length } : null;
      };
      await until(() => whole() !== null || closed);
      const found = whole();
      if (!found) throw new Error("the connection closed before a whole answer");
      const head = received.slice(0, found.end);
      const body = received.slice(found.end + 4, found.end + 4 + found.length);
      received = received.slice(found.end + 4 + found.length);
      return { head, body };
    },
    closed: () => until(() => closed),
    isClosed: () => closed,
  };
}

describe("closing the HTTP server gracefully", () => {
  it("serves the requests in flight, closes each connection after its answer and the idle ones at once, then resolves", async () => {
    let entered!: () => void;
    const inFlight = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const app = new Hono()
      .get("/fast", (c) => c.text("fast"))
      .get("/slow", async (c) => {
        entered();
        await held;
        return c.text("slow");
      });
    const server = await new Promise<Server>((resolve) => {
      const started = serveHttp(app, { port: 0, hostname: "127.0.0.1", log }, () => resolve(started));
    });
    const { port } = server.address() as AddressInfo;

    const idle = connection(port);
    idle.send("/fast");
    expect((await idle.answer()).head).toMatch(/^HTTP\/1\.1 200 .*\r\nconnection: keep-alive/is);
    const busy = connection(port);
    busy.send("/slow");
    await inFlight;

    let done = false;
    const closing = closeGracefully(server).then(() => {
      done = true;
    });
    await idle.closed();
    // The request in flight holds the close back, and is answered whole, its connection closed after it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(done).toBe(false);
    expect(busy.isClosed()).toBe(false);
    release();
    const answer = await busy.answer();
    expect(answer.head).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer.head).toMatch(/\r\nconnection: close/i);
    expect(answer.body).toBe("slow");
    await busy.closed();
    await closing;
    expect(done).toBe(true);
    // No new connection is taken.
    await expect(
      new Promise((resolve, reject) => connect(port, "127.0.0.1").on("connect", resolve).on("error", reject)),
    ).rejects.toThrow(/ECONNREFUSED/);
  });

  it("cuts the connections still busy once the time to drain has passed", async () => {
    const app = new Hono().get("/never", () => new Promise<Response>(() => {}));
    const server = await new Promise<Server>((resolve) => {
      const started = serveHttp(app, { port: 0, hostname: "127.0.0.1", log }, () => resolve(started));
    });
    const stuck = connection((server.address() as AddressInfo).port);
    stuck.send("/never");
    await new Promise((resolve) => setTimeout(resolve, 200));
    await closeGracefully(server, 300);
    await stuck.closed();
  });
});
