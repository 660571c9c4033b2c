// Without OTEL_EXPORTER_OTLP_ENDPOINT (or with OTEL_SDK_DISABLED=true) nothing is recorded or exported: the
// tracer is the API's no-op one. The caller's trace context still passes through unchanged, so a request's
// traceparent and tracestate reach its outbox rows and Kafka headers as they came.
import { context, trace } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { contextFromHeaders, inSpan, traceHeadersOf } from "../events/tracing.ts";
import { startTracing } from "./tracing.ts";

const caller = {
  traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  tracestate: "congo=t61rcWkgMzE",
};

describe("tracing without an exporter", () => {
  it("registers no provider, with no endpoint or with the SDK disabled", async () => {
    for (const env of [
      {},
      { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9", OTEL_SDK_DISABLED: true },
      { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9", OTEL_TRACES_EXPORTER: "none" as const },
    ]) {
      const tracing = startTracing(env, { serviceName: "test" });
      expect(tracing.exporting).toBe(false);
      await tracing.shutdown();
    }
    const span = trace.getTracer("test").startSpan("anything");
    expect(span.isRecording()).toBe(false);
    span.end();
  });

  it("passes the caller's traceparent and tracestate through the spans unchanged", async () => {
    startTracing({}, { serviceName: "test" });
    const stored = await context.with(contextFromHeaders(caller), () =>
      inSpan("test", "db transaction", {}, () =>
        inSpan("test", "outbox append", {}, async () => traceHeadersOf()),
      ),
    );
    expect(stored).toEqual(caller);
  });

  it("stores nothing for a request that carried no trace context, or a malformed one", async () => {
    startTracing({}, { serviceName: "test" });
    for (const headers of [{}, { traceparent: "00-not-a-trace-01", tracestate: "congo=1" }]) {
      const stored = await context.with(contextFromHeaders(headers), () =>
        inSpan("test", "outbox append", {}, async () => traceHeadersOf()),
      );
      expect(stored).toEqual({ traceparent: null, tracestate: null });
    }
  });

  it("stores no tracestate when the caller's holds no valid member, not an empty one", async () => {
    // Before, the row stored '' and the polling relay sent no header for it while Debezium sent an empty one.
    startTracing({}, { serviceName: "test" });
    for (const tracestate of ["", " ", ",,", "\u00ff,===;;;", "Upper=case"]) {
      const stored = await context.with(
        contextFromHeaders({ traceparent: caller.traceparent, tracestate }),
        () => inSpan("test", "outbox append", {}, async () => traceHeadersOf()),
      );
      expect(stored, JSON.stringify(tracestate)).toEqual({
        traceparent: caller.traceparent,
        tracestate: null,
      });
    }
  });
});
