// The HTTP server every process serves its app on: @hono/node-server's listener on node:http, with what is
// refused before the app sees a request answered as the app answers every refusal (an RFC 9457 problem with an
// X-Correlation-Id), where Node and the adapter answer a bare status with no body: a request Node's parser
// cannot read (headers over the size limit, a malformed line or header, Content-Length beside
// Transfer-Encoding), one without a Host, one whose target or Host is no URL, an Expect other than 100-continue,
// a CONNECT.
import { randomUUID } from "node:crypto";
import {
  createServer,
  type IncomingMessage,
  maxHeaderSize,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import type { Socket } from "node:net";
import { getRequestListener, RequestError } from "@hono/node-server";
import type { Logger } from "../observability/logger.ts";

export type FetchHandler = Parameters<typeof getRequestListener>[0];

export interface HttpServerOptions {
  port: number;
  hostname?: string;
  /** Where each refusal is logged: its status and Node's error code, never the bytes refused. */
  log: Logger;
}

/** Serves `app` on `options.port`; `listening` is told the port. */
export function serveHttp(
  app: { fetch: FetchHandler },
  options: HttpServerOptions,
  listening?: (port: number) => void,
): Server {
  const { log } = options;
  const server = createServer(
    // The request without a Host goes on to the adapter, which refuses it below: Node's own refusal of it is a
    // bare 400.
    { requireHostHeader: false },
    getRequestListener(app.fetch, {
      errorHandler: (error) => {
        // The adapter could not make a Request of it (no Host, a backslash in the path, a Host or an absolute
        // target that is no URL). Its messages are the adapter's own words, never the request's bytes.
        const invalid = error instanceof RequestError;
        const status = invalid ? 400 : 500;
        log[invalid ? "info" : "error"]({ status, err: { type: (error as Error).name } }, "request refused");
        const problem = invalid ? REQUEST_ERROR_FIELDS.get(error.message) : undefined;
        const body = invalid
          ? problemDocument(
              400,
              "The request's target or Host header cannot be read.",
              problem ? [problem] : undefined,
            )
          : problemDocument(500);
        return new Response(body, { status, headers: problemHeaders() });
      },
    }),
  );

  // An Expect the server cannot meet (anything but 100-continue, which Node answers itself): Node's own 417 is bare.
  server.on("checkExpectation", (_request: IncomingMessage, response: ServerResponse) => {
    log.info({ status: 417 }, "request refused: an expectation that cannot be met");
    response.writeHead(417, problemHeaders());
    response.end(
      problemDocument(417, "Only `Expect: 100-continue` is met.", [
        { field: "header.expect", message: "is not 100-continue" },
      ]),
    );
  });

  // CONNECT asks for a tunnel, which no process here opens: unheard, Node closes the connection without a word.
  // Refused as a method no route takes, naming it (a 400, as the parser's refusal of a method it cannot read).
  server.on("connect", (_request: IncomingMessage, socket: Socket) => {
    log.info({ status: 400 }, "request refused: CONNECT");
    socket.end(
      rawAnswer({
        status: 400,
        detail: "CONNECT is not taken: this server is no proxy and opens no tunnels.",
        errors: [{ field: "method", message: "CONNECT is not taken" }],
      }),
      () => socket.destroy(),
    );
  });

  // The answer each connection is sending or about to send, so that the bytes after a whole request (which
  // Node's parser reports as an error of the connection) do not cut that request's answer off.
  const answering = new WeakMap<Socket, { request: IncomingMessage; response: ServerResponse }>();
  server.on("request", (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    answering.set(socket, { request, response });
    response.once("close", () => {
      if (answering.get(socket)?.response === response) answering.delete(socket);
    });
  });

  // A connection's error may be reported more than once (each chunk read after it fails again): answered once.
  const refused = new WeakSet<Socket>();
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    if (refused.has(socket)) return;
    refused.add(socket);
    if (error.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const refusal = refusalOf(error, server);
    const refuse = () => {
      log.info({ status: refusal.status, err: { code: error.code } }, "request refused by the HTTP parser");
      if (!socket.writable) return socket.destroy();
      socket.end(rawAnswer(refusal), () => socket.destroy());
    };
    const current = answering.get(socket);
    if (current === undefined) return refuse();
    // The request before the bytes is whole: it is answered first, so its client learns what it did (a
    // POST that created a patient is not taken for refused and sent again), then the bytes are refused.
    if (current.request.complete) {
      current.response.once("close", refuse);
      return;
    }
    // The request's own body could not be read: its answer has begun (nothing can be added to it) or not.
    if (current.response.headersSent) return socket.destroy();
    refuse();
  });

  server.listen(options.port, options.hostname, () => {
    const address = server.address();
    listening?.(typeof address === "object" && address !== null ? address.port : options.port);
  });
  return server;
}

/** Where in the request each of Node's parse errors is, for the problem's `errors` (RFC 9110 field names). */
const PARSE_ERROR_FIELDS: ReadonlyMap<string, string> = new Map([
  ["HPE_HEADER_OVERFLOW", "header"],
  ["HPE_INVALID_HEADER_TOKEN", "header"],
  ["HPE_CR_EXPECTED", "header"],
  ["HPE_LF_EXPECTED", "header"],
  ["HPE_INVALID_CONTENT_LENGTH", "header.content-length"],
  ["HPE_UNEXPECTED_CONTENT_LENGTH", "header.content-length"],
  ["HPE_INVALID_TRANSFER_ENCODING", "header.transfer-encoding"],
  ["HPE_INVALID_CHUNK_SIZE", "body"],
  ["HPE_CHUNK_EXTENSIONS_OVERFLOW", "body"],
  ["HPE_INVALID_URL", "path"],
  ["HPE_INVALID_METHOD", "method"],
  ["HPE_INVALID_VERSION", "version"],
]);

/** The adapter's refusals (its RequestError messages), by the part of the request each is about. */
const REQUEST_ERROR_FIELDS: ReadonlyMap<string, Problem> = new Map([
  ["Missing host header", { field: "header.host", message: "is required" }],
  ["Invalid host header", { field: "header.host", message: "is not a host name and port" }],
  ["Backslash in request path", { field: "path", message: "holds a backslash" }],
  ["Invalid URL", { field: "path", message: "is not a URL path" }],
  ["Invalid absolute URL", { field: "path", message: "is not a URL" }],
]);

interface Problem {
  field: string;
  message: string;
}

interface Refusal {
  status: number;
  detail: string;
  errors?: Problem[];
}

function refusalOf(error: NodeJS.ErrnoException, server: Server): Refusal {
  const field = PARSE_ERROR_FIELDS.get(error.code ?? "");
  switch (error.code) {
    case "HPE_HEADER_OVERFLOW":
      return {
        status: 431,
        detail: `The request's headers are over ${maxHeaderSize} bytes together.`,
        errors: [{ field: "header", message: `over ${maxHeaderSize} bytes together` }],
      };
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return {
        status: 413,
        detail: "The body's chunk extensions are too large.",
        errors: [{ field: "body", message: "has chunk extensions that are too large" }],
      };
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return {
        status: 408,
        detail: `The request was not received whole within ${server.requestTimeout} ms.`,
      };
    default: {
      // llhttp's reasons are its own fixed words ("Invalid header value char"), never the request's bytes.
      const reason = (error as { reason?: unknown }).reason;
      const said = typeof reason === "string" && /^[\x20-\x7e]{1,100}$/.test(reason) ? reason : undefined;
      return {
        status: 400,
        detail: `The request is not well-formed HTTP/1.1${said ? `: ${said}` : ""}.`,
        ...(field ? { errors: [{ field, message: said ?? "is malformed" }] } : {}),
      };
    }
  }
}

/** The problem document as apps/http/problem.ts writes every other one (no `instance`: no path was read). */
function problemDocument(status: number, detail?: string, errors?: Problem[]): string {
  return JSON.stringify({
    type: "about:blank",
    title: STATUS_CODES[status] ?? "Error",
    status,
    detail,
    errors,
  });
}

function problemHeaders(): Record<string, string> {
  return {
    "Content-Type": "application/problem+json",
    "X-Correlation-Id": randomUUID(),
    "Cache-Control": "no-store",
  };
}

/** A whole HTTP/1.1 answer, written straight to the socket: no response object exists for these bytes. */
function rawAnswer({ status, detail, errors }: Refusal): string {
  const body = problemDocument(status, detail, errors);
  const headers = {
    ...problemHeaders(),
    "Content-Length": String(Buffer.byteLength(body)),
    Connection: "close",
  };
  return [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    "",
    body,
  ].join("\r\n");
}
