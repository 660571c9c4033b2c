// What a verification reports when the history is not intact: the first link found broken, and why.
export interface BrokenLink {
  /** The outbox position of the first row found wrong, when a row is to blame. */
  position?: string;
  eventId?: string;
  checkpoint?: number;
  archive?: number;
  aggregate?: string;
  problem: string;
}
