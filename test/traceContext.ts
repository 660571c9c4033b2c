// Set up before every integration test file, as the process frame does at start: the active trace context is
// carried across awaits, so a test can write events inside a traced context (fixtures.ts, `traced`).
import { installTraceContext } from "../observability/tracing.ts";

installTraceContext();
