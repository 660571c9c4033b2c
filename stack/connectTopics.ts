// The topics a Kafka Connect worker group keeps its own state in (connectors' configs, source offsets, task
// status). The development group and docker-compose.yml use these names; a group on other ports adds
// `-<port>` to each (stack/connect.ts). They hold Connect's records, never events.

export const CONNECT_STATE_TOPICS = {
  config: "connect-configs",
  offset: "connect-offsets",
  status: "connect-status",
} as const;

const STATE_TOPIC = new RegExp(`^(${Object.values(CONNECT_STATE_TOPICS).join("|")})(-\\d+)?$`);

/** Whether `topic` is one of a Connect group's state topics, the development group's or a group of its own. */
export function isConnectStateTopic(topic: string): boolean {
  return STATE_TOPIC.test(topic);
}
