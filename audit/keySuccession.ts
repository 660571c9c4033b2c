// A key, once replaced, signs no later checkpoint: the rule that keeps an earlier signing key, still trusted for
// what it signed (AUDIT_PREVIOUS_PUBLIC_KEYS), from signing on after its successor.
import type { Checkpoint } from "./checkpoint.ts";

/**
 * The keys that signed the checkpoints, in their order: a key, once replaced, signs no later checkpoint. An earlier
 * key stays trusted for what it signed before (AUDIT_PREVIOUS_PUBLIC_KEYS), not as a key to forge the rest with.
 */
export class KeySuccession {
  #current: Checkpoint | null = null;
  readonly #replaced = new Map<string, Checkpoint>();

  problemWith(checkpoint: Checkpoint): string | null {
    const current = this.#current;
    if (current && current.keyId !== checkpoint.keyId) {
      const replacement = this.#replaced.get(checkpoint.keyId);
      if (replacement) {
        return `signed by key ${checkpoint.keyId}, which checkpoint ${replacement.sequence}'s key ${replacement.keyId} replaced`;
      }
      this.#replaced.set(current.keyId, checkpoint);
    }
    this.#current = checkpoint;
    return null;
  }
}
