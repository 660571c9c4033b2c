// The frame every `npm run` command parses its arguments in: `--help` prints the usage and exits before any
// side effect, an unknown option, an option given twice or a bad argument prints the usage on stderr and exits
// 2, and `confirm` stands before whatever a destructive command changes.
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { createInterface } from "node:readline/promises";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { reportFailure } from "./failure.ts";

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
  reportUncaughtErrors();
  return { values: line.values, positionals: line.positionals, refuse };
}

/**
 * An error nothing caught (a command without a catch of its own, an unhandled rejection) is told as the commands
 * tell theirs (cli/failure.ts): the operator's problem in one line with exit code 1, a fault of the code as an
 * internal error with its stack and exit code 70, never with the data a query or an error carries.
 */
function reportUncaughtErrors(): void {
  process.on("uncaughtException", (error) => {
    process.exit(reportFailure(error));
  });
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
 * Refuses at once, as confirm would, a destructive step no one can confirm: no --yes, and no terminal to ask.
 * For a command that reads its configuration (or its data) before it asks: a script is refused before anything
 * is read, and a person is asked only once the configuration holds.
 */
export async function refuseUnconfirmable(what: string, yes: boolean): Promise<void> {
  if (!yes && !process.stdin.isTTY) await confirm(what, false);
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

/**
 * A path the operator typed, made absolute. `npm run` starts a command in the project's root, and says where it
 * was typed in INIT_CWD: a relative path means that directory, not the root (`cd backups && npm run
 * audit:archive -- --dir march` archives into backups/march).
 */
export function operatorPath(path: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.INIT_CWD ?? process.cwd(), path);
}

/**
 * Why `path` cannot be made a directory to write into (`what`: "write into"), or null: one that does not exist
 * yet is made by the caller; a file there, or on its way, is the argument's mistake.
 */
export function notADirectory(path: string, what: string): string | null {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() === false
      ? `is a file, not a directory to ${what}`
      : null;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOTDIR"
      ? `lies under a file, not a directory to ${what}`
      : (error as Error).message;
  }
}
