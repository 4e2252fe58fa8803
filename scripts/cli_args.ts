/**
 * Shared command-line parsing for the scripts: snake_case flags with kebab-case aliases, and
 * flags that take several values after one flag (`--layers layer1 layer2`), as the original
 * toolkit's argparse `nargs='+'` did.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { InspectorError } from "../core/errors.ts";
import { profileEnabled, profileLines, profileMark } from "../core/profile.ts";

/** A flag: its type, and whether it takes several values. */
export interface FlagSpec {
  /** `string` or `boolean`. */
  type: "string" | "boolean";
  /** Several values: repeated flags, comma lists and values after one flag. */
  multiple?: boolean;
  /** One-letter alias. */
  short?: string;
}

/** Parsed flags and positionals. */
export interface ParsedArgs {
  /** Flag values by snake_case name. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** Positional arguments (only for commands that take them). */
  positionals: string[];
}

/**
 * Parse `args` against `flags`; unknown flags and stray positionals are one clear error.
 *
 * @example Usage
 * ```ts
 * import { parseCli } from "./cli_args.ts";
 * const r = parseCli(["--layers", "layer1", "layer2", "--batch-idx", "1"], {
 *   flags: { layers: { type: "string", multiple: true }, batch_idx: { type: "string" } },
 * });
 * console.log(r.values.layers, r.values.batch_idx); // ["layer1", "layer2"] "1"
 * ```
 */
export function parseCli(
  args: readonly string[],
  options: {
    flags: Record<string, FlagSpec>;
    positionals?: number;
    /** A value matching this ends a multi-value flag's list (e.g. `/\.npy$/` for file operands). */
    endOfList?: RegExp;
  },
): ParsedArgs {
  const names = Object.keys(options.flags);
  const norm0 = args.map((a) => {
    if (!a.startsWith("--")) return a;
    const [flag, ...rest] = a.slice(2).split("=");
    const snake = flag.replaceAll("-", "_");
    return names.includes(snake) ? ["--" + snake, ...rest].join("=") : a;
  });
  // A value flag followed by a negative number takes it as its value (`--size -5`, as argparse
  // does), so that the flag's own check reports it; node:util would call it "ambiguous".
  const norm: string[] = [];
  for (let k = 0; k < norm0.length; k++) {
    const a = norm0[k];
    const next = norm0[k + 1];
    const spec = a.startsWith("--") && !a.includes("=") ? options.flags[a.slice(2)] : undefined;
    if (spec?.type === "string" && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      norm.push(`${a}=${next}`);
      k++;
    } else norm.push(a);
  }
  const spec: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }> =
    {};
  for (const [k, v] of Object.entries(options.flags)) {
    spec[k] = {
      type: v.type,
      multiple: v.multiple ?? false,
      ...(v.short ? { short: v.short } : {}),
    };
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: norm,
      options: spec,
      allowPositionals: true,
      tokens: true,
      strict: true,
    });
  } catch (err) {
    const m = (err as Error).message.split("\n")[0];
    const unknown = /Unknown option '([^']+)'/.exec(m);
    if (unknown && /^-(\d|\.\d)/.test(unknown[1])) {
      throw new InspectorError(`unexpected argument '${unknown[1]}' (see --help)`);
    }
    if (unknown) throw new InspectorError(`unknown flag ${unknown[1]} (see --help)`);
    // "Option '--name <value>' argument is ambiguous": a value that starts with '-'.
    const ambiguous = /Option '(?:-\w, )?(--\w+)(?: <value>)?' argument is ambiguous/.exec(m);
    if (ambiguous) {
      const flag = ambiguous[1];
      const at = norm.indexOf(flag);
      const value = at >= 0 ? norm[at + 1] : undefined;
      throw new InspectorError(
        value === undefined
          ? `${flag} needs a value (see --help)`
          : `${flag} ${value}: a value that starts with '-' is written ${flag}=${value}; ` +
            `if ${value} is a flag, ${flag} needs a value first (see --help)`,
      );
    }
    throw new InspectorError(`${m.replace(/\.$/, "")} (see --help)`);
  }
  const values: ParsedArgs["values"] = { ...parsed.values } as ParsedArgs["values"];
  const positionals: string[] = [];
  let attach: string | null = null;
  for (const tok of parsed.tokens ?? []) {
    if (tok.kind === "option") {
      attach = options.flags[tok.name]?.multiple && tok.value !== undefined && !tok.inlineValue
        ? tok.name
        : null;
      continue;
    }
    if (tok.kind === "positional") {
      if (attach && options.endOfList?.test(tok.value)) attach = null;
      if (attach) {
        (values[attach] as string[]).push(tok.value);
      } else positionals.push(tok.value);
    } else attach = null;
  }
  for (const [k, v] of Object.entries(options.flags)) {
    if (v.multiple && Array.isArray(values[k])) {
      values[k] = (values[k] as string[]).flatMap((s) => s.split(",")).map((s) => s.trim())
        .filter(Boolean);
    }
  }
  const maxPos = options.positionals ?? 0;
  if (positionals.length > maxPos) {
    throw new InspectorError(
      `unexpected argument '${positionals[maxPos]}' (see --help)`,
    );
  }
  return { values, positionals };
}

/**
 * Parse a whole-number flag value.
 *
 * @example Usage
 * ```ts
 * import { intFlag } from "./cli_args.ts";
 * console.log(intFlag("8", "--max_len", { min: 1 })); // 8
 * ```
 */
export function intFlag(
  value: string | boolean | string[] | undefined,
  flag: string,
  options: { min?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const s = String(value);
  const n = Number(s);
  if (!/^-?\d+$/.test(s.trim()) || !Number.isSafeInteger(n) || n < (options.min ?? 0)) {
    throw new InspectorError(`${flag} ${s}: expected a whole number >= ${options.min ?? 0}`);
  }
  return n;
}

/** Flags by the name library messages give what they set (`options.batchIdx` -> `--batch_idx`). */
const FLAG_NAMES = new Map<string, string>();

/**
 * Declare that library messages name `flag`'s value `name` (`options.checkpoint`, `listLayers()`),
 * so that {@linkcode flagMessage} writes the flag instead. `defineCommand` declares every flag.
 *
 * @example Usage
 * ```ts
 * import { declareFlagName, flagMessage } from "./cli_args.ts";
 * declareFlagName("options.maxLen", "--max_len");
 * console.log(flagMessage("pass options.maxLen 4")); // "pass --max_len 4"
 * ```
 */
export function declareFlagName(name: string, flag: string): void {
  FLAG_NAMES.set(name, flag);
}

/**
 * A library message in the command line's words: the library speaks of options
 * (`pass options.checkpoint with an .onnx file`), the CLIs of the flags that set them
 * (`pass --checkpoint with an .onnx file`). Names no loaded command declares stay as they are.
 *
 * @example Usage
 * ```ts
 * import { declareFlagName, flagMessage } from "./cli_args.ts";
 * declareFlagName("options.batchIdx", "--batch_idx");
 * console.log(flagMessage("options.batchIdx 3 is out of range; options.other stays")); // "--batch_idx 3 is out of range; options.other stays"
 * ```
 */
export function flagMessage(message: string): string {
  return message.replace(
    /\boptions\.[A-Za-z]\w*|\b[A-Za-z]\w*\(\)/g,
    (m) => FLAG_NAMES.get(m) ?? m,
  );
}

/**
 * Print a line of a command's output: `warning:` and `note:` lines (also indented ones) to
 * stderr, everything else (results: the per-layer table, `wrote ...`) to stdout, so that
 * `2>/dev/null` keeps the results alone.
 *
 * @example Usage
 * ```ts
 * import { isDiagnostic } from "./cli_args.ts";
 * console.log(isDiagnostic("warning: layer conv1 has 2 non-finite values")); // true
 * console.log(isDiagnostic("      note: CKA undefined")); // true
 * console.log(isDiagnostic("wrote out/features.npy")); // false
 * ```
 */
export function printLine(line: string): void {
  if (isDiagnostic(line)) console.error(flagMessage(line));
  else console.log(line);
}

/** Whether a line is a warning or a note (stderr), not a result (stdout); see {@linkcode printLine}. */
export function isDiagnostic(line: string): boolean {
  return /^\s*(warning|note):/.test(line);
}

/**
 * Run a CLI main function: print `error: ...` as one line and exit non-zero on failure, and exit
 * with 0 as soon as it succeeds. On SIGINT, SIGTERM or SIGHUP it removes the unfinished output
 * (every open output set of `core/atomic.ts`), prints one `error:` line and exits with 130, 143
 * or 129 (128 + the signal's number, as a shell reports a process the signal ended).
 *
 * The explicit exit on success is deliberate. When the event loop drains, Deno tears the V8 isolate
 * down, and a V8 background compile job still running then (onnxruntime-web's WASM build leaves
 * them behind) can crash the process with SIGSEGV after all the work is done: exit code 139 for a
 * run that wrote every file (seen in CI, about 1 run in 15 on a loaded 2-core machine; none in 60
 * with the explicit exit). `main` has awaited all its work by then, so nothing is cut short.
 *
 * @example Usage
 * ```ts ignore
 * import { runMain } from "./cli_args.ts";
 * await runMain(async () => { console.log("hello"); });
 * ```
 */
export async function runMain(main: () => Promise<void>): Promise<void> {
  profileMark("main");
  const { describeError, InspectorError: IE } = await import("../core/errors.ts");
  const { abortAllOutputs } = await import("../core/atomic.ts");
  const signals = [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const;
  for (const [signal, code] of signals) {
    try {
      // Synchronous to the exit: no other part of the run gets to write in between.
      Deno.addSignalListener(signal, () => {
        abortAllOutputs();
        console.error(
          `error: stopped by ${signal}; the unfinished output was removed (run it again)`,
        );
        Deno.exit(code);
      });
    } catch { /* this system does not have the signal (Windows: SIGTERM, SIGHUP) */ }
  }
  try {
    await main();
  } catch (err) {
    console.error(`error: ${flagMessage(describeError(err))}`);
    let debug = false;
    try {
      debug = Boolean(Deno.env.get("FEATURE_INSPECTOR_DEBUG"));
    } catch { /* no env permission: no debug output */ }
    if (!(err instanceof IE) && debug) console.error(err);
    printProfile();
    Deno.exit(err instanceof IE ? err.exitCode : 1);
  }
  printProfile();
  Deno.exit(0);
}

/** With `FEATURE_INSPECTOR_PROFILE=1`: the phase profile (`core/profile.ts`) on stderr. */
function printProfile(): void {
  if (!profileEnabled()) return;
  profileMark("end");
  for (const line of profileLines()) console.error(line);
}
