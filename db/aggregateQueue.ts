// The in-process line of one aggregate's writers: each waits for the one before it, holding no pooled
// connection while it waits, so a hot aggregate takes one connection of the pool, whatever its crowd. The
// writer at the head of the line can see who comes next (`nextInLine`), to hand its connection on.
const tails = new Map<string, Promise<void>>();
/** The writers queued under each key that have not started yet, in the order they will start. */
const waiting = new Map<string, object[]>();

/**
 * Runs `write` after every earlier write queued under `key` in this process has settled. `writer` stands for
 * this write in the line while it waits: what `nextInLine` returns.
 */
export function inAggregateQueue<T>(key: string, write: () => Promise<T>, writer: object = {}): Promise<T> {
  const line = waiting.get(key);
  if (line) line.push(writer);
  else waiting.set(key, [writer]);
  const start = () => {
    // The chain starts writers in the order they came, so this one is the first still waiting.
    const rest = waiting.get(key);
    rest?.shift();
    if (rest?.length === 0) waiting.delete(key);
    return write();
  };
  const before = tails.get(key);
  const result = before ? before.then(start) : start();
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

/** The writer that starts next under `key`, once the one running now has settled; none if nobody waits. */
export function nextInLine(key: string): object | undefined {
  return waiting.get(key)?.[0];
}

/** How many aggregates have a writer running or in line in this process. */
export function queuedAggregates(): number {
  return tails.size;
}
