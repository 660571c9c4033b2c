// What a configuration loader reports, for tests that check each variable's message.
import { ConfigError } from "../config/env.ts";

/** The problems `load` reports for `source`: none when it loads, anything else than a ConfigError thrown. */
export function configProblems<Source>(load: (source: Source) => unknown, source: Source): string[] {
  try {
    load(source);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}
