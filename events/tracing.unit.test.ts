// A caller's traceparent is continued with the trace flags W3C Trace Context defines, and no others: flags of 0x10
// and above were written back in three digits (`-0ff`), stored so in the history and sent in records' headers,
// where no parser read them and the consumers' spans lost the writer's trace.
import { describe, expect, it } from "vitest";
import { contextFromHeaders, traceHeadersOf } from "./tracing.ts";

const ids = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7";

describe("a caller's trace flags", () => {
  it.each([
    ["01", "01"],
    ["00", "00"],
    ["03", "03"],
    ["ff", "03"],
    ["10", "00"],
    ["11", "01"],
    ["f0", "00"],
  ])("%s are continued as %s", (given, continued) => {
    const { traceparent } = traceHeadersOf(contextFromHeaders({ traceparent: `${ids}-${given}` }));
    expect(traceparent).toBe(`${ids}-${continued}`);
    // What is stored is read back as the same trace, as a consumer reads a record's headers.
    expect(traceHeadersOf(contextFromHeaders({ traceparent })).traceparent).toBe(traceparent);
  });
});
