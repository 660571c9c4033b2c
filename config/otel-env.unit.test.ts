// The OpenTelemetry variables are checked at start like every other: one message per bad variable, the OTLP
// headers (often an API key) never printed, and OTLP over gRPC refused with what to use instead.
import { describe, expect, it } from "vitest";
import { configProblems } from "../test/configProblems.ts";
import { loadEnv } from "./env.ts";

const problemsOf = (source: Record<string, string>) => configProblems(loadEnv, source);

describe("the OTEL_* variables", () => {
  it("reads the standard ones", () => {
    expect(
      loadEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer abc,x-tenant=7",
        OTEL_SERVICE_NAME: "patient-api",
        OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG: "0.25",
        OTEL_SDK_DISABLED: "TRUE",
      }),
    ).toMatchObject({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "patient-api",
      OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
      OTEL_TRACES_SAMPLER_ARG: 0.25,
      OTEL_SDK_DISABLED: true,
    });
  });

  it("names each bad one, refusing gRPC with the port to use instead", () => {
    const problems = problemsOf({
      OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318",
      OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
      OTEL_TRACES_SAMPLER: "jaeger_remote",
      OTEL_TRACES_SAMPLER_ARG: "2",
      OTEL_SDK_DISABLED: "yes",
      OTEL_TRACES_EXPORTER: "zipkin",
    });
    expect(problems).toHaveLength(6);
    expect(problems).toContain(
      'OTEL_EXPORTER_OTLP_PROTOCOL="grpc": must be http/protobuf or http/json (OTLP over gRPC is not supported: use the collector\'s HTTP port, 4318)',
    );
    for (const name of ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"]) {
      expect(problems.some((problem) => problem.startsWith(`${name}=`))).toBe(true);
    }
    expect(problems).toContain('OTEL_SDK_DISABLED="yes": must be true or false');
    expect(problems).toContain('OTEL_TRACES_EXPORTER="zipkin": must be otlp or none');
  });

  it("refuses malformed OTLP headers without printing them", () => {
    const problems = problemsOf({ OTEL_EXPORTER_OTLP_HEADERS: "api-key secret-value" });
    expect(problems).toEqual([
      "OTEL_EXPORTER_OTLP_HEADERS=(20 characters, hidden): must be key=value pairs, comma-separated",
    ]);
  });
});
