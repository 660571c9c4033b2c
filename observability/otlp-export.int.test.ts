// With OTEL_EXPORTER_OTLP_ENDPOINT set, a real service process exports its spans over OTLP/HTTP (protobuf by
// default, JSON when OTEL_EXPORTER_OTLP_PROTOCOL says so), with the headers of OTEL_EXPORTER_OTLP_HEADERS and
// the name of OTEL_SERVICE_NAME, and flushes what it holds when it stops. The collector here is a small HTTP
// server that keeps what it is sent.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnScript } from "../test/childProcess.ts";
import { newPatientBody } from "../test/fixtures.ts";
import { caller, testSecret } from "../test/tokens.ts";

interface Export {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const exports: Export[] = [];
let collector: Server;
let endpoint: string;

beforeAll(async () => {
  collector = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      exports.push({ path: request.url ?? "", headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(200, { "Content-Type": String(request.headers["content-type"]) }).end();
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
});

afterAll(() => new Promise((resolve) => collector.close(resolve)));

/** Runs the patient service with the OTLP variables, makes one traced request, stops it; what it exported. */
async function tracedRequest(otel: Record<string, string>): Promise<{ traceId: string; sent: Export[] }> {
  const start = exports.length;
  const service = spawnScript("apps/patient/main.ts", {
    env: {
      PORT: "0",
      LOG_LEVEL: "info",
      JWT_SECRET: new TextDecoder().decode(testSecret),
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_HEADERS: "x-collector-key=k-123",
      ...otel,
    },
  });
  const [, port] = await service.printed(/"port":(\d+)/);
  const traceId = randomBytes(16).toString("hex");
  const admin = await caller("admin");
  const response = await fetch(`http://127.0.0.1:${port}/patients`, {
    method: "POST",
    headers: admin.headers({
      "Content-Type": "application/json",
      traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01`,
    }),
    body: JSON.stringify(newPatientBody()),
  });
  expect(response.status).toBe(201);
  service.child.kill("SIGTERM");
  expect(await service.exited).toBe(0);
  return { traceId, sent: exports.slice(start) };
}

interface JsonSpan {
  traceId: string;
  name: string;
  kind: number;
}

interface JsonExport {
  resourceSpans: Array<{
    resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
    scopeSpans: Array<{ spans: JsonSpan[] }>;
  }>;
}

describe("OTLP export", () => {
  it("sends a request's spans as OTLP/JSON to the endpoint's /v1/traces, with the configured headers", async () => {
    const { traceId, sent } = await tracedRequest({
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "patients-under-test",
    });
    const traces = sent.filter((one) => one.path === "/v1/traces");
    expect(traces.length).toBeGreaterThan(0);
    expect(traces[0]?.headers["content-type"]).toBe("application/json");
    expect(traces[0]?.headers["x-collector-key"]).toBe("k-123");
    const resourceSpans = traces.flatMap(
      (one) => (JSON.parse(one.body.toString()) as JsonExport).resourceSpans,
    );
    const spans = resourceSpans.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans));
    const names = spans.filter((span) => span.traceId === traceId).map((span) => span.name);
    expect(names).toEqual(expect.arrayContaining(["POST /patients", "db transaction", "outbox append"]));
    const serviceNames = resourceSpans.map(
      (resource) => resource.resource.attributes.find((attribute) => attribute.key === "service.name")?.value,
    );
    expect(serviceNames).toContainEqual({ stringValue: "patients-under-test" });
  });

  it("sends OTLP/protobuf by default", async () => {
    const { traceId, sent } = await tracedRequest({});
    const traces = sent.filter((one) => one.path === "/v1/traces");
    expect(traces.length).toBeGreaterThan(0);
    expect(traces[0]?.headers["content-type"]).toBe("application/x-protobuf");
    // Protobuf carries ids as raw bytes, and the service name (the process's own) as text.
    const body = Buffer.concat(traces.map((one) => one.body));
    expect(body.includes(Buffer.from(traceId, "hex"))).toBe(true);
    expect(body.includes(Buffer.from("patient-service"))).toBe(true);
  });
});
