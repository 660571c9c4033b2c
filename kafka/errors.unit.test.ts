// The two kafkajs habits kafka/errors.ts works around: a refused consumer group reported as a coordinator not
// found, and a failure thrown while another request of the same client is still in flight.
import kafkajs from "kafkajs";
import { describe, expect, it } from "vitest";
import { everyAnswer, groupCoordinatorNamed, transactionCoordinatorNamed } from "./errors.ts";

describe("groupCoordinatorNamed", () => {
  it("names the group and the grant it takes for kafkajs' coordinator not found, however deeply wrapped", () => {
    // kafkajs makes it with a message, although its types declare a constructor without one.
    const NotFound = kafkajs.KafkaJSGroupCoordinatorNotFound as unknown as new (message: string) => Error;
    const notFound = new NotFound("Failed to find group coordinator");
    const wrapped = new Error("retries exhausted", { cause: notFound });
    for (const error of [notFound, wrapped]) {
      const named = groupCoordinatorNamed(error, "dlq-redrive") as Error;
      expect(named.message).toMatch(/^Kafka named no coordinator for consumer group dlq-redrive: /);
      expect(named.message).toContain("not authorized to use the group (it needs READ on group dlq-redrive)");
      expect(named.cause).toBe(error);
    }
  });

  it("names the transactional id and the grant it takes, for a transactional producer", () => {
    const NotFound = kafkajs.KafkaJSGroupCoordinatorNotFound as unknown as new (message: string) => Error;
    const notFound = new NotFound("Failed to find group coordinator");
    const named = transactionCoordinatorNamed(notFound, "outbox-relay-polling") as Error;
    expect(named.message).toMatch(/^Kafka named no coordinator for transactional id outbox-relay-polling: /);
    expect(named.message).toContain("it needs WRITE on the transactional id outbox-relay-polling");
    expect(named.cause).toBe(notFound);
  });

  it("returns any other error as it is", () => {
    const refused = new kafkajs.KafkaJSProtocolError(
      "Not authorized to access topics: [Topic authorization failed]",
    );
    expect(groupCoordinatorNamed(refused, "dlq-redrive")).toBe(refused);
    expect(groupCoordinatorNamed("not an error", "dlq-redrive")).toBe("not an error");
    expect(transactionCoordinatorNamed(refused, "outbox-relay-polling")).toBe(refused);
  });
});

describe("everyAnswer", () => {
  it("gives every answer in order", async () => {
    expect(await everyAnswer([Promise.resolve(1), Promise.resolve("two")])).toEqual([1, "two"]);
  });

  it("throws the first failure only once every request has answered", async () => {
    let lateAnswered = false;
    const late = new Promise<string>((resolve) =>
      setTimeout(() => {
        lateAnswered = true;
        resolve("late");
      }, 50),
    );
    const failure = new Error("refused");
    await expect(everyAnswer([Promise.reject(failure), late])).rejects.toBe(failure);
    expect(lateAnswered).toBe(true);
  });
});
