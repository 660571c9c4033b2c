// The rule that keeps a replay from breaking per-key order beside the live relay: to the events' own topic only
// what the relay has published; to another topic anything committed, but never into another live topic;
// never into a topic the broker lacks, nor into history moved to an archive.
import { describe, expect, it } from "vitest";
import type { TopicSelection } from "../../db/outbox/replaySelectionCounts.ts";
import { decideReplay, type ReplayCircumstances } from "./replayRule.ts";

const liveTopics = new Set(["patient-events", "appointment-events", "patient-events.dlq"]);
const NOW = new Date("2026-12-02T12:00:00Z");
const DAY_MS = 86_400_000;
const aDayAgo = new Date(NOW.getTime() - DAY_MS);
const published: TopicSelection[] = [
  { topic: "patient-events", events: 40, unpublished: 0, oldest: aDayAgo },
];
const partlyUnpublished: TopicSelection[] = [
  { topic: "patient-events", events: 40, unpublished: 3, oldest: aDayAgo },
];

function circumstances(overrides: Partial<ReplayCircumstances>): ReplayCircumstances {
  return {
    filter: { eventType: "patient.updated" },
    toTopic: null,
    selection: published,
    checkpoint: { txId: "900", position: "5000" },
    brokerTopics: new Set([...liveTopics, "patient-events-replay"]),
    liveTopics,
    archived: null,
    newestPosition: "6000",
    eventsPastHorizon: 0,
    now: NOW,
    ...overrides,
  };
}

describe("the replay rule", () => {
  it("lets published events go to their own topic, read up to the relay's checkpoint", () => {
    expect(decideReplay(circumstances({}))).toEqual({
      outcome: "allowed",
      ownTopic: true,
      through: "checkpoint",
    });
    // Naming the events' own topic is the same replay.
    expect(decideReplay(circumstances({ toTopic: "patient-events" }))).toEqual({
      outcome: "allowed",
      ownTopic: true,
      through: "checkpoint",
    });
  });

  it("refuses to send events the relay has not published yet to their own topic, saying how many and why", () => {
    const decision = decideReplay(circumstances({ selection: partlyUnpublished }));
    expect(decision.outcome).toBe("refused");
    expect(decision.outcome === "refused" && decision.reason).toMatch(
      /3 of the selected patient-events events are not published by the relay yet \(its checkpoint: tx 900, position 5000\)/,
    );
  });

  it("in Debezium mode, refuses them saying that only the history published before the switch goes to its own topic, and what to do", () => {
    const decision = decideReplay(circumstances({ selection: partlyUnpublished, relayMode: "debezium" }));
    expect(decision.outcome).toBe("refused");
    const reason = decision.outcome === "refused" ? decision.reason : "";
    expect(reason).toMatch(
      /^3 of the selected patient-events events are past the polling relay's checkpoint, where the switch to Debezium left it \(tx 900, position 5000\)/,
    );
    expect(reason).toContain("npm run relay:switch -- polling");
    expect(reason).toContain("--to-topic");
    expect(reason).not.toContain("wait for the relay");
    // What the polling relay published before the switch still goes.
    expect(decideReplay(circumstances({ relayMode: "debezium" }))).toMatchObject({ outcome: "allowed" });
  });

  it("lets any committed event go to a topic of its own, read up to the snapshot horizon", () => {
    expect(
      decideReplay(circumstances({ selection: partlyUnpublished, toTopic: "patient-events-replay" })),
    ).toEqual({ outcome: "allowed", ownTopic: false, through: "horizon" });
  });

  it("refuses a target topic the broker does not have", () => {
    const decision = decideReplay(circumstances({ toTopic: "patient-events-replay-2" }));
    expect(decision.outcome === "refused" && decision.reason).toMatch(
      /--to-topic patient-events-replay-2: the broker has no such topic/,
    );
  });

  it("refuses to send one stream's events into another live topic", () => {
    const decision = decideReplay(circumstances({ toTopic: "appointment-events" }));
    expect(decision.outcome === "refused" && decision.reason).toMatch(/is a live topic of the catalog/);
  });

  it("refuses a target that holds no events, Kafka's own, Kafka Connect's or dead letters, though the broker has it", () => {
    const internal = [
      "__consumer_offsets",
      "__transaction_state",
      "__debezium-heartbeat.outbox_test",
      "connect-configs",
      "connect-offsets",
      "connect-status",
      "connect-offsets-38083",
    ];
    for (const toTopic of internal) {
      const decision = decideReplay(
        circumstances({ toTopic, brokerTopics: new Set([...liveTopics, ...internal]) }),
      );
      expect(decision.outcome === "refused" && decision.reason, toTopic).toMatch(
        new RegExp(`^--to-topic ${toTopic}: a topic of Kafka('s| Connect's) own.*holds no events`),
      );
    }
    // A dead-letter topic of the catalog (it was called a live topic of it).
    const deadLetters = "patient-events.dlq";
    const decision = decideReplay(
      circumstances({ toTopic: deadLetters, brokerTopics: new Set([...liveTopics, deadLetters]) }),
    );
    expect(decision.outcome === "refused" && decision.reason).toBe(
      "--to-topic patient-events.dlq: the dead-letter topic of patient-events, which holds the records its consumers could not apply (npm run dlq lists them, and re-drives them): an event replayed there would be taken for one of them",
    );
    // A topic merely named like them is one an operator made, for events.
    const ownNamed = "connect-offsets-rebuild";
    expect(
      decideReplay(circumstances({ toTopic: ownNamed, brokerTopics: new Set([...liveTopics, ownNamed]) })),
    ).toMatchObject({ outcome: "allowed" });
  });

  it("refuses a selection that starts in archived history, naming the archive and where to start", () => {
    const archived = {
      through: { txId: "500", position: "2000" },
      createdBefore: new Date("2026-01-01T00:00:00Z"),
      fileName: "outbox-archive-1.jsonl.zst",
    };
    for (const filter of [{ fromPosition: "1500" }, { since: new Date("2025-12-01T00:00:00Z") }]) {
      const decision = decideReplay(circumstances({ filter, archived }));
      expect(decision.outcome === "refused" && decision.reason).toMatch(
        /archived history: the events up to position 2000 .* were moved to outbox-archive-1\.jsonl\.zst/,
      );
    }
    // A selection without a lower bound replays what the outbox still holds (the command says what is archived).
    expect(decideReplay(circumstances({ archived })).outcome).toBe("allowed");
    expect(decideReplay(circumstances({ filter: { fromPosition: "2001" }, archived })).outcome).toBe(
      "allowed",
    );
  });

  it("refuses a --from-position after the newest event of the history: it selects nothing yet", () => {
    for (const toTopic of [null, "patient-events-replay"]) {
      const decision = decideReplay(circumstances({ filter: { fromPosition: "6001" }, toTopic }));
      expect(decision.outcome === "refused" && decision.reason).toContain(
        "--from-position 6001 is after the newest event of the history (position 6000): it selects nothing yet",
      );
    }
    const empty = decideReplay(circumstances({ filter: { fromPosition: "1" }, newestPosition: null }));
    expect(empty.outcome === "refused" && empty.reason).toContain("(the outbox holds none)");
    // Its newest event, and a position the latest archive's cut reaches when the outbox holds nothing after it.
    expect(decideReplay(circumstances({ filter: { fromPosition: "6000" } })).outcome).toBe("allowed");
    const archived = {
      through: { txId: "500", position: "2000" },
      createdBefore: new Date("2026-01-01T00:00:00Z"),
      fileName: "outbox-archive-1.jsonl.zst",
    };
    const afterArchive = decideReplay(
      circumstances({ filter: { fromPosition: "2001" }, archived, newestPosition: null }),
    );
    expect(afterArchive.outcome === "refused" && afterArchive.reason).toContain("(position 2000)");
  });

  it("refuses a selection of no event, to any topic, saying what is archived", () => {
    for (const toTopic of [null, "patient-events-replay"]) {
      const decision = decideReplay(circumstances({ selection: [], toTopic }));
      expect(decision.outcome === "refused" && decision.reason).toMatch(
        /^no event in the outbox matches these filters: check the filters/,
      );
    }
    const archived = {
      through: { txId: "500", position: "2000" },
      createdBefore: new Date("2026-01-01T00:00:00Z"),
      fileName: "outbox-archive-1.jsonl.zst",
    };
    const decision = decideReplay(circumstances({ selection: [], archived }));
    expect(decision.outcome === "refused" && decision.reason).toContain(
      "(the history up to position 2000 is archived in outbox-archive-1.jsonl.zst, which a replay does not read)",
    );
  });

  it("refuses events to their own topic older than its consumers remember them, and not to another topic", () => {
    // patient-events: 7 days on the topic, 30 in its dead-letter topic, and a day: 38 days in every inbox.
    const rememberedFrom = new Date(NOW.getTime() - 38 * DAY_MS);
    const old: TopicSelection[] = [
      { topic: "patient-events", events: 40, unpublished: 0, oldest: new Date(rememberedFrom.getTime() - 1) },
    ];
    const decision = decideReplay(circumstances({ selection: old }));
    expect(decision.outcome).toBe("refused");
    expect(decision.outcome === "refused" && decision.reason).toContain(
      `patient-events events created before ${rememberedFrom.toISOString()}`,
    );
    expect(decision.outcome === "refused" && decision.reason).toContain(
      `--since ${rememberedFrom.toISOString()}`,
    );
    const justRemembered = [{ ...(old[0] as TopicSelection), oldest: rememberedFrom }];
    expect(decideReplay(circumstances({ selection: justRemembered })).outcome).toBe("allowed");
    expect(decideReplay(circumstances({ selection: old, toTopic: "patient-events-replay" })).outcome).toBe(
      "allowed",
    );
    // The compacted audit trail keeps every inbox entry for good: any age may go back to it.
    const oldAudit: TopicSelection[] = [
      { topic: "audit-events", events: 5, unpublished: 0, oldest: new Date(0) },
    ];
    expect(
      decideReplay(
        circumstances({ selection: oldAudit, brokerTopics: new Set([...liveTopics, "audit-events"]) }),
      ).outcome,
    ).toBe("allowed");
  });

  it("refuses a selection of nothing that its filters match past the snapshot horizon, saying so", () => {
    const decision = decideReplay(
      circumstances({ selection: [], eventsPastHorizon: 3, toTopic: "patient-events-replay" }),
    );
    expect(decision).toEqual({
      outcome: "refused",
      reason: expect.stringMatching(
        /^the 3 events these filters match were committed after a transaction still running/,
      ),
    });
    expect(decideReplay(circumstances({ selection: [], eventsPastHorizon: 0 }))).toEqual({
      outcome: "refused",
      reason: expect.stringMatching(/^no event in the outbox matches these filters/),
    });
  });
});
