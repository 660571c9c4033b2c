import v8 from "node:v8";
import { afterEach, describe, expect, it, vi } from "vitest";
import { limitHeapGrowth } from "./heapGrowth.ts";

afterEach(() => vi.restoreAllMocks());

describe("limitHeapGrowth", () => {
  it("sets V8's heap growing factor from HEAP_GROWTH_PERCENT", () => {
    const set = vi.spyOn(v8, "setFlagsFromString").mockImplementation(() => {});
    limitHeapGrowth(50, ["--enable-source-maps"]);
    expect(set.mock.calls).toEqual([["--heap-growing-percent=50"]]);
  });

  it("leaves V8's own factor for 0, and the one given to node itself", () => {
    const set = vi.spyOn(v8, "setFlagsFromString").mockImplementation(() => {});
    limitHeapGrowth(0, []);
    limitHeapGrowth(50, ["--heap-growing-percent=20"]);
    limitHeapGrowth(50, ["--heap-growing-percent", "20"]);
    limitHeapGrowth(50, ["--heap_growing_percent=20"]);
    expect(set).not.toHaveBeenCalled();
  });
});
