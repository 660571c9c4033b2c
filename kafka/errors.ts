// Which publish failures a retry can cure (a broker down, a leader moving) and which it cannot (a record too
// large, a topic the relay may not write): the latter stall the relay until a person changes something.

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
