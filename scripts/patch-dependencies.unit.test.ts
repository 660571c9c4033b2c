// The install's patch of kafkajs (scripts/patch-dependencies.mjs): applied to the installed copy, records it
// encodes decode to what was sent, and the script refuses what it was not written for.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";

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

describe("scripts/patch-dependencies.mjs", () => {
  const ORIGINAL = [
    "  constructor(initialSize = 511) {",
    "    this.buf = Buffer.alloc(Encoder.nextPowerOfTwo(initialSize))",
    "  }",
    "      const newBuffer = Buffer.alloc(newLength)",
    "",
  ].join("\n");
  let project = "";
  afterEach(async () => {
    await rm(project, { recursive: true, force: true });
  });

  async function projectWith(version: string, encoder: string): Promise<string> {
    project = await mkdtemp(join(tmpdir(), "patch-dependencies-"));
    const kafkajs = join(project, "node_modules", "kafkajs");
    await mkdir(join(kafkajs, "src", "protocol"), { recursive: true });
    await writeFile(join(kafkajs, "package.json"), JSON.stringify({ name: "kafkajs", version }));
    await writeFile(join(kafkajs, "src", "protocol", "encoder.js"), encoder);
    return join(kafkajs, "src", "protocol", "encoder.js");
  }

  it("replaces both allocations once; a second run changes nothing", async () => {
    const file = await projectWith("2.2.4", ORIGINAL);
    expect((await run(process.execPath, [script, project])).stdout).toBe(
      "patched kafkajs 2.2.4: src/protocol/encoder.js\n",
    );
    const patched = await readFile(file, "utf8");
    expect(patched).toBe(ORIGINAL.replaceAll("Buffer.alloc(", "Buffer.allocUnsafe("));
    expect((await run(process.execPath, [script, project])).stdout).toBe("");
    expect(await readFile(file, "utf8")).toBe(patched);
  });

  it("refuses another version of kafkajs, changing nothing", async () => {
    const file = await projectWith("2.2.5", ORIGINAL);
    await expect(run(process.execPath, [script, project])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining(
        "kafkajs 2.2.5 is installed, the patch of src/protocol/encoder.js is for 2.2.4",
      ),
    });
    expect(await readFile(file, "utf8")).toBe(ORIGINAL);
  });

  it("refuses a file that holds neither text, or one of them twice, changing nothing", async () => {
    for (const encoder of [
      ORIGINAL.replace("Buffer.alloc(newLength)", "Buffer.allocUnsafeSlow(newLength)"),
      `${ORIGINAL}${ORIGINAL}`,
    ]) {
      const file = await projectWith("2.2.4", encoder);
      await expect(run(process.execPath, [script, project])).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringContaining("holds neither the original nor the patched text of kafkajs 2.2.4"),
      });
      expect(await readFile(file, "utf8")).toBe(encoder);
      await rm(project, { recursive: true, force: true });
    }
  });
});
