// The lane (test/lanes.ts) of the worker a file runs in: worker n (VITEST_POOL_ID) takes lane n - 1. Imports
// nothing that reads the environment: test/laneEnvironment.ts calls it before the lane's is in place.
import { inject } from "vitest";
import type { TestLane } from "./lanes.ts";

export function workerLane(): TestLane {
  const lanes = inject("lanes");
  const lane = lanes[(Number(process.env.VITEST_POOL_ID ?? "1") - 1) % lanes.length];
  if (!lane) throw new Error("no test lane: test/globalSetup.ts provides them");
  return lane;
}
