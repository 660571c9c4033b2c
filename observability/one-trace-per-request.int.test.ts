// One trace per request, end to end, on the real Postgres and Kafka: the HTTP span (a child of the caller's
// traceparent), its database transaction and outbox append, the relay's send linked to the append, and the
// consumer's handling as a child of the record's trace context. The outbox row and the Kafka record carry
// the writer's traceparent and tracestate; a request without a traceparent starts a trace of its own.
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConsumerDefinition } from "../consumers/runtime/consumerDefinition.ts";
import { type StartedConsumer, startTestConsumer } from "../test/consumers/inProcess.ts";
import { eventually, kafkaBrokers, startRelay, testDatabase } from "../test/fixtures.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import { requestBodies } from "../test/serviceRequests.ts";
import { caller, testPlatform } from "../test/tokens.ts";
import { startTracing, type Tracing } from "./tracing.ts";

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
const db = testDatabase();
// The caller's tracestate below is kept whole: its members' keys are the allowed ones (TRACESTATE_KEYS).
const tracestateKeys = new Set(["congo", "rojo"]);
const app = testPlatform(db, { tracestateKeys });
const relay = startRelay();
let consumer: StartedConsumer;

// A consumer of patient events whose handler does nothing: the runtime's span and inbox are what is observed.
const watcher: ConsumerDefinition = {
  name: "trace-watcher",
  kind: "transactional",
  topics: ["patient-events"],
  handlers: { "patient.created": async () => {} },
};

beforeAll(async () => {
  tracing = startTracing(
    {},
    { serviceName: "trace-test", spanProcessors: [new SimpleSpanProcessor(exporter)] },
  );
  consumer = await startTestConsumer(watcher, { db, kafkaBrokers: kafkaBrokers(), tracestateKeys });
});

afterAll(async () => {
  await consumer.stop();
  await relay.stop();
  await tracing.shutdown();
  await db.$client.end();
});

const spanId = (span: ReadableSpan) => span.spanContext().spanId;
const traceId = (span: ReadableSpan) => span.spanContext().traceId;
const parentId = (span: ReadableSpan) => span.parentSpanContext?.spanId;

/** The trace as a person reads it: one line per span, children under their parent, with kind and links. */
function printed(spans: ReadableSpan[]): string {
  const lines: string[] = [];
  const ids = new Set(spans.map(spanId));
  const visit = (span: ReadableSpan, depth: number) => {
    const links = span.links.map((link) => `${link.context.traceId}/${link.context.spanId}`);
    lines.push(
      [
        `${"  ".repeat(depth)}${span.name} [${SpanKind[span.kind]}]`,
        `trace ${traceId(span)} span ${spanId(span)} parent ${parentId(span) ?? "-"}`,
        links.length > 0 ? `links ${links.join(" ")}` : "",
      ]
        .filter(Boolean)
        .join("  "),
    );
    for (const child of spans.filter((other) => parentId(other) === spanId(span)).sort(byStart)) {
      visit(child, depth + 1);
    }
  };
  for (const root of spans.filter((span) => !ids.has(parentId(span) ?? "")).sort(byStart)) visit(root, 0);
  return lines.join("\n");
}

async function createPatient(headers: Record<string, string>) {
  const tap = await tapTopic(kafkaBrokers(), "patient-events");
  const admin = await caller("admin");
  const body = requestBodies.patient();
  const response = await app.request("/patients", {
    method: "POST",
    headers: admin.headers({ "Content-Type": "application/json", ...headers }),
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(201);
  const { id: patientId } = (await response.json()) as { id: string };
  const { rows } = await db.$client.query<{
    eventId: string;
    traceparent: string;
    tracestate: string | null;
  }>(
    `SELECT event_id::text AS "eventId", traceparent, tracestate FROM outbox
      WHERE event_type = 'patient.created' AND aggregate_id = $1`,
    [patientId],
  );
  const row = rows[0];
  if (!row) throw new Error("no patient.created row was written");
  const [record] = (await tap.collect({ done: containsAll([row.eventId]) })).filter(
    (tapped) => tapped.eventId === row.eventId,
  );
  // The consumer's span ends after its transaction commits; wait for it, not for time.
  const handled = await eventually(async () =>
    exporter
      .getFinishedSpans()
      .find(
        (span) => span.kind === SpanKind.CONSUMER && span.attributes["messaging.message.id"] === row.eventId,
      ),
  );
  return { body, row, record, handled };
}

describe("a request's trace", () => {
  it("runs from the HTTP span through the transaction, the outbox and the relay's send to the consumer", async () => {
    const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
    const callerSpan = "00f067aa0ba902b7";
    const tracestate = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
    const { body, row, record, handled } = await createPatient({
      traceparent: `00-${callerTrace}-${callerSpan}-01`,
      tracestate,
    });

    const spans = exporter.getFinishedSpans();
    const inTrace = spans.filter((span) => traceId(span) === callerTrace);
    const http = inTrace.find((span) => span.kind === SpanKind.SERVER);
    expect(http?.name).toBe("POST /patients");
    expect(parentId(http as ReadableSpan)).toBe(callerSpan);
    const transaction = inTrace.find(
      (span) => span.name === "db transaction" && parentId(span) === spanId(http as ReadableSpan),
    );
    expect(transaction).toBeDefined();
    const appends = inTrace.filter(
      (span) => span.name === "outbox append" && parentId(span) === spanId(transaction as ReadableSpan),
    );
    // The row names the append span that wrote it, and keeps the caller's tracestate.
    const writer = appends.find((span) => row.traceparent === `00-${callerTrace}-${spanId(span)}-01`);
    expect(writer, `row traceparent ${row.traceparent}`).toBeDefined();
    expect(row.tracestate).toBe(tracestate);
    // The record carries both as headers, whichever relay sent it.
    expect(record?.headers).toMatchObject({ traceparent: row.traceparent, tracestate });

    // The relay's send is a trace of its own, linked to the writer.
    const send = spans.find(
      (span) =>
        span.kind === SpanKind.PRODUCER &&
        span.links.some((link) => link.context.spanId === spanId(writer as ReadableSpan)),
    );
    // "send patient-events", or "send" when the batch also held the request's audit event.
    expect(send?.name).toMatch(/^send( patient-events)?$/);
    expect(send?.attributes["messaging.system"]).toBe("kafka");
    expect(send?.parentSpanContext).toBeUndefined();
    const link = send?.links.find((candidate) => candidate.context.spanId === spanId(writer as ReadableSpan));
    expect(link?.context.traceId).toBe(callerTrace);
    expect(link?.context.traceState?.serialize()).toBe(tracestate);
    // One link per writer, however many of its rows the send carried.
    expect(send?.links.filter((candidate) => candidate.context.spanId === link?.context.spanId)).toHaveLength(
      1,
    );

    // The consumer continues the request's trace, as a child of the writer, and so does its transaction.
    expect(traceId(handled)).toBe(callerTrace);
    expect(handled.spanContext().traceState?.serialize()).toBe(tracestate);
    expect(parentId(handled)).toBe(spanId(writer as ReadableSpan));
    expect(handled.name).toBe("process patient-events");
    // Its transaction is its child; or, when the record was handled together with the partition's next
    // records, the shared transaction is the child of a span of their own, linked to each writer.
    const transactionUnder = (span: ReadableSpan) =>
      spans.some((other) => other.name === "db transaction" && parentId(other) === spanId(span));
    const together = spans.find(
      (span) =>
        span.kind === SpanKind.CONSUMER &&
        span.attributes["messaging.batch.message_count"] !== undefined &&
        span.links.some((link) => link.context.spanId === spanId(writer as ReadableSpan)),
    );
    expect(transactionUnder(handled) || (together !== undefined && transactionUnder(together))).toBe(true);

    // No personal data in any span: ids, names of things and counts only.
    const attributes = JSON.stringify(spans.map((span) => span.attributes));
    for (const value of [body.firstName, body.lastName, body.email, body.phone]) {
      expect(attributes).not.toContain(value);
    }

    console.log(`one request's trace:\n${printed([...inTrace, send as ReadableSpan])}`);
  });

  it("starts a new trace for a request without a traceparent, and the consumer joins it", async () => {
    const { row, record, handled } = await createPatient({});
    const http = exporter
      .getFinishedSpans()
      .find((span) => span.kind === SpanKind.SERVER && traceId(span) === traceId(handled));
    expect(http?.name).toBe("POST /patients");
    expect(http?.parentSpanContext).toBeUndefined();
    expect(row.traceparent).toMatch(new RegExp(`^00-${traceId(handled)}-[0-9a-f]{16}-01$`));
    expect(row.tracestate).toBeNull();
    expect(record?.headers.traceparent).toBe(row.traceparent);
    expect(record?.headers).not.toHaveProperty("tracestate");
  });
});

function byStart(a: ReadableSpan, b: ReadableSpan): number {
  return a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1];
}
