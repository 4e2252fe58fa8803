/**
 * Option groups for the command-line tools, after NVIDIA Polygraphy's `tools/args/` argument
 * groups: a flag is declared once, with its type, help lines and documented default, inside a
 * group that parses its flags into a typed slice of a library options object. A command is a
 * list of groups; its parser and its `--help` text are both derived from that list, and
 * `tests/cli_flags_test.ts` checks README.md's flag tables against it.
 *
 * Flags are snake_case (`--batch_size`) with kebab-case aliases (`--batch-size`); a
 * `multiple` flag takes several values after one flag, repeated flags or comma lists
 * (see {@linkcode parseCli}).
 *
 * @module
 */

import { declareFlagName, intFlag as parseWhole, parseCli } from "../cli_args.ts";
import { InspectorError } from "../../core/errors.ts";

/** A flag's raw value as the argument parser returns it. */
export type RawValue = string | boolean | string[] | undefined;

/** One flag: how it is parsed, how it is shown in `--help`, and its documented default. */
export interface Flag<T> {
  /** `string` flags take a value, `boolean` flags are switches. */
  type: "string" | "boolean";
  /** Several values: after one flag (`--layers a b`), repeated, or comma-separated. */
  multiple?: boolean;
  /** One-letter alias (`-h`). */
  short?: string;
  /** Placeholder shown after the flag in the help (`PATH`, `N`). */
  metavar?: string;
  /** The whole help label, instead of `--name METAVAR` (e.g. `--help, --version`). */
  label?: string;
  /** Help lines; `{default}` is replaced by {@linkcode Flag.default}. */
  help: readonly string[];
  /** The default as documented (help and README); absent where it is not one value. */
  default?: string;
  /** Not listed on its own line (another flag's label names it). */
  hidden?: boolean;
  /**
   * How the library's messages name what this flag sets, where that is not
   * `options.<camelCase name>` (`options.memoryBudgetMiB`, `listLayers()`); the CLIs print the
   * flag instead (see {@linkcode flagMessage}).
   */
  libraryName?: string;
  /** Turn the raw value into the typed one; `flag` is `--name`, for error messages. */
  parse: (raw: RawValue, flag: string) => T;
}

/** What a flag declaration says besides its parse (the common part of the constructors). */
export interface FlagInfo {
  /** Placeholder shown after the flag in the help. */
  metavar?: string;
  /** The whole help label, instead of `--name METAVAR`. */
  label?: string;
  /** Help lines; `{default}` is replaced by `default`. */
  help: readonly string[];
  /** The default as documented. */
  default?: string;
  /** One-letter alias. */
  short?: string;
  /** Not listed on its own line. */
  hidden?: boolean;
  /** How library messages name what it sets, when not `options.<camelCase name>`. */
  libraryName?: string;
}

/** The typed values of a record of flags. */
export type FlagValues<F> = { [K in keyof F]: F[K] extends Flag<infer V> ? V : never };

/**
 * Flag constructors: each returns a {@linkcode Flag} whose `parse` gives a typed value and throws
 * a one-line {@linkcode InspectorError} naming the flag on a bad value.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { flag } from "./group.ts";
 * const f = flag.int({ metavar: "N", help: ["clips per batch (default {default})"], default: "2", min: 1 });
 * assert.equal(f.parse("4", "--batch_size"), 4);
 * assert.equal(f.parse(undefined, "--batch_size"), undefined);
 * assert.throws(() => f.parse("0", "--batch_size"), /--batch_size 0: expected a whole number >= 1/);
 * const ep = flag.choice(["auto", "cpu"] as const, { metavar: "EP", help: ["backend"] });
 * assert.equal(ep.parse("cpu", "--ep"), "cpu");
 * assert.throws(() => ep.parse("gpu", "--ep"), /--ep gpu: use one of auto, cpu/);
 * ```
 */
export const flag = {
  /** A string value. */
  string(info: FlagInfo): Flag<string | undefined> {
    return {
      ...info,
      type: "string",
      parse: (raw) => (raw === undefined ? undefined : String(raw)),
    };
  },
  /** Several string values (`--layers a b`, `--layers a,b`, repeated). */
  list(info: FlagInfo): Flag<string[] | undefined> {
    return {
      ...info,
      type: "string",
      multiple: true,
      parse: (raw) => (raw === undefined ? undefined : ([] as string[]).concat(raw as string[])),
    };
  },
  /** A switch: `true` when given. */
  boolean(info: FlagInfo): Flag<boolean> {
    return { ...info, type: "boolean", parse: (raw) => Boolean(raw) };
  },
  /** A whole number of at least `min` (default 0). */
  int(info: FlagInfo & { min?: number }): Flag<number | undefined> {
    const { min, ...rest } = info;
    return { ...rest, type: "string", parse: (raw, name) => parseWhole(raw, name, { min }) };
  },
  /** One of `values`. */
  choice<T extends string>(values: readonly T[], info: FlagInfo): Flag<T | undefined> {
    return {
      ...info,
      type: "string",
      parse: (raw, name) => {
        if (raw === undefined) return undefined;
        const v = String(raw);
        const hit = values.find((c) => c === v);
        if (hit === undefined) {
          throw new InspectorError(`${name} ${v}: use one of ${values.join(", ")}`);
        }
        return hit;
      },
    };
  },
  /** A value with its own parse (`type` says whether it takes a value). */
  custom<T>(
    info: FlagInfo & {
      type: "string" | "boolean";
      multiple?: boolean;
      parse: (raw: RawValue, flag: string) => T;
    },
  ): Flag<T> {
    return { ...info };
  },
} as const;

/** A group of flags and the typed parse of their values. */
export interface OptionGroup<T> {
  /** What the group is about (model, input, runtime, output, common, or a command's own). */
  title: string;
  /** The flags, by snake_case name, in help order. */
  flags: Readonly<Record<string, Flag<unknown>>>;
  /** Parse the raw values (by snake_case name) into the group's typed options. */
  parse(values: Readonly<Record<string, RawValue>>): T;
}

/**
 * Declare a group: its flags (by snake_case name) and how their typed values become options.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineGroup, flag } from "./group.ts";
 * const g = defineGroup("output", {
 *   save_dir: flag.string({ metavar: "DIR", help: ["output folder (default {default})"], default: "out" }),
 *   quiet: flag.boolean({ help: ["print less"] }),
 * }, (v) => ({ saveDir: v.save_dir ?? "out", quiet: v.quiet }));
 * assert.deepEqual(g.parse({ quiet: true }), { saveDir: "out", quiet: true });
 * ```
 */
export function defineGroup<F extends Record<string, Flag<unknown>>, T>(
  title: string,
  flags: F,
  toOptions: (values: FlagValues<F>) => T,
): OptionGroup<T> {
  return {
    title,
    flags,
    parse(values) {
      const typed: Record<string, unknown> = {};
      for (const [name, f] of Object.entries(flags)) {
        typed[name] = f.parse(values[name], `--${name}`);
      }
      return toOptions(typed as FlagValues<F>);
    },
  };
}

/** A positional operand shown in the help (`FILE.npy`). */
export interface PositionalEntry {
  /** Its label. */
  label: string;
  /** Help lines. */
  help: readonly string[];
}

/** A command: its groups (in help order) and the text around its flag list. */
export interface CommandSpec<G extends Record<string, OptionGroup<unknown>>> {
  /** Command name (`inspect`). */
  name: string;
  /** Help text above the flag list. */
  header: string;
  /** Help text below the flag list. */
  footer?: string;
  /** The groups, by key; the parsed options come back under the same keys. */
  groups: G;
  /** Positional operands: at most `max`; `endOfList` ends a multi-value flag's list. */
  positionals?: {
    max: number;
    entries?: readonly PositionalEntry[];
    endOfList?: RegExp;
    /**
     * Called with the positionals (and the raw flag values) after `--help`/`--version`, before
     * the flags are parsed.
     */
    check?: (positionals: readonly string[], values: Readonly<Record<string, RawValue>>) => void;
  };
  /**
   * Help layout: label column width (default 20), whether labels show aliases (`-h, --help`),
   * and a title line right above the flag list (`Options:`).
   */
  layout?: { labelWidth?: number; aliases?: boolean; title?: string };
}

/** The typed options of each group of a command. */
export type GroupValues<G> = { [K in keyof G]: G[K] extends OptionGroup<infer T> ? T : never };

/** A parsed command line: `--help`, `--version`, or the typed options of every group. */
export type ParsedCommand<G> =
  | { help: true; version: false }
  | { help: false; version: true }
  | { help: false; version: false; options: GroupValues<G>; positionals: string[] };

/**
 * Declare a command; a flag declared in two of its groups is an error.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { commandFlags, defineCommand, defineGroup, flag } from "./group.ts";
 * const cmd = defineCommand({
 *   name: "demo",
 *   header: "Usage: demo [flags]",
 *   groups: { out: defineGroup("output", { quiet: flag.boolean({ help: ["less"] }) }, (v) => v) },
 * });
 * assert.deepEqual(Object.keys(commandFlags(cmd)), ["quiet"]);
 * ```
 */
export function defineCommand<const G extends Record<string, OptionGroup<unknown>>>(
  spec: CommandSpec<G>,
): CommandSpec<G> {
  for (const [name, f] of Object.entries(commandFlags(spec))) {
    declareFlagName(libraryName(name, f), `--${name}`);
  }
  return spec;
}

/**
 * How the library's messages name what a flag sets: its {@linkcode Flag.libraryName}, else
 * `options.<camelCase name>` (the option its group's parse fills).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { flag, libraryName } from "./group.ts";
 * assert.equal(libraryName("batch_idx", flag.string({ help: [] })), "options.batchIdx");
 * assert.equal(libraryName("list_layers", flag.boolean({ help: [], libraryName: "listLayers()" })), "listLayers()");
 * ```
 */
export function libraryName(name: string, f: Flag<unknown>): string {
  return f.libraryName ?? `options.${name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())}`;
}

/**
 * Every flag of a command, by snake_case name, in help order.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { commandFlags, defineCommand, defineGroup, flag } from "./group.ts";
 * const g = defineGroup("common", { help: flag.boolean({ help: [] }) }, (v) => v);
 * const cmd = defineCommand({ name: "x", header: "", groups: { g } });
 * assert.equal(commandFlags(cmd).help.type, "boolean");
 * ```
 */
export function commandFlags<G extends Record<string, OptionGroup<unknown>>>(
  spec: CommandSpec<G>,
): Record<string, Flag<unknown>> {
  const all: Record<string, Flag<unknown>> = {};
  for (const group of Object.values(spec.groups)) {
    for (const [name, f] of Object.entries(group.flags)) {
      if (name in all) {
        throw new Error(`${spec.name}: flag --${name} is declared in two groups; keep one`);
      }
      all[name] = f;
    }
  }
  return all;
}

/**
 * Parse a command line: unknown flags and stray operands are one-line errors; `--help` and
 * `--version` come back before anything else is checked; otherwise every group's typed options.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineCommand, defineGroup, flag, parseCommand } from "./group.ts";
 * const cmd = defineCommand({
 *   name: "demo",
 *   header: "Usage: demo [flags]",
 *   groups: {
 *     run: defineGroup("runtime", {
 *       batch_size: flag.int({ metavar: "N", help: ["clips"], min: 1 }),
 *       layers: flag.list({ metavar: "L [L ...]", help: ["layers"] }),
 *     }, (v) => ({ batchSize: v.batch_size, layers: v.layers })),
 *     common: defineGroup("common", { help: flag.boolean({ help: [] }) }, () => ({})),
 *   },
 * });
 * const r = parseCommand(["--batch-size", "3", "--layers", "a", "b"], cmd);
 * assert.ok(!r.help && !r.version);
 * assert.deepEqual(r.options.run, { batchSize: 3, layers: ["a", "b"] });
 * assert.equal(parseCommand(["--help", "--batch_size", "0"], cmd).help, true);
 * assert.throws(() => parseCommand(["--bogus"], cmd), /unknown flag --bogus \(see --help\)/);
 * ```
 */
export function parseCommand<G extends Record<string, OptionGroup<unknown>>>(
  args: readonly string[],
  spec: CommandSpec<G>,
): ParsedCommand<G> {
  const flags = commandFlags(spec);
  const { values, positionals } = parseCli(args, {
    flags,
    positionals: spec.positionals?.max ?? 0,
    endOfList: spec.positionals?.endOfList,
  });
  if ("help" in flags && values.help === true) return { help: true, version: false };
  if ("version" in flags && values.version === true) return { help: false, version: true };
  spec.positionals?.check?.(positionals, values);
  const options: Record<string, unknown> = {};
  for (const [key, group] of Object.entries(spec.groups)) options[key] = group.parse(values);
  return { help: false, version: false, options: options as GroupValues<G>, positionals };
}

/**
 * The help label of a flag: `--name METAVAR`, or with aliases `-h, --name, --kebab-name METAVAR`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { flag, flagLabel } from "./group.ts";
 * const f = flag.string({ metavar: "DIR", help: [] });
 * assert.equal(flagLabel("save_dir", f), "--save_dir DIR");
 * assert.equal(flagLabel("save_dir", f, { aliases: true }), "--save_dir, --save-dir DIR");
 * ```
 */
export function flagLabel(
  name: string,
  f: Flag<unknown>,
  options: { aliases?: boolean } = {},
): string {
  if (f.label) return f.label;
  const names = [`--${name}`];
  if (options.aliases) {
    if (f.short) names.unshift(`-${f.short}`);
    const kebab = name.replaceAll("_", "-");
    if (kebab !== name) names.push(`--${kebab}`);
  }
  return names.join(", ") + (f.metavar ? ` ${f.metavar}` : "");
}

/** A flag's help lines with `{default}` filled in. */
export function flagHelp(f: Flag<unknown>): string[] {
  return f.help.map((line) => line.replaceAll("{default}", f.default ?? ""));
}

/**
 * The `--help` text of a command, generated from its groups.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { commandHelp, defineCommand, defineGroup, flag } from "./group.ts";
 * const cmd = defineCommand({
 *   name: "demo",
 *   header: "Usage: demo [flags]",
 *   groups: {
 *     out: defineGroup("output", {
 *       save_dir: flag.string({ metavar: "DIR", help: ["output folder (default {default})"], default: "out" }),
 *     }, (v) => v),
 *   },
 * });
 * assert.equal(commandHelp(cmd), "Usage: demo [flags]\n\n  --save_dir DIR        output folder (default out)");
 * ```
 */
export function commandHelp<G extends Record<string, OptionGroup<unknown>>>(
  spec: CommandSpec<G>,
): string {
  const width = spec.layout?.labelWidth ?? 20;
  const entry = (label: string, lines: readonly string[]): string[] => {
    if (!lines.length) return [`  ${label}`];
    const pad = label.length > width ? `${label}  ` : label.padEnd(width + 2);
    return [
      `  ${pad}${lines[0]}`,
      ...lines.slice(1).map((l) => `${" ".repeat(width + 4)}${l}`),
    ];
  };
  const body: string[] = [];
  for (const p of spec.positionals?.entries ?? []) body.push(...entry(p.label, p.help));
  for (const [name, f] of Object.entries(commandFlags(spec))) {
    if (f.hidden) continue;
    body.push(...entry(flagLabel(name, f, { aliases: spec.layout?.aliases }), flagHelp(f)));
  }
  return [
    spec.header,
    "",
    ...(spec.layout?.title ? [spec.layout.title] : []),
    ...body.map((l) => l.trimEnd()),
    ...(spec.footer ? ["", spec.footer] : []),
  ].join("\n");
}
