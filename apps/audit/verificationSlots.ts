// How many verifications of the history run at once. Each holds one pooled connection for its whole run (one
// snapshot over the whole history), so unbounded they would take the API's pool from every other route; past
// the bound the caller is told to come back (503 with Retry-After) instead of waiting on a connection.

/** Seconds a refused caller is asked to wait: about what verifying a modest history takes. */
export const VERIFY_RETRY_AFTER_SECONDS = 10;

export class VerificationSlots {
  #free: number;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`verification slots: ${size} is not a count`);
    this.#free = size;
  }

  /** A slot and the function that gives it back (once), or undefined when every slot is taken. */
  tryTake(): (() => void) | undefined {
    if (this.#free === 0) return undefined;
    this.#free--;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.#free++;
    };
  }
}
