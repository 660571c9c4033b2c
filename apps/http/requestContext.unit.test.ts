// The client address an event records: an IPv4 client of a dual-stack listener as its IPv4 address, which the
// published event schemas take (`::ffff:127.0.0.1` matched none of their address patterns).
import { describe, expect, it } from "vitest";
import { eventJsonSchemas } from "../../events/docs/eventJsonSchemas.ts";
import { plainAddress } from "./requestContext.ts";

describe("plainAddress", () => {
  it("takes an IPv4-mapped IPv6 address for the IPv4 address it maps, in any case", () => {
    expect(plainAddress("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(plainAddress("::FFFF:10.1.2.3")).toBe("10.1.2.3");
  });

  it("leaves every other address as it is", () => {
    for (const address of [
      "127.0.0.1",
      "::1",
      "2001:db8::7",
      "::ffff:7f00:1",
      "::ffff:256.1.1.1",
      "fe80::1",
    ]) {
      expect(plainAddress(address)).toBe(address);
    }
  });

  it("makes what the published schemas take of an address they refused", () => {
    const { metadata } = (eventJsonSchemas()["ai.model.trained"] as { properties: Record<string, unknown> })
      .properties as { metadata: { properties: { ipAddress: unknown } } };
    const patterns: RegExp[] = [];
    JSON.stringify(metadata.properties.ipAddress, (key, value: unknown) => {
      if (key === "pattern" && typeof value === "string") patterns.push(new RegExp(value));
      return value;
    });
    const taken = (address: string) => patterns.some((pattern) => pattern.test(address));
    expect(patterns.length).toBeGreaterThanOrEqual(2);
    expect(taken("::ffff:127.0.0.1")).toBe(false);
    expect(taken(plainAddress("::ffff:127.0.0.1"))).toBe(true);
  });
});
