// What of a tracestate is let in: only the members whose keys are allowed, and nothing of one that is not
// well-formed by W3C Trace Context's grammar and limits.
import { describe, expect, it } from "vitest";
import { admittedTracestate, tracestateMembers } from "./tracestate.ts";

const keys = new Set(["congo", "t61@dt"]);

describe("admittedTracestate", () => {
  it("keeps the allowed members, in their order, and drops the rest", () => {
    expect(admittedTracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,t61@dt=a b", keys)).toBe(
      "congo=t61rcWkgMzE,t61@dt=a b",
    );
    expect(admittedTracestate("congo=1", keys)).toBe("congo=1");
  });

  it("keeps nothing when no key is allowed (TRACESTATE_KEYS unset), or no member is", () => {
    expect(admittedTracestate("congo=t61rcWkgMzE", new Set())).toBeUndefined();
    expect(admittedTracestate("rojo=00f067aa0ba902b7,patient=ada.lovelace", keys)).toBeUndefined();
    expect(admittedTracestate(undefined, keys)).toBeUndefined();
    expect(admittedTracestate(null, keys)).toBeUndefined();
    expect(admittedTracestate("", keys)).toBeUndefined();
    expect(admittedTracestate(" , ", keys)).toBeUndefined();
  });

  it("keeps nothing of a malformed tracestate, allowed members included", () => {
    for (const tracestate of [
      "congo=t61rcWkgMzE,Ada Lovelace",
      "congo=t61rcWkgMzE,Patient=1",
      "congo=t61rcWkgMzE,rojo=",
      "congo=t61rcWkgMzE,rojo=a,b",
      "congo=t61rcWkgMzE,rojo=a=b",
      "congo=t61rcWkgMzE,congo=again",
      "congo=t61rcWkgMzE,rojo=caf\u00e9",
      "congo=t61rcWkgMzE,rojo=tab\there",
      `congo=t61rcWkgMzE,${"a".repeat(257)}=1`,
      `congo=t61rcWkgMzE,rojo=${"v".repeat(257)}`,
      `congo=t61rcWkgMzE,${Array.from({ length: 32 }, (_, i) => `k${i}=${i}`).join(",")}`,
      `congo=t61rcWkgMzE,rojo=${"v".repeat(256)},other=${"v".repeat(235)}`,
    ]) {
      expect(admittedTracestate(tracestate, keys), tracestate).toBeUndefined();
    }
  });
});

describe("tracestateMembers", () => {
  it("reads W3C Trace Context's list: white space around members, empty members, its longest parts", () => {
    expect(tracestateMembers(" congo=t61rcWkgMzE ,\t,rojo=00f067aa0ba902b7\t")).toEqual([
      { key: "congo", value: "t61rcWkgMzE" },
      { key: "rojo", value: "00f067aa0ba902b7" },
    ]);
    const longKey = `a${"b".repeat(255)}`;
    expect(tracestateMembers(`${longKey}=${"v".repeat(255)}`)).toEqual([
      { key: longKey, value: "v".repeat(255) },
    ]);
    const tenantKey = `${"7".repeat(241)}@${"s".repeat(14)}`;
    expect(tracestateMembers(`${tenantKey}=v`)).toEqual([{ key: tenantKey, value: "v" }]);
    const thirtyTwo = Array.from({ length: 32 }, (_, i) => `k${i}=${i}`).join(",");
    expect(tracestateMembers(thirtyTwo)).toHaveLength(32);
    const fiveHundredTwelve = `a=${"v".repeat(251)},b=${"v".repeat(256)}`;
    expect(fiveHundredTwelve).toHaveLength(512);
    expect(tracestateMembers(fiveHundredTwelve)).toHaveLength(2);
    expect(tracestateMembers(`${fiveHundredTwelve} `)).toBeUndefined();
  });
});
