// How an event's trace travels (W3C Trace Context): from the active span into the outbox row, from the row
// into the Kafka record's headers, and from those headers back into a context; and the one way every layer
// wraps its work in a span. With no tracer provider registered (no OTEL_EXPORTER_OTLP_ENDPOINT) the spans are
// the API's no-op ones, which still carry the caller's trace context, so a request's traceparent travels anyway.
import {
  type Context,
  context,
  type Link,
  ROOT_CONTEXT,
  type Span,
  type SpanOptions,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";

/** The trace context as a row stores it and a record carries it: the two W3C headers, null when absent. */
export interface TraceHeaders {
  traceparent: string | null;
  tracestate: string | null;
}

// Used directly rather than through the global propagator: the record contract is W3C Trace Context whatever
// OTEL_PROPAGATORS says, and baggage (which could carry anything) never rides along into the history.
const w3c = new W3CTraceContextPropagator();

const setter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

const getter: TextMapGetter<Readonly<Record<string, string | null | undefined>>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key] ?? undefined,
};

/**
 * The trace context of `from` (the active one by default): what the outbox row stores. A tracestate with no
 * valid member (a caller's `,,` or garbage) is injected as '': stored, it would be a header the polling relay
 * leaves out and Debezium's router sends empty, so none is stored.
 */
export function traceHeadersOf(from: Context = context.active()): TraceHeaders {
  const carrier: Record<string, string> = {};
  w3c.inject(from, carrier, setter);
  return { traceparent: carrier.traceparent ?? null, tracestate: carrier.tracestate || null };
}

/**
 * The context a request's or a record's headers carry, as the parent of the span that handles it; the root
 * context when they carry none, or a malformed traceparent (dropped, as the W3C specification asks).
 */
export function contextFromHeaders(headers: Readonly<Record<string, string | null | undefined>>): Context {
  const extracted = w3c.extract(ROOT_CONTEXT, headers, getter);
  const spanContext = trace.getSpanContext(extracted);
  if (!spanContext || (spanContext.traceFlags & ~DEFINED_TRACE_FLAGS) === 0) return extracted;
  return trace.setSpanContext(extracted, {
    ...spanContext,
    traceFlags: spanContext.traceFlags & DEFINED_TRACE_FLAGS,
  });
}

/**
 * The trace flags W3C Trace Context defines, sampled (0x01) and random (0x02, level 2): the others are carried no
 * further, as the specification asks. Kept, a flag of 0x10 or above was written back as three digits (`-0ff`, by
 * the propagator's inject), a traceparent no parser reads, stored for good in the history.
 */
const DEFINED_TRACE_FLAGS = 0x03;

/** A link to the span that stored these headers, when they name one. */
export function linkTo(headers: TraceHeaders): Link[] {
  const spanContext = trace.getSpanContext(contextFromHeaders({ ...headers }));
  return spanContext ? [{ context: spanContext }] : [];
}

/**
 * Runs `work` in a new span, active for everything it awaits, and ends it. A failure marks the span with the
 * error's name only: messages can quote personal data (a refused value, a row), and spans leave the platform.
 */
export function inSpan<T>(
  tracerName: string,
  name: string,
  options: SpanOptions & { parent?: Context },
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const { parent = context.active(), ...spanOptions } = options;
  return trace.getTracer(tracerName).startActiveSpan(name, spanOptions, parent, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.name ?? "Error" });
      throw error;
    } finally {
      span.end();
    }
  });
}
