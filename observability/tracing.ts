// Tracing for a process, set up once by its frame: the active context carried across awaits (so a request's
// trace context reaches its outbox rows), and, when OTEL_EXPORTER_OTLP_ENDPOINT is set, an OpenTelemetry
// tracer provider exporting spans over OTLP/HTTP. Without an endpoint no provider is registered: the API's
// tracer stays the no-op one and nothing is exported.
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { OTLPTraceExporter as OtlpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as OtlpProtobufExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from "@opentelemetry/resources";
import { BatchSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import type { Env } from "../config/env.ts";

export interface Tracing {
  /** Whether spans are recorded and exported (a provider is registered). */
  readonly exporting: boolean;
  /** Exports the spans still buffered and stops the provider: a shutdown step of the frame. */
  shutdown(): Promise<void>;
}

type TracingEnv = Pick<
  Env,
  | "OTEL_EXPORTER_OTLP_ENDPOINT"
  | "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
  | "OTEL_EXPORTER_OTLP_PROTOCOL"
  | "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
  | "OTEL_SDK_DISABLED"
  | "OTEL_TRACES_EXPORTER"
>;

export interface TracingOptions {
  /** The service name when OTEL_SERVICE_NAME is unset: the process's name (`relay`, `platform`…). */
  serviceName: string;
  /** Where spans go instead of OTLP, whatever the environment says (tests: an in-memory exporter). */
  spanProcessors?: SpanProcessor[];
}

let contextInstalled = false;

/**
 * Carries the active context across awaits (AsyncLocalStorage), once per process. Needed with or without an
 * exporter: the HTTP span, even a no-op one, is how the request's trace context reaches appendEvents.
 */
export function installTraceContext(): void {
  if (contextInstalled) return;
  contextInstalled = context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
}

/** Installs the trace context and, when the environment asks for export (or tests pass processors), a provider. */
export function startTracing(env: TracingEnv, options: TracingOptions): Tracing {
  installTraceContext();
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const exportsOtlp =
    env.OTEL_SDK_DISABLED !== true &&
    (env.OTEL_TRACES_EXPORTER ?? "otlp") === "otlp" &&
    endpoint !== undefined;
  const spanProcessors =
    options.spanProcessors ?? (exportsOtlp ? [new BatchSpanProcessor(otlpExporter(env))] : []);
  if (spanProcessors.length === 0) return { exporting: false, shutdown: async () => {} };

  const provider = new NodeTracerProvider({
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the env detector) win over the process's own name.
    resource: defaultResource()
      .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }))
      .merge(detectResources({ detectors: [envDetector] })),
    // The sampler comes from OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (checked by config/env.ts).
    spanProcessors,
  });
  trace.setGlobalTracerProvider(provider);
  return {
    exporting: true,
    async shutdown() {
      await provider.shutdown();
      trace.disable();
    },
  };
}

/** The exporter reads its endpoint, headers, timeout and compression from the OTEL_EXPORTER_OTLP_* variables. */
function otlpExporter(env: TracingEnv) {
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL;
  return protocol === "http/json" ? new OtlpJsonExporter() : new OtlpProtobufExporter();
}
