// The verification accepts a row filed under no patient only when it was created before migration 0007 was
// written: that time must be the migration's own, as its journal records it.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { ATTRIBUTION_BEGAN_AT } from "./verifyHistory.ts";

describe("ATTRIBUTION_BEGAN_AT", () => {
  it("is the time migration 0007 (outbox.patient_id) was written", async () => {
    const journal = JSON.parse(
      await readFile(new URL("../db/migrations/meta/_journal.json", import.meta.url), "utf8"),
    ) as { entries: Array<{ tag: string; when: number }> };
    const migration = journal.entries.find((entry) => entry.tag === "0007_outbox_patient_id");
    expect(migration?.when).toBe(ATTRIBUTION_BEGAN_AT);
  });
});
