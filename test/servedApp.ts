// A Hono app (the test platform, most often) served over real HTTP on a free port of 127.0.0.1: for the tests
// whose client is a browser, `fetch` over a socket, or another process, rather than `app.request`.
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";

export interface ServedApp {
  /** `http://127.0.0.1:<port>`, to put a path after. */
  base: string;
  port: number;
  /** Stops accepting connections; requests already being answered run to their end. */
  close(): void;
}

export async function serveApp(app: {
  fetch: (request: Request) => Response | Promise<Response>;
}): Promise<ServedApp> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => {
      const { port } = server.address() as AddressInfo;
      resolve({ base: `http://127.0.0.1:${port}`, port, close: () => void server.close() });
    });
  });
}
