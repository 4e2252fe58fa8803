/**
 * `deno task analyze FILE.npy`: turn a saved extraction into PNG charts, `summary.json` and an
 * `index.html` report. See README.md and `--help`.
 *
 * @module
 */

import { intFlag, parseCli, runMain } from "./cli_args.ts";
import { analyzeFeatures } from "../analysis/analyze.ts";
import { CHANNEL_SORT_KEYS, type ChannelSortKey } from "../analysis/charts_layer.ts";
import { InspectorError } from "../core/errors.ts";

/** Help text. */
export const ANALYZE_HELP =
  `feature-inspector analyze — charts, statistics and health flags of saved features

Usage: deno task analyze FILE.npy [flags]

  FILE.npy              the structured features file written by inspect (its FILE.json
                        manifest is used when it is beside it; the .npy alone is enough)
  --save_dir DIR        output folder, created if missing (default feature_analysis)
  --layers L [L ...]    layers to analyse, several after one flag or comma-separated
                        (default: every layer in the file)
  --log_counts          logarithmic histogram counts (useful after a ReLU)
  --sort_channels KEY   channel order in <layer>_channel_stats.png:
                        index | mean | std | max | sparsity (default index)
  --bins N              histogram bins (default 60)
  --gpu MODE            statistics on the GPU: auto | on | off (default auto)
  --quiet               print only the flags and the output folder
  --help

Writes <layer>_distribution.png, <layer>_channel_stats.png, <layer>_spatial_patterns.png,
layer_comparison.png, temporal.png (several frames or a manifest with whole-sequence
statistics), summary.json and index.html. Kebab-case aliases work too (--save-dir ...).`;

const FLAGS = {
  save_dir: { type: "string" },
  layers: { type: "string", multiple: true },
  log_counts: { type: "boolean" },
  sort_channels: { type: "string" },
  bins: { type: "string" },
  gpu: { type: "string" },
  quiet: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Run the analyze command on command-line arguments (without the command name).
 *
 * @example Usage
 * ```ts ignore
 * import { analyzeCommand } from "./analyze.ts";
 * await analyzeCommand(["out/features.npy", "--save_dir", "feature_analysis"]);
 * ```
 */
export async function analyzeCommand(args: readonly string[]): Promise<void> {
  {
    const { values: v, positionals } = parseCli(args, { flags: FLAGS, positionals: 1 });
    if (v.help) {
      console.log(ANALYZE_HELP);
      return;
    }
    const file = positionals[0];
    if (!file) {
      throw new InspectorError(
        "give the features file: deno task analyze out/features.npy (see --help)",
      );
    }
    const sort = v.sort_channels as string | undefined;
    if (sort !== undefined && !CHANNEL_SORT_KEYS.includes(sort as ChannelSortKey)) {
      throw new InspectorError(
        `--sort_channels ${sort}: use one of ${CHANNEL_SORT_KEYS.join(", ")}`,
      );
    }
    const gpu = v.gpu as string | undefined;
    if (gpu !== undefined && !["auto", "on", "off"].includes(gpu)) {
      throw new InspectorError(`--gpu ${gpu}: use one of auto, on, off`);
    }
    const bins = intFlag(v.bins, "--bins", { min: 1 });
    if (bins !== undefined && bins > 1024) {
      throw new InspectorError(`--bins ${bins}: use at most 1024 bins`);
    }
    const quiet = Boolean(v.quiet);
    const summary = await analyzeFeatures(file, {
      saveDir: v.save_dir as string | undefined,
      layers: v.layers as string[] | undefined,
      logCounts: Boolean(v.log_counts),
      sortChannels: sort as ChannelSortKey | undefined,
      bins,
      gpu: gpu as "auto" | "on" | "off" | undefined,
      onProgress: quiet ? undefined : (line) => console.log(line),
    });
    const n = Object.keys(summary.layers).length;
    console.log(
      `analysed ${n} layer${n === 1 ? "" : "s"} of ${file}${
        summary.manifest ? ` (with ${summary.manifest})` : ""
      }`,
    );
    if (summary.flags.length) {
      console.log("health flags:");
      for (const f of summary.flags) console.log(`  [${f.level}] ${f.layer}: ${f.message}`);
    } else {
      console.log("health: every layer inside the healthy ranges");
    }
    const dir = v.save_dir ?? "feature_analysis";
    console.log(`report: ${dir}/index.html (${summary.files.length} files)`);
  }
}

if (import.meta.main) await runMain(() => analyzeCommand(Deno.args));
