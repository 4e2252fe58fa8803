/**
 * Output groups: what `inspect` writes (`outputGroup`), and the output flags the report
 * commands `analyze` and `compare` share (`reportOutputGroup`: folder and layers).
 *
 * @module
 */

import { defineGroup, type Flag, flag, type OptionGroup } from "./group.ts";
import type { InspectOptions } from "../../inspector/run_inspect.ts";

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

/** What `inspect`'s output flags parse to: the output part of {@linkcode InspectOptions}. */
export type OutputOptions = Pick<InspectOptions, "saveDir" | "name" | "dtype" | "gridChannels">;

/**
 * The output group of `inspect`: `--save_dir`, `--name`, `--dtype`, `--grid_channels`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { outputGroup } from "./output.ts";
 * assert.deepEqual(outputGroup.parse({ dtype: "float16" }), {
 *   saveDir: "out",
 *   name: undefined,
 *   dtype: "float16",
 *   gridChannels: undefined,
 * });
 * ```
 */
export const outputGroup: OptionGroup<OutputOptions> = defineGroup("output", {
  save_dir: saveDirFlag("out"),
  name: flag.string({
    metavar: "STEM",
    default: "features",
    help: ["output file stem (default {default})"],
  }),
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
}, (v) => ({ saveDir: v.save_dir, name: v.name, dtype: v.dtype, gridChannels: v.grid_channels }));

/** What the report output flags parse to (the `analyze` and `compare` options share them). */
export interface ReportOutputOptions {
  /** Output folder (the flag's default when not given). */
  saveDir: string;
  /** Layers to report on (undefined: every layer). */
  layers?: readonly string[];
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
 * assert.deepEqual(g.parse({ layers: ["a", "b"] }), { saveDir: "comparison", layers: ["a", "b"] });
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
  }, (v) => ({ saveDir: v.save_dir, layers: v.layers }));
}
