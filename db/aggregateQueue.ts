// The in-process line of one aggregate's writers: each waits for the one before it, holding no pooled
// connection while it waits, so a hot aggregate takes one connection of the pool, whatever its crowd.
const tails = new Map<string, Promise<void>>();

/** Runs `write` after every earlier write queued under `key` in this process has settled. */
export function inAggregateQueue<T>(key: string, write: () => Promise<T>): Promise<T> {
  const before = tails.get(key);
  const result = before ? before.then(write) : write();
  const tail = result.then(
    () => {},
    () => {},
  );
  tails.set(key, tail);
  // The map holds only aggregates with a writer in line, so it stays as small as the load.
  void tail.then(() => {
    if (tails.get(key) === tail) tails.delete(key);
  });
  return result;
}

/** How many aggregates have a writer running or in line in this process. */
export function queuedAggregates(): number {
  return tails.size;
}
