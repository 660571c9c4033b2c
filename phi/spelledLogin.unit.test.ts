import { describe, expect, it } from "vitest";
import { phonesIn, spelledLogin } from "./spelledLogin.ts";

describe("the login a username spells", () => {
  it("is the address without the characters that show nothing", () => {
    for (const invisible of [
      "\u200b",
      "\u00ad",
      "\u2060",
      "\ufe0f",
      "\u202e",
      "\u200d",
      "\u2800",
      "\u180e",
    ]) {
      expect(spelledLogin(`ada.lo${invisible}velace@example.org${invisible}`), escape(invisible)).toBe(
        "ada.lovelace@example.org",
      );
    }
  });

  it("is the address a mail form holds", () => {
    for (const typed of [
      "mailto:ada@example.org",
      "MAILTO:ada@example.org",
      "Ada Lovelace <ada@example.org>",
      '"ada@example.org"',
      "ada@example.org.",
      "ada@example.org%2E",
      "ｍａｉｌｔｏ：ａｄａ＠ｅｘａｍｐｌｅ．ｏｒｇ",
    ]) {
      expect(spelledLogin(typed).toLowerCase(), typed).toBe("ada@example.org");
    }
    expect(spelledLogin("o'neil+tag@mail.example.co.uk")).toBe("o'neil+tag@mail.example.co.uk");
  });

  it("is a number without its tel: scheme or invisible characters", () => {
    expect(spelledLogin("tel:+14155550123")).toBe("+14155550123");
    expect(spelledLogin("TEL:+1-415-555-0123")).toBe("+1-415-555-0123");
    expect(spelledLogin("+1\u200b4155550123")).toBe("+14155550123");
  });

  it("leaves a username that is no address or number as its escapes spell it", () => {
    expect(spelledLogin("jdoe")).toBe("jdoe");
    expect(spelledLogin("ada%40localhost")).toBe("ada@localhost");
    expect(spelledLogin("  ada  ")).toBe("  ada  ");
  });
});

describe("the phone numbers a text quotes", () => {
  const endings = (text: string) => phonesIn(text).map((phone) => phone.endings[0]);

  it("reads each number in any spelling, escaped, in another script's digits, or in a list", () => {
    expect(endings("no account for +49 30 1234 5678 (typed 030 1234 5678)")).toEqual([
      "493012345678",
      "03012345678",
    ]);
    expect(endings("%2B49%2030%2012345678")).toEqual(["493012345678"]);
    expect(endings("locked: \uff0b\uff14\uff19 \uff13\uff10 12345678")).toEqual(["493012345678"]);
    expect(endings("+49,30,1234567")).toContain("49301234567");
    expect(endings("030 1234 5678, 040 9876 5432")).toEqual(["03012345678", "04098765432"]);
    expect(endings("tel:+14155550123")).toEqual(["14155550123"]);
  });

  it("finds none in a number glued to letters, a short one, an IP address or a pseudonym", () => {
    for (const text of ["user030123456", "code 123456", "from 10.0.0.1", "erased-login:3f2a1234567890abcdef"])
      expect(phonesIn(text), text).toEqual([]);
  });
});
