// The rule for a username that is a phone number, and when a typed number could be a patient's (E.164) number:
// the forms a typed number takes meet a patient's forms exactly when the rule says it could be theirs.
import { describe, expect, it } from "vitest";
import { phoneForms, phoneSpellings, typedPhone, typedPhoneForms, withoutPhone } from "./loginPhone.ts";

/** Whether the typed username could be the stored number, by the forms login attempts compare as hashes. */
const couldBe = (typed: string, stored: string) => {
  const phone = typedPhone(typed);
  if (phone === null) return false;
  const forms = new Set(phoneForms(stored));
  return typedPhoneForms(phone).some((form) => forms.has(form));
};

describe("a username spelled as a phone number", () => {
  it("is read with + or 00 as a whole number, whatever its separators", () => {
    for (const typed of ["+14155550123", " +1 (415) 555-0123 ", "+1.415.555.0123", "001 415 555 0123"]) {
      expect(typedPhone(typed), typed).toEqual({ endings: ["14155550123"], international: true });
    }
    expect(typedPhone("+44 (0) 20 7946 0958")).toEqual({ endings: ["442079460958"], international: true });
    expect(typedPhone("00 44 20 7946 0958")).toEqual({ endings: ["442079460958"], international: true });
  });

  it("is read without them as a national number, with and without its trunk prefix", () => {
    expect(typedPhone("(415) 555-0123")).toEqual({ endings: ["4155550123"], international: false });
    expect(typedPhone("415.555.0123")).toEqual({ endings: ["4155550123"], international: false });
    expect(typedPhone("020 7946 0958")).toEqual({
      endings: ["02079460958", "2079460958"],
      international: false,
    });
    expect(typedPhone("8 (912) 345-67-89")).toEqual({
      endings: ["89123456789", "9123456789"],
      international: false,
    });
    expect(typedPhone("06 1 234 5678")).toEqual({
      endings: ["0612345678", "612345678", "12345678"],
      international: false,
    });
  });

  it("is no phone number with other characters, a + not in front, or fewer than 7 or more than 15 digits", () => {
    for (const typed of [
      "ada@example.org",
      "ada-l",
      "tel:+14155550123",
      "+1 415 555 0123 ext 5",
      "1+4155550123",
      "++14155550123",
      "555-012",
      "+1234567890123456",
      "00 123456",
      "---",
      "",
    ]) {
      expect(typedPhone(typed), typed).toBeNull();
    }
  });
});

describe("a typed number", () => {
  it("could be a patient's number in any of its spellings", () => {
    const stored = "+14155550123";
    for (const typed of [
      "+14155550123",
      "(415) 555-0123",
      "415.555.0123",
      "1 415 555 0123",
      "001 415 555 0123",
    ]) {
      expect(couldBe(typed, stored), typed).toBe(true);
    }
    for (const typed of ["+44 20 7946 0958", "+44 (0)20 7946 0958", "020 7946 0958", "0044 20 7946 0958"]) {
      expect(couldBe(typed, "+442079460958"), typed).toBe(true);
    }
    expect(couldBe("8 912 345-67-89", "+79123456789")).toBe(true);
    expect(couldBe("06 1 234 5678", "+3612345678")).toBe(true);
  });

  it("is not another number: other digits, a whole number with another country code, a longer one", () => {
    expect(couldBe("+14155550124", "+14155550123")).toBe(false);
    expect(couldBe("+4155550123", "+14155550123")).toBe(false);
    expect(couldBe("+14155550123", "+4155550123")).toBe(false);
    // Four digits before the national number are more than any country code.
    expect(couldBe("5550123", "+14155550123")).toBe(false);
    expect(couldBe("555 0123", "+4155550123")).toBe(true);
  });
});

describe("the spellings of a typed number in a text", () => {
  it("are found with or without its country code, +, 00, trunk prefix and separators", () => {
    const text = [
      "unknown user +1 (415) 555-0123",
      "(415) 555-0123",
      "14155550123",
      "001-415-555-0123",
      "415.555.0123.",
    ].join("; ");
    for (const typed of ["+14155550123", "(415) 555-0123"]) {
      const phone = typedPhone(typed);
      if (phone === null) throw new Error(`${typed} is a phone number`);
      const replaced = text.replace(phoneSpellings(phone), "P");
      expect(replaced, typed).toBe("unknown user P; P; P; P; P.");
    }
  });

  it("leave other numbers alone", () => {
    const phone = typedPhone("+14155550123");
    if (phone === null) throw new Error("a phone number");
    expect("error 4155550124 at 12:30".replace(phoneSpellings(phone), "P")).toBe("error 4155550124 at 12:30");
  });

  it("are found in any script's digits, and replaced whole, never half a character", () => {
    const phone = typedPhone("+14155550123");
    if (phone === null) throw new Error("a phone number");
    const text = "a ＋１ （４１５） ５５５－０１２３, b ٤١٥٥٥٥٠١٢٣, c 𝟒𝟏𝟓𝟓𝟓𝟓𝟎𝟏𝟐𝟑😀";
    expect(withoutPhone(text, phone, "P")).toBe("a P, b P, c P😀");
  });
});
