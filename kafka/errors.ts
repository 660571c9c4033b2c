// Which publish failures a retry can cure (a broker down, a leader moving) and which it cannot (a record too
// large, a topic the relay may not write): the latter stall the relay until a person changes something. And two
// habits of kafkajs that turn a refusal into something else: a group it was refused reported as a coordinator
// not found, and a command that never exits after a failure.

/**
 * The Kafka error code when Kafka refused the send for good (MESSAGE_TOO_LARGE, INVALID_RECORD,
 * TOPIC_AUTHORIZATION_FAILED, ...), else null. kafkajs wraps the broker's answer (retries exhausted, a
 * non-retriable wrapper) and marks the broker's own error `retriable: false`; that inner error decides.
 */
export function nonRetriableKafkaError(error: unknown): string | null {
  const seen = new Set<unknown>();
  for (let current = error; current && typeof current === "object" && !seen.has(current); ) {
    seen.add(current);
    const { type, retriable, cause } = current as { type?: unknown; retriable?: unknown; cause?: unknown };
    if (typeof type === "string") return retriable === false ? type : null;
    current = cause;
  }
  return null;
}

/**
 * Whether Kafka answered that a topic does not exist (UNKNOWN_TOPIC_OR_PARTITION). kafkajs counts it retriable, as
 * a topic created a moment ago may not have reached every broker yet; a topic that was never created, or was
 * deleted, answers it for ever, so the caller asks the cluster whether the topic is there.
 */
export function unknownTopic(error: unknown): boolean {
  const seen = new Set<unknown>();
  for (let current = error; current && typeof current === "object" && !seen.has(current); ) {
    seen.add(current);
    const { type, cause } = current as { type?: unknown; cause?: unknown };
    if (type === "UNKNOWN_TOPIC_OR_PARTITION") return true;
    current = cause;
  }
  return false;
}

/**
 * Whether Kafka refused the relay's producer because a newer one took over its transactional id: another relay
 * leads now (this one lost its Postgres session, and so the lock, with a batch in flight), or the coordinator
 * expired a transaction left open too long. Either way this relay must stop leading, not retry: only the
 * relay that holds the lock may publish, and it re-contends for it from scratch.
 */
export function producerFenced(error: unknown): boolean {
  const seen = new Set<unknown>();
  for (let current = error; current && typeof current === "object" && !seen.has(current); ) {
    seen.add(current);
    const { type, cause } = current as { type?: unknown; cause?: unknown };
    // Old protocol versions (those kafkajs speaks) get INVALID_PRODUCER_EPOCH; newer ones PRODUCER_FENCED.
    if (type === "INVALID_PRODUCER_EPOCH" || type === "PRODUCER_FENCED") return true;
    current = cause;
  }
  return false;
}

/**
 * kafkajs asks each broker in turn for a consumer group's coordinator (or a transactional id's) and, when none
 * names one, throws KafkaJSGroupCoordinatorNotFound ("Failed to find group coordinator") without the brokers'
 * answers. On a cluster that checks ACLs the answer is most often GROUP_AUTHORIZATION_FAILED (or
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED): the principal may not use the group (or the id). These return an error
 * naming the group or the id, and both causes, in its place; any other error as it is.
 */
export function groupCoordinatorNamed(error: unknown, groupId: string): unknown {
  return coordinatorNamed(
    error,
    `consumer group ${groupId}: this principal is not authorized to use the group (it needs READ on group ${groupId})`,
  );
}

export function transactionCoordinatorNamed(error: unknown, transactionalId: string): unknown {
  return coordinatorNamed(
    error,
    `transactional id ${transactionalId}: this principal is not authorized to use it ` +
      `(it needs WRITE on the transactional id ${transactionalId}, or on a prefix of it)`,
  );
}

function coordinatorNamed(error: unknown, what: string): unknown {
  const seen = new Set<unknown>();
  for (let current = error; current instanceof Error && !seen.has(current); ) {
    seen.add(current);
    if (current.name === "KafkaJSGroupCoordinatorNotFound") {
      return new Error(
        `Kafka named no coordinator for ${what}, or the cluster has no coordinator available`,
        {
          cause: error,
        },
      );
    }
    current = (current as Error & { cause?: unknown }).cause;
  }
  return error;
}

/**
 * Every request's answer, in order, or the first failure once every request has answered. A failure thrown while
 * another request is still in flight lets the caller disconnect its admin client under that request, which kafkajs
 * then connects again, and that connection keeps the command from ever exiting.
 */
export async function everyAnswer<T extends readonly unknown[]>(
  requests: readonly [...{ [K in keyof T]: Promise<T[K]> }],
): Promise<T> {
  const outcomes = await Promise.allSettled(requests);
  for (const outcome of outcomes) if (outcome.status === "rejected") throw outcome.reason;
  return outcomes.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
