// A UUID in any case, lower case once parsed; the pattern the OpenAPI document publishes accepts the same.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { anyCaseUuid } from "./ids.ts";

const published = new RegExp(z.toJSONSchema(anyCaseUuid).pattern as string, "u");

const ACCEPTED = [
  "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
  "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
  "a0EEbc99-9C0b-1ef8-Ab6d-6bb9BD380a11",
  "00000000-0000-0000-0000-000000000000",
  "ffffffff-ffff-ffff-ffff-ffffffffffff",
  "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
  "fFfFfFfF-FfFf-fFfF-FFff-ffffFFFFffff",
  "01890a5d-ac96-8b7c-9f00-1234567890ab",
];

const REFUSED = [
  "",
  "a0eebc99-9c0b-0ef8-bb6d-6bb9bd380a11", // version 0
  "a0eebc99-9c0b-9ef8-bb6d-6bb9bd380a11", // version 9
  "a0eebc99-9c0b-4ef8-cb6d-6bb9bd380a11", // another variant
  "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
  "urn:uuid:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
  " a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
  "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\n",
  "a0eebc999c0b4ef8bb6d6bb9bd380a11",
  "ffffffff-ffff-ffff-ffff-fffffffffffe",
  "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFF",
  "0000000-0000-0000-0000-0000000000000",
];

describe("anyCaseUuid", () => {
  it.each(ACCEPTED)("accepts %s and gives it in lower case", (id) => {
    expect(anyCaseUuid.parse(id)).toBe(id.toLowerCase());
    expect(published.test(id)).toBe(true);
  });

  it.each(REFUSED)("refuses %j, as the published pattern does", (id) => {
    expect(anyCaseUuid.safeParse(id).success).toBe(false);
    expect(published.test(id)).toBe(false);
  });
});
