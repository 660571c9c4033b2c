// The install's patches of kafkajs (scripts/patch-dependencies.mjs): applied to the installed copy, records it
// encodes decode to what was sent, a connection's request queue arms a timer only while requests wait, and the
// script refuses what it was not written for.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it, vi } from "vitest";

const run = promisify(execFile);
const script = new URL("patch-dependencies.mjs", import.meta.url).pathname;
const require = createRequire(import.meta.url);

interface DecodedRecord {
  key: Buffer;
  value: Buffer;
  headers: Record<string, Buffer>;
}
const { RecordBatch } = require("kafkajs/src/protocol/recordBatch/v0") as {
  RecordBatch: (batch: { records: unknown[] }) => Promise<{ buffer: Buffer }>;
};
const Record = require("kafkajs/src/protocol/recordBatch/record/v0") as (record: {
  offsetDelta: number;
  key: Buffer;
  value: Buffer;
  headers: Record<string, string>;
}) => unknown;
const Decoder = require("kafkajs/src/protocol/decoder") as new (buffer: Buffer) => unknown;
const decodeRecordBatch = require("kafkajs/src/protocol/recordBatch/v0/decoder") as (
  decoder: unknown,
) => Promise<{ records: DecodedRecord[] }>;

describe("the installed kafkajs", () => {
  it("is patched: its Encoder allocates from Node's pool, unzeroed", async () => {
    const encoder = await readFile(require.resolve("kafkajs/src/protocol/encoder.js"), "utf8");
    expect(encoder).toContain("this.buf = Buffer.allocUnsafe(Encoder.nextPowerOfTwo(initialSize))");
    expect(encoder).toContain("const newBuffer = Buffer.allocUnsafe(newLength)");
    expect(encoder).not.toContain("Buffer.alloc(");
  });

  it("encodes records, small, grown past the first buffer and past Node's pool, that decode to what was sent", async () => {
    const sent = [0, 1, 300, 511, 512, 700, 5_000, 70_000].map((size, offsetDelta) => ({
      offsetDelta,
      key: Buffer.from(randomUUID()),
      value: Buffer.from("é".repeat(size)),
      headers: { eventId: randomUUID(), eventType: "patient.updated", correlationId: "c".repeat(size % 600) },
    }));
    const batch = await RecordBatch({ records: sent.map(Record) });
    const { records } = await decodeRecordBatch(new Decoder(batch.buffer));
    expect(
      records.map(({ key, value, headers }) => ({
        key: key.toString(),
        value: value.toString(),
        headers: Object.fromEntries(Object.entries(headers).map(([name, bytes]) => [name, bytes.toString()])),
      })),
    ).toEqual(
      sent.map(({ key, value, headers }) => ({ key: key.toString(), value: value.toString(), headers })),
    );
  });
});

interface QueuedRequest {
  entry: { correlationId: number; apiName: string; apiKey: number; apiVersion: number; resolve: () => void };
  expectResponse: boolean;
  sendRequest: () => void;
}
const RequestQueue = require("kafkajs/src/network/requestQueue") as new (options: {
  maxInFlightRequests: number | null;
  requestTimeout: number;
  enforceRequestTimeout: boolean;
  clientId: string;
  broker: string;
  logger: Record<"debug" | "info" | "warn" | "error", () => void>;
}) => {
  push(request: QueuedRequest): void;
  fulfillRequest(response: { correlationId: number; payload: Buffer; size: number }): void;
  maybeThrottle(milliseconds: number): void;
};

describe("the installed kafkajs's request queue (one a broker connection)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A queue, and the correlation ids of the requests it has sent, in order. */
  function queueOf(maxInFlightRequests: number | null) {
    const silent = () => {};
    const queue = new RequestQueue({
      maxInFlightRequests,
      requestTimeout: 30_000,
      enforceRequestTimeout: false,
      clientId: "patch-test",
      broker: "localhost:9092",
      logger: { debug: silent, info: silent, warn: silent, error: silent },
    });
    const sent: number[] = [];
    const push = (correlationId: number) =>
      queue.push({
        entry: { correlationId, apiName: "Metadata", apiKey: 3, apiVersion: 6, resolve: silent },
        expectResponse: true,
        sendRequest: () => sent.push(correlationId),
      });
    const answer = (correlationId: number) =>
      queue.fulfillRequest({ correlationId, payload: Buffer.alloc(0), size: 0 });
    return { queue, sent, push, answer };
  }

  it("arms no timer once its requests are answered: an idle connection does not wake the event loop", () => {
    vi.useFakeTimers();
    const { sent, push, answer } = queueOf(null);
    push(1);
    answer(1);
    expect(sent).toEqual([1]);
    // Unpatched, the answer armed a timer for now that re-armed itself each time it fired, forever.
    expect(vi.getTimerCount()).toBe(0);
  });

  it("sends a request made while the broker throttles the client once the throttle has passed", () => {
    vi.useFakeTimers();
    const { queue, sent, push, answer } = queueOf(null);
    queue.maybeThrottle(50);
    push(1);
    vi.advanceTimersByTime(49);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([1]);
    answer(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("sends a request held back by the in-flight limit when an answer frees a place", () => {
    vi.useFakeTimers();
    const { sent, push, answer } = queueOf(1);
    push(1);
    push(2);
    expect(sent).toEqual([1]);
    answer(1);
    expect(sent).toEqual([1, 2]);
    answer(2);
    // The check armed while 2 waited fires once, finds nothing waiting, and arms no other.
    vi.advanceTimersByTime(10);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("scripts/patch-dependencies.mjs", () => {
  const ENCODER = [
    "  constructor(initialSize = 511) {",
    "    this.buf = Buffer.alloc(Encoder.nextPowerOfTwo(initialSize))",
    "  }",
    "      const newBuffer = Buffer.alloc(newLength)",
    "",
  ].join("\n");
  const QUEUE = [
    "    if (!this.throttleCheckTimeoutId) {",
    "      if (this.pending.length > 0) {",
    "        scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL",
    "      }",
    "      this.throttleCheckTimeoutId = setTimeout(() => {",
    "",
  ].join("\n");
  let project = "";
  afterEach(async () => {
    await rm(project, { recursive: true, force: true });
  });

  /** A project holding the two files the patches change, as given; returns the encoder's path, then the queue's. */
  async function projectWith(version: string, encoder: string, queue = QUEUE): Promise<[string, string]> {
    project = await mkdtemp(join(tmpdir(), "patch-dependencies-"));
    const kafkajs = join(project, "node_modules", "kafkajs");
    const files: [string, string] = [
      join(kafkajs, "src", "protocol", "encoder.js"),
      join(kafkajs, "src", "network", "requestQueue", "index.js"),
    ];
    await mkdir(join(kafkajs, "src", "protocol"), { recursive: true });
    await mkdir(join(kafkajs, "src", "network", "requestQueue"), { recursive: true });
    await writeFile(join(kafkajs, "package.json"), JSON.stringify({ name: "kafkajs", version }));
    await writeFile(files[0], encoder);
    await writeFile(files[1], queue);
    return files;
  }

  it("replaces both allocations and the queue's timer once; a second run changes nothing", async () => {
    const [encoder, queue] = await projectWith("2.2.4", ENCODER);
    expect((await run(process.execPath, [script, project])).stdout).toBe(
      "patched kafkajs 2.2.4: src/protocol/encoder.js\npatched kafkajs 2.2.4: src/network/requestQueue/index.js\n",
    );
    const patched = [await readFile(encoder, "utf8"), await readFile(queue, "utf8")];
    expect(patched).toEqual([
      ENCODER.replaceAll("Buffer.alloc(", "Buffer.allocUnsafe("),
      [
        "    if (!this.throttleCheckTimeoutId) {",
        "      if (this.pending.length === 0) return",
        "      scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL",
        "      this.throttleCheckTimeoutId = setTimeout(() => {",
        "",
      ].join("\n"),
    ]);
    expect((await run(process.execPath, [script, project])).stdout).toBe("");
    expect([await readFile(encoder, "utf8"), await readFile(queue, "utf8")]).toEqual(patched);
  });

  it("refuses another version of kafkajs, changing nothing", async () => {
    const [file] = await projectWith("2.2.5", ENCODER);
    await expect(run(process.execPath, [script, project])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining(
        "kafkajs 2.2.5 is installed, the patch of src/protocol/encoder.js is for 2.2.4",
      ),
    });
    expect(await readFile(file, "utf8")).toBe(ENCODER);
  });

  it("refuses a file that holds neither text, or one of them twice, changing nothing", async () => {
    for (const encoder of [
      ENCODER.replace("Buffer.alloc(newLength)", "Buffer.allocUnsafeSlow(newLength)"),
      `${ENCODER}${ENCODER}`,
    ]) {
      const [file] = await projectWith("2.2.4", encoder);
      await expect(run(process.execPath, [script, project])).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringContaining("holds neither the original nor the patched text of kafkajs 2.2.4"),
      });
      expect(await readFile(file, "utf8")).toBe(encoder);
      await rm(project, { recursive: true, force: true });
    }
  });

  it("refuses a request queue it was not written for, after patching what it was", async () => {
    const queue = QUEUE.replace("CHECK_PENDING_REQUESTS_INTERVAL", "CHECK_INTERVAL");
    const [, file] = await projectWith("2.2.4", ENCODER, queue);
    await expect(run(process.execPath, [script, project])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining("src/network/requestQueue/index.js holds neither the original nor"),
    });
    expect(await readFile(file, "utf8")).toBe(queue);
  });
});
