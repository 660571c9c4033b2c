// A setup file of the integration files: points this worker at its lane's services (test/lanes.ts) before a
// file imports anything, so that what reads the environment (the stack's ports, a Connect worker started on
// demand, the secure test broker, the processes a test starts) reads the lane's. It imports nothing else: a
// module it imported would read the environment before the lane's is in place.
import { workerLane } from "./workerLane.ts";

Object.assign(process.env, workerLane().env);
