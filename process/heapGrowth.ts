// How much garbage a process may carry. V8 collects the old generation when it has grown by a factor of what
// the last full collection kept, and picks that factor itself: up to 4 for a process that allocates fast and
// collects quickly, which is every platform process under load. npm start's one process kept about 50 MB
// alive under POST load and still reached 300–380 MB resident, most of it garbage awaiting a full collection
// and the malloc memory of dead Buffers it had not freed yet. A fixed, smaller factor bounds that peak at the
// cost of more frequent full collections (docs/performance.md: "Memory: the old generation's growth bounded").
import v8 from "node:v8";

/**
 * Sets V8's heap growing factor to 1 + percent / 100 for this process (and the API processes it forks, which
 * start the same frame); 0 leaves V8's own. A `--heap-growing-percent` given to node itself is kept.
 */
export function limitHeapGrowth(percent: number, execArgv: readonly string[] = process.execArgv): void {
  if (percent === 0 || execArgv.some((arg) => arg.replaceAll("_", "-").startsWith("--heap-growing-percent")))
    return;
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}
