import { describe, expect, it } from "vitest";
import { spelledLogin } from "./spelledLogin.ts";

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
