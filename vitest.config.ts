import { defineConfig } from "vitest/config";
import { loadStackEnv } from "./config/env.ts";

/**
 * Files that need a Kafka of three brokers (and two Connect workers): they join the integration tests when
 * the suite runs against a cluster (KAFKA_BROKER_COUNT=3; `npm run test:cluster` runs them alone).
 */
const clusterFiles = "**/*.cluster.int.test.ts";
const onCluster = loadStackEnv().KAFKA_BROKER_COUNT >= 3;

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["**/*.unit.test.ts"],
          exclude: ["node_modules/**", ".data/**"],
          // A test that parses a document or starts a command takes seconds on a busy machine. A timeout stops a
          // hang; it measures nothing.
          testTimeout: 15_000,
          // With two cores vitest gives both projects one worker (os.availableParallelism() - 1): the unit files
          // run after the integration files. Sharing the worker's loaded modules, as the integration files do,
          // they take half the time (65 s to 30 s); each file ends what it installs (a global tracer provider).
          isolate: false,
        },
      },
      {
        test: {
          name: "integration",
          include: ["**/*.int.test.ts", "**/*.e2e.test.ts"],
          exclude: ["node_modules/**", ".data/**", ...(onCluster ? [] : [clusterFiles])],
          globalSetup: ["test/globalSetup.ts"],
          // The context manager every process's frame installs: without it no trace context reaches a row.
          setupFiles: ["test/traceContext.ts"],
          // The files share one Postgres, one broker and one relay cursor, and some stop the broker on
          // purpose: they run one at a time.
          fileParallelism: false,
          // One after another, the files can share the worker's loaded modules: importing the platform
          // afresh for each file took a fifth of the suite. Each file still sets up and closes what it starts.
          isolate: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
