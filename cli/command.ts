// The frame every `npm run` command parses its arguments in: `--help` prints the usage and exits before any
// side effect, an unknown option, an option given twice or a bad argument prints the usage on stderr and exits
// 2, and `confirm` stands before whatever a destructive command changes.
import { createInterface } from "node:readline/promises";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { DrizzleQueryError } from "drizzle-orm";
import { ConfigError } from "../config/env.ts";

type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;

export interface CommandSpec<Options extends OptionsConfig> {
  /** The whole usage text, starting `usage: npm run <script>`: what --help prints. */
  usage: string;
  options?: Options;
  /** Whether the command takes positional arguments (subcommands, topics, files). */
  allowPositionals?: boolean;
  /**
   * The options each sub-command (the first positional argument) takes: one given to a sub-command that does
   * not take it is refused rather than ignored. A first argument not named here is the command's to refuse.
   */
  subcommands?: Record<string, ReadonlyArray<keyof Options & string>>;
  /** The arguments; process.argv after the script by default. */
  args?: string[];
}

type Parsed<Options extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ options: Options; allowPositionals: true; strict: true }>
>;

export type CommandLine<Options extends OptionsConfig> =
  | { outcome: "help" }
  | { outcome: "refused"; problem: string }
  | { outcome: "parsed"; values: Parsed<Options>["values"]; positionals: string[] };

/** Reads a command line without acting on it (the pure half of parseCommand, for tests). */
export function readCommandLine<const Options extends OptionsConfig>(
  spec: CommandSpec<Options>,
  args: string[],
): CommandLine<Options> {
  const beforeTerminator = args.includes("--") ? args.slice(0, args.indexOf("--")) : args;
  if (beforeTerminator.some((arg) => arg === "--help" || arg === "-h")) return { outcome: "help" };
  try {
    const options = spec.options ?? ({} as Options);
    const { values, positionals, tokens } = parseArgs({
      args,
      options,
      allowPositionals: spec.allowPositionals ?? false,
      strict: true,
      tokens: true,
    });
    const problem =
      repeatedOption(tokens, options) ?? optionOfAnotherSubcommand(tokens, positionals, spec.subcommands);
    if (problem) return { outcome: "refused", problem };
    return { outcome: "parsed", values, positionals };
  } catch (error) {
    return { outcome: "refused", problem: (error as Error).message };
  }
}

type Token = NonNullable<ReturnType<typeof parseArgs>["tokens"]>[number];

/**
 * An option given again that is not declared `multiple`. parseArgs keeps the last value and drops the others
 * without a word, so `--topic a --topic b` would quietly mean `--topic b`.
 */
function repeatedOption(tokens: readonly Token[], options: OptionsConfig): string | undefined {
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== "option" || options[token.name]?.multiple) continue;
    if (seen.has(token.name)) return `--${token.name} is given more than once; give it once`;
    seen.add(token.name);
  }
  return undefined;
}

/** An option given that the sub-command does not take (another one's, which it would ignore). */
function optionOfAnotherSubcommand(
  tokens: readonly Token[],
  positionals: readonly string[],
  subcommands: Record<string, readonly string[]> | undefined,
): string | undefined {
  const [subcommand = ""] = positionals;
  if (!subcommands || !Object.hasOwn(subcommands, subcommand)) return undefined;
  const taken = subcommands[subcommand] as readonly string[];
  const foreign = tokens.find((token) => token.kind === "option" && !taken.includes(token.name));
  if (foreign?.kind !== "option") return undefined;
  const takes =
    taken.length === 0 ? "it takes none" : `it takes ${taken.map((name) => `--${name}`).join(", ")}`;
  return `--${foreign.name} is not an option of ${subcommand} (${takes})`;
}

export interface Command<Options extends OptionsConfig> {
  values: Parsed<Options>["values"];
  positionals: string[];
  /** Refuses the command line: the problem and the usage on stderr, exit code 2. */
  refuse(problem: string): never;
}

/** Parses the command line, or answers --help (exit 0) or a bad one (exit 2) without doing anything else. */
export function parseCommand<const Options extends OptionsConfig>(
  spec: CommandSpec<Options>,
): Command<Options> {
  const line = readCommandLine(spec, spec.args ?? process.argv.slice(2));
  const refuse = (problem: string): never => {
    process.stderr.write(`${problem}\n${spec.usage}\n`);
    process.exit(2);
  };
  if (line.outcome === "help") {
    process.stdout.write(`${spec.usage}\n`);
    process.exit(0);
  }
  if (line.outcome === "refused") return refuse(line.problem);
  reportConfigErrorsPlainly();
  return { values: line.values, positionals: line.positionals, refuse };
}

/**
 * A problem the operator has to fix (a ConfigError, however deep it was thrown, a service that does not answer, a
 * database not migrated, a file that cannot be read or written) is told as one line on stderr with exit code 1,
 * not as Node's report of an uncaught error around it. Any other error, a fault of the code, is printed with its
 * stack, and exits 1, as Node would.
 */
function reportConfigErrorsPlainly(): void {
  process.on("uncaughtException", (error) => {
    console.error(operatorProblem(error) ?? error);
    process.exit(1);
  });
}

/**
 * What a command tells the operator when it stops on an error: the operator's problem (operatorProblem), or else
 * the error's own message. One line, no stack trace: every command catches what its work throws and says this.
 */
export function failureMessage(error: unknown): string {
  const problem = operatorProblem(error);
  if (problem !== null) return problem;
  // drizzle's failed query lists the query and its parameters, which may be a patient's data: the Postgres error
  // under it says what went wrong.
  if (error instanceof DrizzleQueryError && error.cause instanceof Error) return failureMessage(error.cause);
  return error instanceof Error ? error.message : String(error);
}

/**
 * The errors the operator fixes, not the code, as one line each, however deep a query's or a client's error
 * wraps them; null for any other error.
 */
function operatorProblem(error: unknown): string | null {
  if (error instanceof ConfigError) return error.message;
  for (let cause = error; cause instanceof Error; cause = (cause as Error & { cause?: unknown }).cause) {
    const problem = unreachableService(cause) ?? fileProblem(cause);
    if (problem !== null) return problem;
  }
  return unmigratedDatabase(error);
}

/** The errors of a connection that was refused, timed out, or found no such host or database. */
const CANNOT_CONNECT = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
]);
/** Postgres refusing the connection itself: the password, the user, the database. */
const POSTGRES_REFUSED = new Set(["28P01", "28000", "3D000"]);

/**
 * What to tell the operator when the Postgres or the Kafka the environment names cannot be reached: the variable
 * that names it and why, without a stack trace (the environment's mistake, or an outage, not the code's). Null
 * for any other error.
 */
function unreachableService(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  const { code, address, port } = error as Error & { code?: unknown; address?: unknown; port?: unknown };
  if (error.name.startsWith("KafkaJS") && kafkaConnectionFailed(error))
    return `Kafka cannot be reached at the brokers KAFKA_BROKERS names: ${error.message}`;
  if (typeof code === "string" && CANNOT_CONNECT.has(code)) {
    const where = typeof address === "string" ? ` (${address}${port === undefined ? "" : `:${port}`})` : "";
    return `Postgres cannot be reached at the server DATABASE_URL names${where}: ${error.message || code}`;
  }
  if (typeof code === "string" && POSTGRES_REFUSED.has(code))
    return `Postgres refused the connection DATABASE_URL describes: ${error.message}`;
  return null;
}

/** Postgres' undefined_table: a query named a table the database does not have. */
const UNDEFINED_TABLE = "42P01";

/**
 * A database without the project's tables (never migrated, migrated by an older version, or another
 * application's), however deep the query's error wraps Postgres's: it names DATABASE_URL and the migration
 * rather than the table a query happened to read first. Null for any other error.
 */
function unmigratedDatabase(error: unknown): string | null {
  for (let cause = error; cause instanceof Error; cause = (cause as Error & { cause?: unknown }).cause) {
    if ((cause as Error & { code?: unknown }).code === UNDEFINED_TABLE)
      return `the database DATABASE_URL names is not migrated, or not this project's (${cause.message}): run npm run db:migrate against it`;
  }
  return null;
}

/**
 * A file or directory the command cannot read or write (a path an argument or a variable gave): Node's message
 * names the path and the reason ("ENOENT: no such file or directory, open '/x'"); its stack adds nothing.
 */
function fileProblem(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  const { syscall, path } = error as Error & { syscall?: unknown; path?: unknown };
  return typeof syscall === "string" && typeof path === "string" ? error.message : null;
}

/** Whether a KafkaJS error (or the one it wraps) is a failed connection to a broker. */
function kafkaConnectionFailed(error: Error): boolean {
  for (
    let cause: unknown = error;
    cause instanceof Error;
    cause = (cause as Error & { cause?: unknown }).cause
  ) {
    if (cause.name === "KafkaJSConnectionError") return true;
  }
  return false;
}

/** The option a destructive command declares, so that scripts can confirm ahead. */
export const yesOption = { yes: { type: "boolean", short: "y", default: false } } as const;

export type Confirmation = "confirmed" | "needs --yes" | "declined";

/** Whether to go ahead: --yes does; a person at a terminal is asked; anything else is refused. */
export async function confirmation(options: {
  yes: boolean;
  interactive: boolean;
  ask: () => Promise<string>;
}): Promise<Confirmation> {
  if (options.yes) return "confirmed";
  if (!options.interactive) return "needs --yes";
  return /^\s*y(es)?\s*$/i.test(await options.ask()) ? "confirmed" : "declined";
}

/**
 * Stands before a destructive step: `what` says what is about to change. Without --yes a terminal is asked
 * y/N; without a terminal (a script, CI) the command is refused with exit code 2 rather than guessed at.
 */
export async function confirm(what: string, yes: boolean): Promise<void> {
  const answer = await confirmation({
    yes,
    interactive: Boolean(process.stdin.isTTY),
    ask: async () => {
      const prompt = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await prompt.question(`${what}. Go ahead? [y/N] `);
      } finally {
        prompt.close();
      }
    },
  });
  if (answer === "needs --yes") {
    process.stderr.write(`${what}: not confirmed; run it again with --yes (no terminal to ask)\n`);
    process.exit(2);
  }
  if (answer === "declined") {
    process.stderr.write("nothing done\n");
    process.exit(1);
  }
}
