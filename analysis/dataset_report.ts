/**
 * The dataset report: `analyze` on a dataset-mode run folder (`inspect --all_clips`, which holds
 * `dataset_stats.json` and `clips.jsonl`). Per layer: the value distribution over the whole
 * dataset (from the fixed-edge histogram, `<layer>_dataset_distribution.png`), per-channel mean,
 * std, min, max and sparsity (`<layer>_dataset_channels.png`), the channels dead over the whole
 * dataset (never above zero in any clip) with the health flags; and the clips that drive a layer:
 * robust z-scores of each clip's layer mean from `clips.jsonl`
 * (`(x - median) / (1.4826 * MAD)`, `|z| > 3.5` flagged, `clip_outliers.png`, `outliers.csv`).
 * With gaze (a run over clips with `gaze.csv`): `gaze_alignment.png`, each metric (NSS, AUC-Judd,
 * CC, SIM) of the layers' channel-mean maps by layer, dataset mean over the scored frames, beside
 * the shuffled-gaze baseline (`gaze` in `dataset_summary.json`, mean ± std per metric).
 * Everything is in `dataset_summary.json` and shown by `index.html`; all files are renamed into
 * place together. When the run saved frames (`frames/features.npy`), the normal report of them is
 * written into the `frames/` subfolder of the report and linked.
 *
 * @module
 */

import { basename, join, resolve } from "node:path";
import { InspectorError } from "../core/errors.ts";
import { OutputSet } from "../core/atomic.ts";
import { claimOutputs } from "../core/run_slot.ts";
import { layerFileStem } from "../core/file_stem.ts";
import { type HealthFlag, healthFlags } from "../stats/health.ts";
import type { LayerDatasetStats } from "../stats/dataset_statistics.ts";
import { ROBUST_Z_THRESHOLD, robustZ } from "../stats/robust_z.ts";
import { renderVegaPng } from "../render/vega_png.ts";
import { channelStatsSpec } from "./charts_layer.ts";
import {
  clipOutliersSpec,
  type ClipZPoint,
  datasetDistributionSpec,
  datasetHistogramRows,
} from "./charts_dataset.ts";
import { datasetReportHtml } from "./dataset_report_html.ts";
import { gazeAlignmentSpec } from "./charts_gaze.ts";
import {
  GAZE_METHOD,
  GAZE_METRICS,
  type GazeAlignment,
  type GazeKindScores,
} from "./gaze_alignment.ts";
import type {
  ClipMetric,
  ClipOutlier,
  DatasetGazeMetric,
  DatasetGazeSummary,
  DatasetLayerSummary,
  DatasetReportOptions,
  DatasetSummary,
} from "./_dataset_types.ts";
import { analyzeFeatures } from "./analyze.ts";

export type {
  ClipMetric,
  ClipOutlier,
  DatasetGazeMetric,
  DatasetGazeSummary,
  DatasetLayerSummary,
  DatasetReportOptions,
  DatasetSummary,
} from "./_dataset_types.ts";

/** One line of `clips.jsonl`. */
interface ClipLine {
  clip: string;
  file?: string;
  layers: Record<string, { mean: number; max: number | null; sparsity: number }>;
}

/**
 * The run folder when `path` is a dataset-mode run (a folder holding `dataset_stats.json`, or
 * that file itself), else null.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { datasetRunDir } from "./dataset_report.ts";
 * assert.equal(await datasetRunDir("no/such/folder"), null);
 * ```
 */
export async function datasetRunDir(path: string): Promise<string | null> {
  const dir = basename(path) === "dataset_stats.json" ? join(path, "..") : path;
  try {
    return (await Deno.stat(join(dir, "dataset_stats.json"))).isFile ? dir : null;
  } catch {
    return null;
  }
}

/**
 * Write the dataset report of the run in `runDir` into `options.saveDir`.
 *
 * @returns the content of `dataset_summary.json`
 *
 * @example Usage
 * ```ts ignore
 * import { analyzeDataset } from "./dataset_report.ts";
 * const s = await analyzeDataset("ds", { saveDir: "ds_report" });
 * console.log(s.outliers.map((o) => `${o.layer}: ${o.clip} z=${o.z.toFixed(1)}`));
 * ```
 */
export async function analyzeDataset(
  runDir: string,
  options: DatasetReportOptions = {},
): Promise<DatasetSummary> {
  const progress = options.onProgress ?? (() => {});
  const metric: ClipMetric = options.outlierMetric ?? "mean";
  const threshold = options.threshold ?? ROBUST_Z_THRESHOLD;
  const top = options.top ?? 5;
  if (!["mean", "max", "sparsity"].includes(metric)) {
    throw new InspectorError(
      `options.outlierMetric ${metric}: use mean, max or sparsity`,
    );
  }
  const stats = await readJson(join(runDir, "dataset_stats.json")) as {
    format?: string;
    clips: number;
    gaze?: Omit<DatasetGazeSummary, "method" | "layers" | "best" | "file"> | null;
    layers: (LayerDatasetStats & {
      gaze?: { frames: number; metrics: Record<string, DatasetGazeMetric> };
    })[];
  };
  if (stats.format !== "feature-inspector/dataset-stats" || !Array.isArray(stats.layers)) {
    throw new InspectorError(
      `${join(runDir, "dataset_stats.json")} is not a dataset statistics file: give the folder ` +
        `a dataset run (runDataset) wrote`,
    );
  }
  const clips = await readClipLines(join(runDir, "clips.jsonl"));
  let layers = stats.layers;
  if (options.layers && options.layers.length) {
    const missing = options.layers.filter((n) => !layers.some((l) => l.name === n));
    if (missing.length) {
      throw new InspectorError(
        `options.layers ${missing.join(", ")} not in the run; it has ${
          layers.map((l) => l.name).join(", ")
        }`,
      );
    }
    layers = options.layers.map((n) => stats.layers.find((l) => l.name === n)!);
  }
  await claimOutputs(options.saveDir ?? "feature_analysis", ["dataset_summary.json"], {
    key: { source: resolve(runDir) },
    records: () => ["dataset_summary.json"],
    keyOf: (r) => ({ source: resolve(String(r.source ?? "")) }),
    overwrite: options.overwrite,
    hint: "pass another options.saveDir to keep both, or options.overwrite to replace it",
  });
  const out = await OutputSet.open(options.saveDir ?? "feature_analysis");
  const names: string[] = [];
  const figures: DatasetSummary["figures"] = {};
  const write = async (name: string, bytes: Uint8Array): Promise<void> => {
    await out.writeFile(name, bytes);
    names.push(name);
    if (name.endsWith(".png")) {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      figures[name] = { width: dv.getUint32(16), height: dv.getUint32(20), scale: 2 };
    }
  };
  try {
    const summaryLayers: Record<string, DatasetLayerSummary> = Object.create(null);
    const allFlags: DatasetSummary["flags"] = [];
    const allOutliers: DatasetSummary["outliers"] = [];
    const points: ClipZPoint[] = [];
    const csv = ["layer,clip,file,index,metric,value,median,mad,z,flagged"];
    const stems = new Set<string>();
    for (const l of layers) {
      progress(`layer ${l.name}`);
      let stem = layerFileStem(l.name);
      for (let k = 2; stems.has(stem); k++) stem = `${layerFileStem(l.name)}_${k}`;
      stems.add(stem);
      const over = `${stats.clips} clips, ${l.frames} frames`;
      const dist = `${stem}_dataset_distribution.png`;
      await write(
        dist,
        await renderVegaPng(datasetDistributionSpec(l.name, l.histogram, {
          logCounts: options.logCounts,
          over,
        })),
      );
      const chan = `${stem}_dataset_channels.png`;
      const num = (a: readonly (number | null)[]): number[] => a.map((v) => v ?? NaN);
      await write(
        chan,
        await renderVegaPng(channelStatsSpec(l.name, {
          geometry: { channels: l.channels },
          frames: l.frames,
          summary: { mean: l.summary.mean },
          channels: {
            mean: l.per_channel.mean,
            std: l.per_channel.std,
            min: num(l.per_channel.min),
            max: num(l.per_channel.max),
            sparsity: l.per_channel.sparsity,
          },
          deadChannels: l.dead_channels,
        }, {
          sortBy: options.sortChannels,
          withMin: true,
          over: `the whole dataset (${over})`,
          deadMeaning: "never above 0 in any clip",
        })),
      );
      const flags = datasetFlags(l);
      for (const f of flags) allFlags.push({ layer: l.name, ...f });

      const values = clips.map((c) => {
        const v = c.layers[l.name]?.[metric];
        return typeof v === "number" ? v : NaN;
      });
      const rz = robustZ(values);
      const rows: ClipOutlier[] = [];
      for (const [i, c] of clips.entries()) {
        const z = rz.z[i];
        if (z === null) continue;
        const o = {
          clip: c.clip,
          file: c.file ?? c.clip,
          index: i,
          value: values[i],
          z,
          flagged: Math.abs(z) > threshold,
        };
        rows.push(o);
        points.push({ layer: l.name, clip: c.clip, z, flagged: o.flagged });
        csv.push(
          [l.name, c.clip, o.file, i, metric, values[i], rz.median, rz.mad, z, o.flagged ? 1 : 0]
            .map(csvCell).join(","),
        );
      }
      const ranked = [...rows].sort((a, b) => Math.abs(b.z) - Math.abs(a.z) || a.index - b.index);
      for (const o of ranked) if (o.flagged) allOutliers.push({ layer: l.name, ...o });
      summaryLayers[l.name] = {
        channels: l.channels,
        frames: l.frames,
        values: l.values,
        summary: l.summary,
        dead_channels: l.dead_channels,
        dead_count: l.dead_channels.length,
        nonfinite: l.nonfinite,
        flags,
        histogram: datasetHistogramRows(l.histogram).map((r) => ({
          label: r.label,
          lo: Number.isFinite(r.lo) ? r.lo : null,
          hi: Number.isFinite(r.hi) ? r.hi : null,
          count: r.count,
        })),
        outliers: {
          median: rz.median,
          mad: rz.mad,
          scale: rz.scale,
          flagged: rows.filter((o) => o.flagged).length,
          top: ranked.slice(0, top),
        },
        files: [dist, chan],
      };
    }
    allOutliers.sort((a, b) => Math.abs(b.z) - Math.abs(a.z));
    progress("drawing clip_outliers.png");
    await write(
      "clip_outliers.png",
      await renderVegaPng(
        clipOutliersSpec(points, { layers: layers.map((l) => l.name), threshold, metric }),
      ),
    );
    await write("outliers.csv", new TextEncoder().encode(csv.join("\n") + "\n"));

    let gaze: DatasetGazeSummary | null = null;
    const scored = layers.filter((l) => l.gaze);
    if (stats.gaze && scored.length) {
      progress("drawing gaze_alignment.png");
      gaze = {
        ...stats.gaze,
        method: GAZE_METHOD,
        layers: Object.fromEntries(scored.map((l) => [l.name, l.gaze!])),
        best: null,
        file: "gaze_alignment.png",
      };
      for (const l of scored) {
        const v = l.gaze!.metrics.nss?.mean;
        if (typeof v === "number" && (!gaze.best || v > gaze.best.nss)) {
          gaze.best = { layer: l.name, nss: v };
        }
      }
      const none = Object.fromEntries(
        GAZE_METRICS.map((m) => [m, { value: null, shuffled: null }]),
      ) as GazeKindScores;
      const frames = scored.reduce((a, l) => Math.max(a, l.gaze!.frames), 0);
      const g = stats.gaze;
      const chart: GazeAlignment = {
        grid: {
          frame_width: g.frame.width,
          frame_height: g.frame.height,
          frame_size_source: "the dataset pass",
          ...g.grid,
          sigma_source: "default: frame width / 16, rounded",
        },
        frames,
        frames_with_gaze: frames,
        topk: 0,
        shuffle: g.shuffle,
        method: GAZE_METHOD,
        layers: scored.map((l) => ({
          layer: l.name,
          map: { height: 0, width: 0 },
          topk_channels: [],
          kinds: {
            mean: Object.fromEntries(GAZE_METRICS.map((m) => [m, {
              value: l.gaze!.metrics[m]?.mean ?? null,
              shuffled: l.gaze!.metrics[m]?.shuffled_mean ?? null,
            }])) as GazeKindScores,
            topk: none,
          },
          best_kind: "mean",
          best_frame: null,
          worst_frame: null,
          per_frame: [],
        })),
        best: gaze.best ? { layer: gaze.best.layer, kind: "mean", nss: gaze.best.nss } : null,
        files: [],
      };
      await write(
        "gaze_alignment.png",
        await renderVegaPng(gazeAlignmentSpec(chart, {
          kinds: ["mean"],
          over: `${frames} frames of the clips with gaze (${stats.clips} clips), dataset means`,
          title: "Gaze alignment by layer over the dataset",
        })),
      );
    }

    let frames: DatasetSummary["frames"] = null;
    const npy = join(runDir, "frames", "features.npy");
    if (options.frames !== false && await isFile(npy)) {
      progress(`saved frames: ${npy}`);
      await analyzeFeatures(npy, {
        saveDir: join(out.dir, "frames"),
        overwrite: true,
        logCounts: options.logCounts,
        sortChannels: options.sortChannels,
        onProgress: options.onProgress,
      });
      frames = { npy, report: "frames/index.html" };
    }
    const summary: DatasetSummary = {
      format: "feature-inspector/dataset-analysis v1",
      source: resolve(runDir),
      clips: stats.clips,
      method: {
        metric,
        threshold,
        z: "(x - median) / (1.4826 * MAD) over the clips' layer " + metric +
          " (clips.jsonl); MAD 0: 1.2533 * mean absolute deviation",
        dead: "channels whose maximum over every value of every clip is <= 0",
      },
      layers: summaryLayers,
      flags: allFlags,
      outliers: allOutliers,
      gaze,
      frames,
      files: [...names, "dataset_summary.json", "index.html"],
      figures,
    };
    await write(
      "dataset_summary.json",
      new TextEncoder().encode(JSON.stringify(summary, null, 1) + "\n"),
    );
    await write("index.html", new TextEncoder().encode(datasetReportHtml(summary)));
    await out.commit();
    progress(`wrote ${names.length} files to ${out.dir}`);
    return summary;
  } catch (err) {
    await out.abort();
    throw err;
  }
}

/** Health flags of a layer over the dataset; dead channels are those never above zero. */
function datasetFlags(l: LayerDatasetStats): HealthFlag[] {
  const flags = healthFlags({
    mean: l.summary.mean,
    sparsity: l.summary.sparsity,
    nonfinite: l.nonfinite,
    min: l.summary.min ?? undefined,
    count: l.values + l.nonfinite,
    channels: l.channels,
    deadChannels: [],
  });
  const dead = l.dead_channels;
  if (dead.length > 0 && dead.length === l.channels) {
    flags.push({
      level: "error",
      code: "all_dead",
      message: `all ${l.channels} channels are never above zero in any clip: the layer is dead.`,
    });
  } else if (dead.length > 0) {
    flags.push({
      level: "warn",
      code: "dead_channels",
      message: `${dead.length} of ${l.channels} channels are never above zero over the whole ` +
        `dataset (dead across all clips, not one batch): ${dead.slice(0, 20).join(", ")}${
          dead.length > 20 ? ", …" : ""
        }.`,
    });
  }
  return flags;
}

function csvCell(v: unknown): string {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new InspectorError(
      `cannot read ${path} (${(err as Error).message.split("\n")[0]}): give the folder ` +
        `a dataset run (runDataset) wrote`,
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new InspectorError(`${path} is not valid JSON: rerun the dataset run`);
  }
}

/** `clips.jsonl`, one object per line (streamed line by line). */
async function readClipLines(path: string): Promise<ClipLine[]> {
  const out: ClipLine[] = [];
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch {
    throw new InspectorError(
      `cannot read ${path}: give the folder a dataset run (runDataset) wrote`,
    );
  }
  const lines = file.readable.pipeThrough(new TextDecoderStream());
  let rest = "", n = 0;
  const take = (line: string): void => {
    n++;
    if (!line.trim()) return;
    try {
      const o = JSON.parse(line) as ClipLine;
      if (typeof o.clip !== "string" || typeof o.layers !== "object") throw new Error();
      out.push(o);
    } catch {
      throw new InspectorError(`${path} line ${n} is not a clip line: rerun the dataset run`);
    }
  };
  for await (const chunk of lines) {
    rest += chunk;
    let k: number;
    while ((k = rest.indexOf("\n")) >= 0) {
      take(rest.slice(0, k));
      rest = rest.slice(k + 1);
    }
  }
  take(rest);
  return out;
}
