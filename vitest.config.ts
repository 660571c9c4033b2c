import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";
import { loadStackEnv } from "./config/env.ts";
import { testLaneCount } from "./test/lanes.ts";

/**
 * Files that need a Kafka of three brokers (and two Connect workers): they join the integration tests when
 * the suite runs against a cluster (KAFKA_BROKER_COUNT=3; `npm run test:cluster` runs them alone).
 */
const clusterFiles = "**/*.cluster.int.test.ts";
const onCluster = loadStackEnv().KAFKA_BROKER_COUNT >= 3;

/** The integration files run in lanes (test/lanes.ts), one worker each: two on the project's own stack. */
const lanes = testLaneCount();

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
          // After the integration files (their lanes use both cores), with nothing else to run: a worker per
          // core (vitest's default leaves one free). Sharing each worker's loaded modules, as the integration
          // files do, they take half the time (65 s to 30 s); each file ends what it installs (a global tracer
          // provider).
          sequence: { groupOrder: 1 },
          maxWorkers: availableParallelism(),
          isolate: false,
        },
      },
      {
        test: {
          name: "integration",
          include: ["**/*.int.test.ts", "**/*.e2e.test.ts"],
          exclude: ["node_modules/**", ".data/**", ...(onCluster ? [] : [clusterFiles])],
          globalSetup: ["test/globalSetup.ts"],
          // The worker's lane first (its services' ports, before anything reads them); then the context manager
          // every process's frame installs: without it no trace context reaches a row.
          setupFiles: ["test/laneEnvironment.ts", "test/traceContext.ts"],
          // The files of a lane share its Postgres, its broker and its relay cursor, and some stop the broker on
          // purpose: a lane runs them one at a time, and the lanes run side by side.
          maxWorkers: lanes,
          fileParallelism: lanes > 1,
          sequence: { groupOrder: 0 },
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
