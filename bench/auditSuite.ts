// `npm run bench:audit`: the audit history's benchmarks in a row: sealing and verification (audit.bench.ts),
// the auditor API's history query over a large outbox (auditQueries.bench.ts), then an export of that outbox
// over HTTP, with the server's memory (auditExport.bench.ts).
import { parseCommand } from "../cli/command.ts";

parseCommand({
  usage: `usage: npm run bench:audit
  times sealing and verifying a history in a fresh healthcare_audit_bench database, then the auditor API's
  history query over a large outbox (healthcare_query_bench, reused by later runs of the same size), then
  NDJSON exports of that outbox over HTTP from a server in a process of its own (events/s, the server's
  resident memory idle and at its peak); prints tables. Sizes from the environment:
  BENCH_HISTORY (default 1000000)         events in the sealed and verified history
  BENCH_QUERY_HISTORY (default 10000000)  events in the queried (and exported) outbox
  BENCH_QUERY_SAMPLES (default 200)       queries per filter and page
  BENCH_QUERY_SECONDS (default 60)        at most this long per filter and page`,
});
await import("./audit.bench.ts");
await import("./auditQueries.bench.ts");
await import("./auditExport.bench.ts");
