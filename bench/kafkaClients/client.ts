// What the Kafka client benchmark asks of a client library: the relay's publish path and a group consumer's
// read path, each behind the same small interface so that both libraries run the very same loop.
import type { Compression } from "../../kafka/client.ts";
import type { CatalogRecord } from "../catalogRecords.ts";

export interface BenchPublisher {
  /** One relay batch: every record acknowledged by all in-sync replicas before it resolves. */
  publish(batch: readonly CatalogRecord[]): Promise<void>;
  close(): Promise<void>;
}

export interface BenchClient {
  /** An idempotent producer (acks=all, one request in flight) compressing with `compression`. */
  publisher(brokers: string[], compression: Compression): Promise<BenchPublisher>;
  /**
   * Joins a new consumer group on `topic`, reads from its beginning and calls `onRecord` with each record's
   * parsed envelope until `count` records have arrived; then leaves the group.
   */
  consume(
    brokers: string[],
    topic: string,
    count: number,
    onRecord: (envelope: unknown) => void,
  ): Promise<void>;
}
