// Consumer lag per partition, from the broker's view: the partition's end offset minus the group's committed
// offset. Read from the broker rather than from the last batch, so a consumer stuck retrying still shows it.
import type { Admin } from "../../kafka/client.ts";
import type { PartitionLag } from "./metrics.ts";

export async function partitionLag(
  admin: Admin,
  consumer: string,
  groupId: string,
  assignment: ReadonlyMap<string, readonly number[]>,
): Promise<PartitionLag[]> {
  const perTopic = await Promise.all(
    [...assignment].map(async ([topic, partitions]) => {
      const [ends, [committed]] = await Promise.all([
        admin.fetchTopicOffsets(topic),
        admin.fetchOffsets({ groupId, topics: [topic] }),
      ]);
      return partitions.map((partition) => {
        const end = ends.find((entry) => entry.partition === partition);
        const offset = committed?.partitions.find((entry) => entry.partition === partition)?.offset;
        // No committed offset yet: everything still retained is ahead of the group.
        const from = offset === undefined || Number(offset) < 0 ? Number(end?.low ?? 0) : Number(offset);
        return { consumer, topic, partition, lag: Math.max(0, Number(end?.high ?? 0) - from) };
      });
    }),
  );
  return perTopic.flat();
}
