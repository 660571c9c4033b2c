// The request span: named for the method and the matched route, a child of the caller's traceparent (the
// members of its tracestate that TRACESTATE_KEYS names kept, none of a malformed one), with the status; a 5xx
// marks it failed; the query string and the headers stay out of it.
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { Hono } from "hono";
import { afterAll, describe, expect, it } from "vitest";
import { startTracing } from "../../observability/tracing.ts";
import { requestSpan } from "./requestSpan.ts";

const exporter = new InMemorySpanExporter();
const tracing = startTracing(
  {},
  { serviceName: "test", spanProcessors: [new SimpleSpanProcessor(exporter)] },
);
afterAll(() => tracing.shutdown());

const app = new Hono();
app.use(requestSpan(new Set(["congo"])));
// As the service frame does: an error becomes a response (Hono's default would also print it).
app.onError((_, c) => c.text("Internal Server Error", 500));
app.get("/patients/:id", (c) => c.json({ id: c.req.param("id") }));
app.get("/broken", () => {
  throw new Error("Ada Lovelace's row could not be read");
});

describe("requestSpan", () => {
  it("names the span for the route, continues the caller's trace and records only safe attributes", async () => {
    exporter.reset();
    const response = await app.request(
      "/patients/5d2f8a61-0c3e-4b7a-8f19-6e0d4c2b7a10?email=ada@example.org",
      {
        headers: {
          traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
          tracestate: "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE",
          authorization: "Bearer secret-token",
        },
      },
    );
    expect(response.status).toBe(200);
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe("GET /patients/:id");
    expect(span?.kind).toBe(SpanKind.SERVER);
    expect(span?.spanContext().traceId).toBe("0af7651916cd43dd8448eb211c80319c");
    expect(span?.parentSpanContext?.spanId).toBe("b7ad6b7169203331");
    expect(span?.spanContext().traceState?.serialize()).toBe("congo=t61rcWkgMzE");
    expect(span?.attributes).toEqual({
      "http.request.method": "GET",
      "url.path": "/patients/5d2f8a61-0c3e-4b7a-8f19-6e0d4c2b7a10",
      "http.route": "/patients/:id",
      "http.response.status_code": 200,
    });
  });

  it("continues the caller's trace without its tracestate when that is malformed", async () => {
    for (const tracestate of ["congo=t61rcWkgMzE,congo=again", "congo=t61rcWkgMzE,Ada Lovelace"]) {
      exporter.reset();
      const response = await app.request("/patients/5d2f8a61-0c3e-4b7a-8f19-6e0d4c2b7a10", {
        headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", tracestate },
      });
      expect(response.status).toBe(200);
      const [span] = exporter.getFinishedSpans();
      expect(span?.parentSpanContext?.spanId).toBe("b7ad6b7169203331");
      expect(span?.spanContext().traceState?.serialize() ?? "", tracestate).toBe("");
    }
  });

  it("marks a server error failed, without the error's message", async () => {
    exporter.reset();
    expect((await app.request("/broken")).status).toBe(500);
    const [span] = exporter.getFinishedSpans();
    expect(span?.parentSpanContext).toBeUndefined();
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR });
    expect(JSON.stringify(span?.attributes)).not.toContain("Lovelace");
    expect(span?.events).toEqual([]);
  });
});
