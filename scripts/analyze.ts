/**
 * `deno task analyze FILE.npy`: turn a saved extraction into PNG charts, `summary.json` and an
 * `index.html` report. See README.md and `--help`.
 *
 * @module
 */

import { intFlag, runMain } from "./cli_args.ts";
import { analyzeFeatures, type AnalyzeOptions } from "../analysis/analyze.ts";
import { analyzeDataset, datasetRunDir } from "../analysis/dataset_report.ts";
import { CHANNEL_SORT_KEYS } from "../analysis/charts_layer.ts";
import { InspectorError } from "../core/errors.ts";
import {
  commandHelp,
  defineCommand,
  defineGroup,
  flag,
  type OptionGroup,
  parseCommand,
} from "./options/group.ts";
import { DEFAULT_SAVE_DIRS, reportOutputGroup } from "./options/output.ts";
import { gpuFlag } from "./options/runtime.ts";
import { commonGroup } from "./options/common.ts";

/** What analyze's own flags parse to: the chart part of {@linkcode AnalyzeOptions}. */
export type AnalyzeChartOptions = Pick<
  AnalyzeOptions,
  "logCounts" | "sortChannels" | "bins" | "gpu" | "gazeSigma" | "chartWorkers"
>;

/**
 * Analyze's own group: `--log_counts`, `--sort_channels`, `--bins`, `--gpu`, `--gaze_sigma`,
 * `--chart_workers`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { analyzeGroup } from "./analyze.ts";
 * assert.equal(analyzeGroup.parse({ bins: "30" }).bins, 30);
 * assert.throws(() => analyzeGroup.parse({ bins: "2000" }), /--bins 2000: use at most 1024 bins/);
 * ```
 */
export const analyzeGroup: OptionGroup<AnalyzeChartOptions> = defineGroup("analyze", {
  log_counts: flag.boolean({ help: ["logarithmic histogram counts (useful after a ReLU)"] }),
  sort_channels: flag.choice(CHANNEL_SORT_KEYS, {
    metavar: "KEY",
    default: "index",
    help: [
      "channel order in <layer>_channel_stats.png:",
      `${CHANNEL_SORT_KEYS.join(" | ")} (default {default})`,
    ],
  }),
  bins: flag.custom({
    type: "string",
    metavar: "N",
    default: "60",
    help: ["histogram bins (default {default})"],
    parse: (raw, name) => {
      const bins = intFlag(raw, name, { min: 1 });
      if (bins !== undefined && bins > 1024) {
        throw new InspectorError(`${name} ${bins}: use at most 1024 bins`);
      }
      return bins;
    },
  }),
  gpu: gpuFlag,
  gaze_sigma: flag.custom({
    type: "string",
    metavar: "PX",
    default: "frame width / 16",
    help: [
      "gaze alignment: Gaussian sigma of the fixation map in frame pixels",
      "(default {default}, rounded; used only when the manifest has gaze)",
    ],
    parse: (raw, name) => {
      if (raw === undefined) return undefined;
      const s = String(raw), v = Number(s);
      if (!s.trim() || !Number.isFinite(v) || !(v > 0)) {
        throw new InspectorError(`${name} ${s}: use a positive number of frame pixels, e.g. 16`);
      }
      return v;
    },
  }),
  chart_workers: flag.int({
    metavar: "N",
    default: "cores - 1, at most 4; 0 on 2 cores",
    min: 0,
    help: [
      "worker threads that draw the charts while the next layer is read",
      "(default {default}); each costs about 100 MiB, 0 uses the least memory",
    ],
  }),
}, (v) => ({
  logCounts: v.log_counts,
  sortChannels: v.sort_channels,
  bins: v.bins,
  gpu: v.gpu,
  gazeSigma: v.gaze_sigma,
  chartWorkers: v.chart_workers,
}));

/** The analyze command: its option groups, from which its parser and help are made. */
export const ANALYZE_COMMAND = defineCommand({
  name: "analyze",
  header: `feature-inspector analyze — charts, statistics and health flags of saved features

Usage: deno task analyze FILE.npy [flags]
       deno task analyze RUN_DIR [flags]   (a dataset-mode run: inspect --all_clips)`,
  footer: `Writes <layer>_distribution.png, <layer>_channel_stats.png, <layer>_spatial_patterns.png,
layer_comparison.png, temporal.png (several frames or a manifest with whole-sequence
statistics), gaze_alignment.csv/.png and gaze_alignment_frames.png (when the manifest has
gaze), summary.json and index.html. On a dataset-mode run folder (dataset_stats.json):
<layer>_dataset_distribution.png, <layer>_dataset_channels.png, clip_outliers.png,
outliers.csv, dataset_summary.json and index.html (and frames/ for its saved frames).
Kebab-case aliases work too (--save-dir ...).`,
  positionals: {
    max: 1,
    entries: [{
      label: "FILE.npy",
      help: [
        "the structured features file written by inspect (its FILE.json",
        "manifest is used when it is beside it; the .npy alone is enough),",
        "or the folder of an inspect --all_clips run (dataset report)",
      ],
    }],
    check: (p) => {
      if (!p[0]) {
        throw new InspectorError(
          "give the features file: deno task analyze out/features.npy (see --help)",
        );
      }
    },
  },
  groups: {
    output: reportOutputGroup({
      saveDir: DEFAULT_SAVE_DIRS.analyze,
      layers: {
        metavar: "L [L ...]",
        default: "every layer in the file",
        help: [
          "layers to analyse, several after one flag or comma-separated",
          "(default: {default})",
        ],
      },
    }),
    analyze: analyzeGroup,
    common: commonGroup({ quiet: "print only the flags and the output folder" }),
  },
});

/** Help text. */
export const ANALYZE_HELP: string = commandHelp(ANALYZE_COMMAND);

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
    const parsed = parseCommand(args, ANALYZE_COMMAND);
    if (parsed.help || parsed.version) {
      console.log(ANALYZE_HELP);
      return;
    }
    const file = parsed.positionals[0];
    const { output, analyze, common } = parsed.options;
    const runDir = await datasetRunDir(file);
    if (runDir !== null) {
      const s = await analyzeDataset(runDir, {
        saveDir: output.saveDir,
        layers: output.layers,
        overwrite: output.overwrite,
        logCounts: analyze.logCounts,
        sortChannels: analyze.sortChannels,
        onProgress: common.quiet ? undefined : (line) => console.error(line),
      });
      for (const [name, l] of Object.entries(s.layers)) {
        console.log(
          `${name}: ${l.dead_count}/${l.channels} channels dead over the dataset, ` +
            `${l.outliers.flagged} outlier clip${l.outliers.flagged === 1 ? "" : "s"}`,
        );
      }
      for (const o of s.outliers.slice(0, 10)) {
        console.log(`  outlier ${o.layer}: ${o.clip} (${o.file}) z ${o.z.toFixed(2)}`);
      }
      for (const f of s.flags) console.log(`  [${f.level}] ${f.layer}: ${f.message}`);
      console.log(`report: ${output.saveDir}/index.html (${s.files.length} files)`);
      return;
    }
    const summary = await analyzeFeatures(file, {
      saveDir: output.saveDir,
      layers: output.layers,
      overwrite: output.overwrite,
      ...analyze,
      onProgress: common.quiet ? undefined : (line) => console.error(line),
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
    console.log(`report: ${output.saveDir}/index.html (${summary.files.length} files)`);
  }
}

if (import.meta.main) await runMain(() => analyzeCommand(Deno.args));
