// What a verification reports when the history is not intact: the first link found broken, and why.
export interface BrokenLink {
  /** The outbox position of the first row found wrong, when a row is to blame. */
  position?: string;
  eventId?: string;
  checkpoint?: number;
  archive?: number;
  aggregate?: string;
  problem: string;
  /**
   * `expectCheckpoint` when the link found wrong is the checkpoint the verifier was asked to find: the history
   * does not hold it as the caller remembered it. Either the history was rolled back and signed again, or the
   * checkpoint was remembered wrong (a typo, another history's); the history itself was not verified past that.
   */
  cause?: "expectCheckpoint";
}

/** A broken link in one line: where (checkpoint, position, aggregate), then what is wrong. */
export function describeBrokenLink(link: BrokenLink): string {
  const where = [
    link.archive === undefined ? null : `archive ${link.archive}`,
    link.checkpoint === undefined ? null : `checkpoint ${link.checkpoint}`,
    link.position === undefined ? null : `position ${link.position}`,
    link.aggregate ?? null,
  ].filter((part) => part !== null);
  return where.length > 0 ? `${where.join(", ")}: ${link.problem}` : link.problem;
}
