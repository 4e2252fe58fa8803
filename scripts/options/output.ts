/**
 * Output groups: what `inspect` writes (`outputGroup`), and the output flags the report
 * commands `analyze` and `compare` share (`reportOutputGroup`: folder and layers).
 *
 * @module
 */

import { defineGroup, type Flag, flag, type OptionGroup } from "./group.ts";
import type { InspectOptions } from "../../inspector/run_inspect.ts";
import { DEFAULT_SAVE_DIRS } from "./_save_dirs.ts";

export { DEFAULT_SAVE_DIRS };

/**
 * `--save_dir DIR` with its default folder (`inspect`: out, `analyze`: feature_analysis,
 * `compare`: comparison). `help` is the text before the default.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { saveDirFlag } from "./output.ts";
 * const f = saveDirFlag("out");
 * assert.equal(f.default, "out");
 * assert.equal(f.parse(undefined, "--save_dir"), "out");
 * ```
 */
export function saveDirFlag(
  folder: string,
  options: { help?: string } = {},
): Flag<string> {
  return flag.custom({
    type: "string",
    metavar: "DIR",
    default: folder,
    help: [`${options.help ?? "output folder, created if missing (default {default})"}`],
    parse: (raw) => (raw === undefined ? folder : String(raw)),
  });
}

/**
 * `--overwrite`: replace `what` instead of stopping (without it, a command never replaces files
 * another run wrote; the identical command run again replaces its own).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { overwriteFlag } from "./output.ts";
 * assert.equal(overwriteFlag("x").parse(undefined, "--overwrite"), false);
 * ```
 */
export function overwriteFlag(what: string): Flag<boolean> {
  return flag.boolean({ help: [`replace ${what} (default: stop and name the file)`] });
}

/** What `inspect`'s output flags parse to: the output part of {@linkcode InspectOptions}. */
export type OutputOptions = Pick<
  InspectOptions,
  "saveDir" | "name" | "overwrite" | "dtype" | "gridChannels"
>;

/**
 * The output group of `inspect`: `--save_dir`, `--name`, `--overwrite`, `--dtype`,
 * `--grid_channels`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { outputGroup } from "./output.ts";
 * assert.deepEqual(outputGroup.parse({ dtype: "float16" }), {
 *   saveDir: "out",
 *   name: undefined,
 *   overwrite: false,
 *   dtype: "float16",
 *   gridChannels: undefined,
 * });
 * ```
 */
export const outputGroup: OptionGroup<OutputOptions> = defineGroup("output", {
  save_dir: saveDirFlag(DEFAULT_SAVE_DIRS.inspect),
  name: flag.string({
    metavar: "STEM",
    default: "features",
    help: [
      "output file stem (default {default}; with _b<batch_idx>/_t<timestep> added when they",
      "are not 0, e.g. features_t4)",
    ],
  }),
  overwrite: overwriteFlag("another run's files in --save_dir"),
  dtype: flag.choice(["float32", "float16"] as const, {
    metavar: "TYPE",
    default: "float32",
    help: ["float32 | float16 for the .npy (default {default})"],
  }),
  grid_channels: flag.int({
    metavar: "N",
    min: 0,
    default: "16",
    help: ["channels per feature grid PNG (default {default}; 0 = no PNGs)"],
  }),
}, (v) => ({
  saveDir: v.save_dir,
  name: v.name,
  overwrite: v.overwrite,
  dtype: v.dtype,
  gridChannels: v.grid_channels,
}));

/** What the report output flags parse to (the `analyze` and `compare` options share them). */
export interface ReportOutputOptions {
  /** Output folder (the flag's default when not given). */
  saveDir: string;
  /** Layers to report on (undefined: every layer). */
  layers?: readonly string[];
  /** Replace another report in the folder. */
  overwrite: boolean;
}

/**
 * The output group of the report commands: `--save_dir` and `--layers`, with each command's
 * own default folder and help lines.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { reportOutputGroup } from "./output.ts";
 * const g = reportOutputGroup({
 *   saveDir: "comparison",
 *   layers: { metavar: "NAME...", help: ["layers to compare"] },
 * });
 * assert.deepEqual(g.parse({ layers: ["a", "b"] }), {
 *   saveDir: "comparison",
 *   layers: ["a", "b"],
 *   overwrite: false,
 * });
 * ```
 */
export function reportOutputGroup(options: {
  saveDir: string;
  saveDirHelp?: string;
  layers: { metavar: string; help: readonly string[]; default?: string };
}): OptionGroup<ReportOutputOptions> {
  return defineGroup("output", {
    save_dir: saveDirFlag(options.saveDir, { help: options.saveDirHelp }),
    layers: flag.list(options.layers),
    overwrite: overwriteFlag("a report of other runs in --save_dir"),
  }, (v) => ({ saveDir: v.save_dir, layers: v.layers, overwrite: v.overwrite }));
}
