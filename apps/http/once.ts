// What cannot change while the process runs, built when first asked for and then kept.

/** `build`'s value, built at the first call and given to every call after. */
export function once<T>(build: () => T): () => T {
  let value: { built: T } | undefined;
  return () => {
    value ??= { built: build() };
    return value.built;
  };
}
