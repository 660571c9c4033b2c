// A member the platform's own tracer adds to the tracestate (a sampler's, such as OpenTelemetry's consistent
// probability samplers' `ot`; none of the samplers OTEL_TRACES_SAMPLER may name adds one) is kept whatever
// TRACESTATE_KEYS says: the caller's tracestate is cut down before the request's span is made, and the tracer
// adds its members to that span, which the rows then store.
import { context, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, SamplingDecision, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { Hono } from "hono";
import { afterAll, describe, expect, it } from "vitest";
import { traceHeadersOf } from "../../events/tracing.ts";
import { installTraceContext } from "../../observability/tracing.ts";
import { requestSpan } from "./requestSpan.ts";

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({
  sampler: {
    shouldSample: (parent) => ({
      decision: SamplingDecision.RECORD_AND_SAMPLED,
      traceState: trace.getSpanContext(parent)?.traceState?.set("ot", "th:8"),
    }),
  },
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
installTraceContext();
trace.setGlobalTracerProvider(provider);
// The unit files share one process: the global provider goes with this file, as a process's shutdown takes it.
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
});

const app = new Hono();
app.use(requestSpan(new Set(["congo"])));
// What appendEvents stores: the active span's trace context.
app.get("/stored", (c) => c.json(traceHeadersOf(context.active())));

describe("the tracer's own tracestate members", () => {
  it("are kept, beside the caller's members TRACESTATE_KEYS names", async () => {
    const response = await app.request("/stored", {
      headers: {
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        tracestate: "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
      },
    });
    const [span] = exporter.getFinishedSpans();
    expect(await response.json()).toEqual({
      traceparent: `00-0af7651916cd43dd8448eb211c80319c-${span?.spanContext().spanId}-01`,
      tracestate: "ot=th:8,congo=t61rcWkgMzE",
    });
  });
});
