// A login quoted in free text escaped (percent-encoded, HTML character references) is found in the text's decoded
// view and replaced where it was written, escapes and all; text escaped in any shape is read in linear time.
import { describe, expect, it } from "vitest";
import { withoutAddress } from "./erasedLoginPseudonym.ts";
import { decodedText, decodedView } from "./escapedText.ts";
import { typedPhone, withoutPhone } from "./loginPhone.ts";

const phone = typedPhone("+49 30 1234567");
if (phone === null) throw new Error("a phone number");

describe("the decoded view of a text", () => {
  it("decodes percent-encoded bytes, UTF-8 runs, numeric and named references, and escapes escaped again", () => {
    expect(decodedText("ada%40example.com")).toBe("ada@example.com");
    expect(decodedText("%61da%EF%BC%A0example.com")).toBe("ada＠example.com");
    expect(decodedText("ada&#64;x &#x40; &#X40 &#0064; &commat; &period;")).toBe("ada@x @ @ @ @ .");
    expect(decodedText("ada%2540x &amp;#64; &amp;commat;")).toBe("ada@x @ @");
  });

  it("keeps what decodes to no character as it is", () => {
    for (const text of [
      "100%",
      "%4",
      "%zz",
      "%C0%80",
      "%E0%A0",
      "%ED%A0%80",
      "&#0;",
      "&#xD800;",
      "&#x110000;",
      "&bogus;",
    ]) {
      expect(decodedText(text), text).toBe(text);
    }
  });

  it("maps each decoded unit to the whole span it was decoded from", () => {
    const view = decodedView("a%40&#x1F600;b");
    expect(view.text).toBe("a@😀b");
    expect([...view.starts]).toEqual([0, 1, 4, 4, 13]);
    expect([...view.ends]).toEqual([1, 4, 13, 13, 14]);
  });
});

describe("an address or number quoted in a text", () => {
  it("is replaced with the escapes it was written with, and nothing around it", () => {
    expect(withoutAddress("<ada%40example.com>", "ada@example.com", "P")).toBe("<P>");
    expect(withoutAddress("&#97;da&commat;EXAMPLE.com;", "ada@example.com", "P")).toBe("P;");
    expect(withoutAddress("😀ａda%EF%BC%A0example.com😀", "ada@example.com", "P")).toBe("😀P😀");
    expect(withoutPhone("tel:%2B49%2C30%2C1234567&amp;x", phone, "P")).toBe("tel:P&amp;x");
  });
});

describe("cleaning a 60,000-character reason", () => {
  const shapes = [
    "1 ".repeat(30_000),
    "1".repeat(60_000),
    `1${" ".repeat(59_999)}`,
    `${"1".padEnd(1000, " ")}`.repeat(60),
    "%".repeat(60_000),
    "%4".repeat(30_000),
    "%2525".repeat(12_000),
    "%E0%A0".repeat(10_000),
    "&#".repeat(30_000),
    "&#x4".repeat(15_000),
    "&amp;".repeat(12_000),
    "a@".repeat(30_000),
    "ada".repeat(20_000),
    "ａ".repeat(60_000),
    "𝟒".repeat(30_000),
    Array.from({ length: 60_000 }, (_, at) => String.fromCharCode(0x4e00 + (at % 20_000))).join(""),
  ];

  const cleanings = {
    address: (text: string) => withoutAddress(text, "adaadaadaadaada@example.com", "P"),
    number: (text: string) => withoutPhone(text, phone, "P"),
  };

  // Linear, the cleaning of 60,000 characters takes a few milliseconds (tens on a busy machine); a pattern that
  // backtracked over them would take seconds (60,000² steps): the bound sits between the two, far from both.
  it("takes well under half a second in any shape: no pattern backtracks on it", () => {
    // Compiled first: what is measured is the code, not the compiler warming up to it.
    for (const text of shapes) for (const clean of Object.values(cleanings)) clean(text);
    for (const text of shapes) {
      expect(text.length).toBe(60_000);
      for (const [of, clean] of Object.entries(cleanings)) {
        // The quickest of three runs: what the code costs, not what a busy machine adds to it.
        const took = Math.min(
          ...[1, 2, 3].map(() => {
            const start = performance.now();
            clean(text);
            return performance.now() - start;
          }),
        );
        expect(took, `${of} in ${JSON.stringify(text.slice(0, 8))}…`).toBeLessThan(500);
      }
    }
  });
});
