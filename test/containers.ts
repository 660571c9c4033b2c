// The second way tests get services (docs/architecture.md, "How tests get services"): when a Docker engine
// answers and no variables are set, throwaway Postgres (logical WAL) and Kafka (KRaft) containers. Machines without Docker use stack/ instead;
// this path is exercised only where an engine runs (not on the project's CI machines).
import { createServer } from "node:net";
import { GenericContainer, getContainerRuntimeClient, type StartedTestContainer, Wait } from "testcontainers";

export async function dockerEngineAnswers(): Promise<boolean> {
  try {
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

export interface ContainerStack {
  databaseUrl: string;
  kafkaBrokers: string[];
  stop(): Promise<void>;
}

export async function startContainers(): Promise<ContainerStack> {
  // Kafka advertises the address clients must use, so its host port is chosen before the container starts.
  const kafkaPort = await freePort();
  const [postgres, kafka] = await Promise.all([
    new GenericContainer("postgres:17-alpine")
      .withEnvironment({ POSTGRES_PASSWORD: "postgres", POSTGRES_DB: "healthcare" })
      .withCommand(["postgres", "-c", "wal_level=logical", "-c", "max_connections=200"])
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start(),
    new GenericContainer("apache/kafka:4.1.1")
      .withEnvironment({
        KAFKA_NODE_ID: "1",
        KAFKA_PROCESS_ROLES: "broker,controller",
        KAFKA_LISTENERS: "PLAINTEXT://:9092,CONTROLLER://:9093",
        KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://localhost:${kafkaPort}`,
        KAFKA_CONTROLLER_LISTENER_NAMES: "CONTROLLER",
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        KAFKA_CONTROLLER_QUORUM_VOTERS: "1@localhost:9093",
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: "1",
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: "1",
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: "1",
        KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR: "1",
        KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR: "1",
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: "false",
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: "0",
      })
      .withExposedPorts({ container: 9092, host: kafkaPort })
      .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
      .start(),
  ]);
  return {
    databaseUrl: `postgres://postgres:postgres@${postgres.getHost()}:${postgres.getMappedPort(5432)}/healthcare`,
    kafkaBrokers: [`localhost:${kafkaPort}`],
    stop: async () => {
      await Promise.all([postgres, kafka].map((container: StartedTestContainer) => container.stop()));
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}
