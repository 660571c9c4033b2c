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
