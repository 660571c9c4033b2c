/**
 * The patients an export has named in its access records, so that a patient whose events fill many pages is
 * recorded once rather than once a page. At most `limit` are kept: an export of a large history would
 * otherwise hold one id for every patient in it. Past the limit the set is emptied and filled anew, so a
 * patient met again after that is recorded a second time: an access is recorded more often than needed,
 * never less.
 */
export class NamedPatients {
  readonly #named = new Set<string>();

  constructor(
    readonly limit: number,
    alreadyNamed: readonly string[] = [],
  ) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`named patients: ${limit} is not a count`);
    for (const patientId of alreadyNamed) this.#named.add(patientId);
  }

  /** Those of `patientIds` not named yet (in their order, each once), taken as named from now on. */
  name(patientIds: readonly string[]): string[] {
    const unnamed = [...new Set(patientIds)].filter((patientId) => !this.#named.has(patientId));
    if (this.#named.size + unnamed.length > this.limit) this.#named.clear();
    for (const patientId of unnamed.slice(-this.limit)) this.#named.add(patientId);
    return unnamed;
  }

  get size(): number {
    return this.#named.size;
  }
}
