// The errors whose messages may travel where no erasure reaches (a dead letter's headers, which `npm run dlq
// list` prints): those that say so by their class. Every other error's message may quote the data it was given.

/**
 * An error whose message names ids, kinds, counts and the catalog's field names only, never a value it was
 * given: a dead letter records it as it is (consumers/runtime/recordableMessage.ts). Extend it only when every
 * message the class can make holds nothing a record, a request or a library chose.
 */
export class DataFreeError extends Error {}
