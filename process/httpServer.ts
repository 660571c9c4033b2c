// The HTTP server every process serves its app on: @hono/node-server's listener on node:http, with what is
// refused before the app sees a request answered as the app answers every refusal (an RFC 9457 problem with an
// X-Correlation-Id), where Node and the adapter answer a bare status with no body: a request Node's parser
// cannot read (headers over the size limit, a malformed line or header, Content-Length beside
// Transfer-Encoding), one without a Host, one whose target or Host is no URL, an Expect other than 100-continue,
// a CONNECT. The target and the Host are checked here, before the adapter (targetOrHostProblem): it skips
// parsing a Host that looks like a name and an absolute target's authority, and one it cannot make a Request of
// then failed inside the app, a 500; and it served an absolute target without a Host, or with two.
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
  /** How long a request may take to arrive whole, headers and body (REQUEST_TIMEOUT_MS unless given). */
  requestTimeoutMs?: number;
}

/**
 * How long a request may take to arrive whole: then it is a 408 problem and its connection is closed. Node's own
 * limit, 300 s, let a client that sends a body a byte at a time hold a connection, a socket and a request's
 * memory for five minutes; every body here is at most 64 KiB, which a 2G link sends in about ten seconds. Node
 * checks its connections every CHECK_INTERVAL_MS for the limit, so a request is cut off within that after it.
 */
export const REQUEST_TIMEOUT_MS = 30_000;
const CHECK_INTERVAL_MS = 5_000;

/** Serves `app` on `options.port`; `listening` is told the port. */
export function serveHttp(
  app: { fetch: FetchHandler },
  options: HttpServerOptions,
  listening?: (port: number) => void,
): Server {
  const { log } = options;
  const adapter = getRequestListener(app.fetch, {
    // The name an HTTP/1.0 request without a Host is read against (RFC 9112 §3.2 asks a Host of HTTP/1.1 only):
    // no route reads it.
    hostname: "localhost",
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
  });
  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const server = createServer(
    {
      // The request without a Host is refused below, as a problem: Node's own refusal of it is a bare 400.
      requireHostHeader: false,
      requestTimeout,
      // The headers' own limit stays Node's (60 s) where the whole request's is longer; never longer than it.
      headersTimeout: Math.min(60_000, requestTimeout),
      connectionsCheckingInterval: Math.min(CHECK_INTERVAL_MS, Math.ceil(requestTimeout / 4)),
    },
    (request, response) => {
      const problem = targetOrHostProblem(request);
      if (problem !== undefined) {
        log.info({ status: 400, err: { field: problem.field } }, "request refused");
        response.writeHead(400, problemHeaders());
        response.end(problemDocument(400, "The request's target or Host header cannot be read.", [problem]));
        return;
      }
      // Node's parser stops reading a connection at a request that asks for an Upgrade, which no process here
      // makes: the requests pipelined behind it would be lost, unanswered. The connection ends after its answer
      // instead, which tells the client that nothing after it was read (RFC 9112 §9.6).
      if (request.headers.upgrade !== undefined) response.shouldKeepAlive = false;
      // Closing (closeGracefully): the request is served, then its connection closed, not kept for another.
      if (!server.listening) response.shouldKeepAlive = false;
      void adapter(request, response);
    },
  );

  // Node's timeouts start at a request's first byte: a connection that sends none is held until the client
  // closes it, a file and a socket each, however many are opened. It is closed once a request would have had to
  // arrive whole; one whose first request has begun is left to Node's 408. A connection between two requests
  // is closed by Node's keep-alive timeout.
  server.on("connection", (socket: Socket) => {
    const silent = setTimeout(() => {
      if (socket.bytesRead === 0) socket.destroy();
    }, requestTimeout);
    silent.unref();
    socket.once("close", () => clearTimeout(silent));
  });

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
  const inFlight = new Set<ServerResponse>();
  answersInFlight.set(server, inFlight);
  server.on("request", (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    answering.set(socket, { request, response });
    inFlight.add(response);
    response.once("close", () => {
      inFlight.delete(response);
      if (answering.get(socket)?.response === response) answering.delete(socket);
      // Closing: a connection whose answer had begun before is idle now, and closed rather than kept alive.
      if (!server.listening) server.closeIdleConnections();
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

/** Each server's answers begun and not yet closed, which closeGracefully tells to close their connection. */
const answersInFlight = new WeakMap<Server, ReadonlySet<ServerResponse>>();

/** How long closeGracefully lets the requests in flight finish before it cuts their connections. */
export const DRAIN_TIMEOUT_MS = 10_000;

/**
 * Stops taking connections and resolves once every open one has closed: the idle ones at once, each busy one
 * after its answer (`Connection: close`; a request that arrives on it meanwhile is served so too), any left
 * after `drainMs` cut. What the requests use (a database pool) may be closed after it: closed before, a request
 * on a kept-alive connection was answered 500 while the process stopped.
 */
export function closeGracefully(server: Server, drainMs = DRAIN_TIMEOUT_MS): Promise<void> {
  // The answers not yet begun say that their connection closes after them.
  for (const response of answersInFlight.get(server) ?? []) {
    if (!response.headersSent) response.shouldKeepAlive = false;
  }
  return new Promise((resolve) => {
    const cut = setTimeout(() => server.closeAllConnections(), drainMs);
    cut.unref();
    server.close(() => {
      clearTimeout(cut);
      resolve();
    });
  });
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

/**
 * Why the request's target or Host cannot be read as RFC 9112 §3.2 and RFC 9110 §4.2 ask, if they cannot: a Host
 * missing from an HTTP/1.1 request (it needs one, even with an absolute target; an HTTP/1.0 one may leave it out)
 * or given twice, one that is no
 * `host[:port]`, an absolute target with an empty authority or user information (RFC 9110 §4.2.4), a path with a
 * dot segment. Each is also something the WHATWG URL parser, which the adapter's Request is built with, must take
 * as it is.
 */
function targetOrHostProblem(request: IncomingMessage): Problem | undefined {
  const hosts: string[] = [];
  for (let at = 0; at < request.rawHeaders.length; at += 2) {
    if (request.rawHeaders[at]?.toLowerCase() === "host") hosts.push(request.rawHeaders[at + 1] ?? "");
  }
  if (hosts.length === 0 && request.httpVersion !== "1.0")
    return { field: "header.host", message: "is required" };
  if (hosts.length > 1) return { field: "header.host", message: "is given more than once" };
  if (hosts.length === 1 && !isUrlAuthority(hosts[0] as string))
    return { field: "header.host", message: "is not a host name and port" };
  const target = request.url ?? "";
  if (target === "*") return undefined;
  if (!target.startsWith("/")) {
    const authority = ABSOLUTE_TARGET.exec(target)?.[1];
    if (authority === undefined || !isUrlAuthority(authority)) {
      return { field: "path", message: "is not an http(s) URL with a host and no user information" };
    }
  }
  // The path: after an absolute target's authority, before the query (or a fragment, which the parser would cut).
  const path = target.replace(ABSOLUTE_TARGET_AUTHORITY, "").split(/[?#]/)[0] as string;
  if (DOT_SEGMENT.test(path)) {
    return { field: "path", message: "holds a dot segment (. or .., or either percent-encoded)" };
  }
  return undefined;
}

/**
 * A path segment `.` or `..`, a dot also written `%2e`: the URL parser the adapter builds its Request with removes
 * them (RFC 3986 §5.2.4), so `/patients/%2e%2e/providers` would be served as `/providers`, a route other than the
 * one a proxy or a firewall in front reads in the path.
 */
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:\/|$)/i;
/** An absolute target: http or https, then its authority, up to the path, query or end. */
const ABSOLUTE_TARGET = /^https?:\/\/([^/?#]*)(?:[/?#]|$)/i;
const ABSOLUTE_TARGET_AUTHORITY = /^https?:\/\/[^/?#]*/i;
/** RFC 3986's `host [":" port]`: an IP literal in brackets, or a name (IPv4 among them), without user information. */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]*)?$/;

function isUrlAuthority(authority: string): boolean {
  if (!AUTHORITY.test(authority)) return false;
  try {
    const url = new URL(`http://${authority}/`);
    return url.hostname !== "" && url.username === "" && url.password === "";
  } catch {
    return false;
  }
}

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
      // Node's parser counts the request line with the headers: a long URL meets the same limit.
      if (requestLineOverLimit(error)) {
        return {
          status: 414,
          detail: `The request line alone is over ${maxHeaderSize} bytes: the URL is too long.`,
          errors: [{ field: "path", message: `makes the request line over ${maxHeaderSize} bytes` }],
        };
      }
      return {
        status: 431,
        detail: `The request line and headers are over ${maxHeaderSize} bytes together.`,
        errors: [{ field: "header", message: `over ${maxHeaderSize} bytes together with the request line` }],
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
        // Node reports both of its timeouts so: the headers' (headersTimeout) and the whole request's.
        detail: `The request was not received whole in time: its headers within ${server.headersTimeout} ms, all of it within ${server.requestTimeout} ms.`,
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

/** A request line's start: a method (a token of upper-case letters, as every method this server serves) and a space. */
const REQUEST_LINE_START = /^[A-Z]{1,20} /;

/**
 * Whether the bytes the parser stopped in begin a request whose line alone is over the limit: they start with a
 * method, and no line ends within maxHeaderSize bytes. Node counts from the request's first byte, so bytes that
 * begin a request and overflowed before any line end overflowed in its request line. A request that arrived in
 * several reads (a slow client) is judged by its last, which does not begin it: the 431 of both together.
 */
function requestLineOverLimit(error: NodeJS.ErrnoException): boolean {
  const { rawPacket } = error as { rawPacket?: unknown };
  if (!Buffer.isBuffer(rawPacket)) return false;
  if (!REQUEST_LINE_START.test(rawPacket.subarray(0, 21).toString("latin1"))) return false;
  const lineEnd = rawPacket.indexOf("\r\n");
  return lineEnd === -1 || lineEnd > maxHeaderSize;
}

/** The reason phrases RFC 9110 renamed, which the app's own refusals use, where Node 20 has the older ones. */
const RFC_9110_TITLES: ReadonlyMap<number, string> = new Map([
  [413, "Content Too Large"],
  [422, "Unprocessable Content"],
]);

/** The problem document as apps/http/problem.ts writes every other one (no `instance`: no path was read). */
function problemDocument(status: number, detail?: string, errors?: Problem[]): string {
  return JSON.stringify({
    type: "about:blank",
    title: RFC_9110_TITLES.get(status) ?? STATUS_CODES[status] ?? "Error",
    status,
    detail,
    errors,
  });
}

/** The headers of every problem the app writes (apps/http/problem.ts), these included. */
function problemHeaders(): Record<string, string> {
  return {
    "Content-Type": "application/problem+json",
    "X-Correlation-Id": randomUUID(),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
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
