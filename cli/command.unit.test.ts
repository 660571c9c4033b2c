// The command frame as a specification: --help wins over everything, a bad command line is refused, and a
// destructive step goes ahead only on --yes or a person's "y".

import { describe, expect, it } from "vitest";
import { confirmation, readCommandLine, yesOption } from "./command.ts";

const spec = {
  usage: "usage: npm run example -- <thing> [--all] [--name <name>] [--tag <tag>]... [--yes]",
  options: {
    all: { type: "boolean", default: false },
    name: { type: "string" },
    tag: { type: "string", multiple: true },
    ...yesOption,
  },
  allowPositionals: true,
} as const;

describe("reading a command line", () => {
  it("answers --help or -h before anything else, even next to an unknown option", () => {
    expect(readCommandLine(spec, ["--help"])).toEqual({ outcome: "help" });
    expect(readCommandLine(spec, ["thing", "-h"])).toEqual({ outcome: "help" });
    expect(readCommandLine(spec, ["--no-such-option", "--help"])).toEqual({ outcome: "help" });
  });

  it("takes --help after the -- terminator as a positional argument", () => {
    expect(readCommandLine(spec, ["--", "--help"])).toMatchObject({
      outcome: "parsed",
      positionals: ["--help"],
    });
  });

  it("refuses an unknown option, naming it", () => {
    const line = readCommandLine(spec, ["thing", "--no-such-option"]);
    expect(line.outcome).toBe("refused");
    expect(line.outcome === "refused" && line.problem).toMatch(/--no-such-option/);
  });

  it("refuses an option given twice rather than keep its last value, naming it", () => {
    for (const args of [
      ["thing", "--name", "a", "--name", "b"],
      ["thing", "--name=a", "--name", "a"],
      ["thing", "--all", "--all"],
      ["thing", "-y", "--yes"],
    ]) {
      const line = readCommandLine(spec, args);
      expect(line.outcome, args.join(" ")).toBe("refused");
      expect(line.outcome === "refused" && line.problem, args.join(" ")).toMatch(
        /^--(name|all|yes) is given more than once/,
      );
    }
  });

  it("takes an option declared multiple as often as it is given, and a repeated value after --", () => {
    expect(readCommandLine(spec, ["--tag", "a", "--tag", "b", "--", "--name", "--name"])).toMatchObject({
      outcome: "parsed",
      values: { tag: ["a", "b"] },
      positionals: ["--name", "--name"],
    });
  });

  it("refuses an option of another sub-command rather than ignore it, naming it and what the sub-command takes", () => {
    const withSubcommands = {
      ...spec,
      subcommands: { show: ["all"], change: ["name", "tag", "yes"], check: [] },
    } as const;
    const refusals: Array<[string[], string]> = [
      [["show", "--name", "a"], "--name is not an option of show (it takes --all)"],
      [["change", "x", "--all", "--yes"], "--all is not an option of change (it takes --name, --tag, --yes)"],
      [["check", "-y"], "--yes is not an option of check (it takes none)"],
    ];
    for (const [args, problem] of refusals) {
      expect(readCommandLine(withSubcommands, args), args.join(" ")).toEqual({ outcome: "refused", problem });
    }
    expect(readCommandLine(withSubcommands, ["change", "--name", "a", "--tag", "b", "-y"])).toMatchObject({
      outcome: "parsed",
      values: { name: "a", tag: ["b"], yes: true },
    });
    // A first argument that names no sub-command is the command's to refuse; the frame lets it through.
    expect(readCommandLine(withSubcommands, ["constructor", "--all"])).toMatchObject({ outcome: "parsed" });
  });

  it("refuses positional arguments where the command takes none", () => {
    const line = readCommandLine({ usage: "usage: npm run plain" }, ["stray"]);
    expect(line).toMatchObject({ outcome: "refused" });
  });

  it("reads options with their defaults, and positionals", () => {
    expect(readCommandLine(spec, ["thing", "-y"])).toEqual({
      outcome: "parsed",
      values: { all: false, yes: true },
      positionals: ["thing"],
    });
  });
});

describe("confirming a destructive step", () => {
  const never = async (): Promise<string> => {
    throw new Error("must not ask");
  };

  it("goes ahead on --yes without asking", async () => {
    expect(await confirmation({ yes: true, interactive: false, ask: never })).toBe("confirmed");
    expect(await confirmation({ yes: true, interactive: true, ask: never })).toBe("confirmed");
  });

  it("refuses without --yes when there is no terminal to ask", async () => {
    expect(await confirmation({ yes: false, interactive: false, ask: never })).toBe("needs --yes");
  });

  it("asks at a terminal, and only y or yes goes ahead", async () => {
    const answered = (answer: string) =>
      confirmation({ yes: false, interactive: true, ask: async () => answer });
    expect(await answered("y")).toBe("confirmed");
    expect(await answered("YES\n")).toBe("confirmed");
    expect(await answered("")).toBe("declined");
    expect(await answered("n")).toBe("declined");
    expect(await answered("yesterday")).toBe("declined");
  });
});
