/**
 * `analyze`: turn a saved extraction (`features.npy`, and its manifest `features.json` when it is
 * beside it) into a report: per-layer distribution / channel / spatial PNGs, a layer comparison,
 * a temporal view, `summary.json` (every number the plots draw, plus health flags) and an
 * `index.html` that shows it all.
 *
 * The `.npy` is read one layer at a time (one field of every saved frame), so only one layer's
 * values (plus one sorted copy for exact quantiles) are in memory at once. All files are written
 * under temporary names and renamed into place at the end; on any error nothing is left behind.
 *
 * Manifest keys read (all optional): `targets.batch_idx`, `targets.timestep`,
 * `layers[].name`, `.layout`, `.tensor`, `.folded`, `.alias_of`, `.per_frame[b][t].{mean,sparsity}`,
 * `data.saved_frames[b][t].gaze[]` (or `data.gaze[b][t][]`) with `{x, y}` in [0, 1].
 *
 * @module
 */

import { basename, dirname, extname, join } from "node:path";
import { InspectorError } from "../core/errors.ts";
import type { ManifestChannels, ManifestSummary } from "../core/manifest.ts";
import { StructuredNpyReader } from "../core/npy.ts";
import { OutputSet } from "../core/atomic.ts";
import { reduceRows, type RowMoments } from "../stats/moments.ts";
import { createReducer, type Reducer } from "../shaders/reduce.ts";
import { computeLayerStatistics, type LayerStatistics } from "../stats/layer_statistics.ts";
import { type HealthFlag, healthFlags } from "../stats/health.ts";
import {
  CHANNEL_SORT_KEYS,
  type ChannelSortKey,
  channelStatsSpec,
  distributionSpec,
  spatialSpec,
} from "./charts_layer.ts";
import {
  layerComparisonSpec,
  type LayerOverview,
  type TemporalHeatmap,
  type TemporalPoint,
  temporalSpec,
} from "./charts_overview.ts";
import { renderVegaPng } from "../render/vega_png.ts";
import { reportHtml } from "./report_html.ts";

/** Something that reduces rows like `reduceRows` (the CPU reference or a GPU reducer). */
export interface RowReducer {
  /** Moments of `rows` runs of `width` values. */
  reduceRows(data: Float32Array, rows: number, width: number): Promise<RowMoments> | RowMoments;
  /** Where it runs, for the summary (e.g. `"cpu"`, `"webgpu (llvmpipe)"`). */
  where?: string;
}

/** Options of {@linkcode analyzeFeatures}. */
export interface AnalyzeOptions {
  /** Output folder (default `feature_analysis`). */
  saveDir?: string;
  /** Layers to analyse (default: every field of the file), in this order. */
  layers?: readonly string[];
  /** Logarithmic histogram counts. */
  logCounts?: boolean;
  /** Order of channels in the channel-statistics chart (default `index`). */
  sortChannels?: ChannelSortKey;
  /** Histogram bins (default 60). */
  bins?: number;
  /** Reduction on the GPU: `auto` (when an adapter exists), `on` or `off` (default auto). */
  gpu?: "auto" | "on" | "off";
  /** Reduction backend (overrides `gpu`; default: the CPU reference `reduceRows`). */
  reducer?: RowReducer;
  /** Progress messages (one line each). */
  onProgress?: (message: string) => void;
}

/**
 * Summary statistics as written to `summary.json` (non-finite numbers as `null`): the manifest's
 * mean, std, min, max, sparsity and nonfinite, and more.
 */
export interface LayerSummary extends ManifestSummary {
  /** Per-frame field shape, e.g. `[64, 28, 28]`. */
  shape: number[];
  /** Number of saved frames the statistics cover. */
  frames: number;
  /** Number of values. */
  count: number;
  /** Exact quantiles of the finite values. */
  quantiles: Record<"p1" | "p5" | "p25" | "p50" | "p75" | "p95" | "p99", number | null>;
  /** Per-channel statistics over the saved frames (the manifest's, and the minimum). */
  channels: ManifestChannels & {
    /** Minimum per channel. */
    min: (number | null)[];
  };
  /** Channels that are all zero in every saved frame. */
  dead_channels: number[];
  /** Health flags. */
  flags: HealthFlag[];
  /** Everything else the plots draw. */
  plots: Record<string, unknown>;
  /** Manifest notes (layout, tensor, folded BN), when a manifest was found. */
  manifest?: Record<string, unknown>;
  /** The PNG files of this layer. */
  files: string[];
}

/** The content of `summary.json`. */
export interface AnalysisSummary {
  /** The analysed `.npy`. */
  source: string;
  /** The manifest used, or null. */
  manifest: string | null;
  /** Tool and format. */
  format: string;
  /** ISO time of the analysis. */
  created: string;
  /** Saved frames: array shape and the batch/time labels of its axes. */
  records: { shape: number[]; batch_idx: number[]; timestep: number[] };
  /** How statistics were computed. */
  method: { reduction: string; quantiles: string; histogram: string; std: string };
  /** Per layer, in analysis order. */
  layers: Record<string, LayerSummary>;
  /** All flags, with their layer. */
  flags: (HealthFlag & { layer: string })[];
  /** Whole-sequence / saved-frame statistics over time, when drawn. */
  temporal: { source: string; points: TemporalPoint[]; heatmaps: TemporalHeatmap[] } | null;
  /** Files written, relative to the output folder. */
  files: string[];
  /** Pixel size of every PNG and its density (2 = drawn at 2x). */
  figures: Record<string, { width: number; height: number; scale: number }>;
}

const nn = (v: number): number | null => (Number.isFinite(v) ? v : null);
const nnArr = (a: readonly number[]): (number | null)[] => a.map(nn);

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const numArr = (v: unknown): number[] | null =>
  Array.isArray(v) && v.every((x) => typeof x === "number") ? v as number[] : null;

/** Safe file-name stem for a layer name (dots kept, path separators replaced). */
export function layerFileStem(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, "") || "layer";
}

async function readManifest(npyPath: string, warn: (m: string) => void): Promise<
  { path: string; json: Json } | null
> {
  const path = join(dirname(npyPath), basename(npyPath, extname(npyPath)) + ".json");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return null;
  }
  try {
    const json = JSON.parse(text);
    if (!isObj(json)) throw new Error("not an object");
    return { path, json };
  } catch (err) {
    warn(`ignoring manifest ${path}: not valid JSON (${(err as Error).message.split("\n")[0]})`);
    return null;
  }
}

function gazeOf(manifest: Json | null, b: number, t: number): { x: number; y: number }[] {
  if (!manifest || !isObj(manifest.data)) return [];
  const data = manifest.data;
  let cell: unknown;
  const sf = data.saved_frames;
  if (Array.isArray(sf) && Array.isArray(sf[b]) && isObj(sf[b][t])) cell = sf[b][t].gaze;
  else if (Array.isArray(data.gaze) && Array.isArray(data.gaze[b])) cell = data.gaze[b][t];
  if (!Array.isArray(cell)) return [];
  return cell.filter((g): g is { x: number; y: number } =>
    isObj(g) && typeof g.x === "number" && typeof g.y === "number" && Number.isFinite(g.x) &&
    Number.isFinite(g.y)
  ).map((g) => ({ x: g.x, y: g.y }));
}

function manifestLayer(manifest: Json | null, name: string): Json | null {
  if (!manifest || !Array.isArray(manifest.layers)) return null;
  const l = manifest.layers.find((x) => isObj(x) && x.name === name);
  return isObj(l) ? l : null;
}

/**
 * Analyse a features `.npy` and write the report into `options.saveDir`.
 *
 * @returns the content of `summary.json`
 *
 * @example Usage
 * ```ts ignore
 * import { analyzeFeatures } from "./analyze.ts";
 * const summary = await analyzeFeatures("out/features.npy", { saveDir: "feature_analysis" });
 * console.log(summary.flags.map((f) => `${f.layer}: ${f.message}`).join("\n"));
 * ```
 */
export async function analyzeFeatures(
  npyPath: string,
  options: AnalyzeOptions = {},
): Promise<AnalysisSummary> {
  const progress = options.onProgress ?? (() => {});
  const sortBy = options.sortChannels ?? "index";
  if (!CHANNEL_SORT_KEYS.includes(sortBy)) {
    throw new InspectorError(
      `unknown channel sort key '${sortBy}': use one of ${CHANNEL_SORT_KEYS.join(", ")}`,
    );
  }
  using reader = await StructuredNpyReader.open(npyPath);
  const all = reader.fieldNames;
  if (!all.length) throw new InspectorError(`${npyPath} holds no layers (no fields)`);
  const wanted = options.layers?.length ? [...options.layers] : all;
  const missing = wanted.filter((l) => !all.includes(l));
  if (missing.length) {
    throw new InspectorError(
      `layer${missing.length > 1 ? "s" : ""} ${missing.map((m) => `'${m}'`).join(", ")} not in ` +
        `${npyPath}; it holds: ${all.join(", ")}`,
    );
  }
  const layers = [...new Set(wanted)];
  const shape = reader.header.shape;
  const nB = shape.length >= 2 ? shape[0] : shape.length === 1 ? shape[0] : 1;
  const nT = shape.length >= 2 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
  const R = reader.recordCount;
  if (R === 0) {
    throw new InspectorError(`${npyPath} holds no saved frames (shape ${JSON.stringify(shape)})`);
  }

  const man = await readManifest(npyPath, progress);
  const mj = man?.json ?? null;
  const targets = isObj(mj?.targets) ? mj!.targets as Json : {};
  const bLabels = numArr(targets.batch_idx)?.length === nB
    ? numArr(targets.batch_idx)!
    : Array.from({ length: nB }, (_, i) => i);
  const tLabels = numArr(targets.timestep)?.length === nT
    ? numArr(targets.timestep)!
    : Array.from({ length: nT }, (_, i) => i);
  const gaze: { x: number; y: number }[] = [];
  for (let b = 0; b < nB; b++) for (let t = 0; t < nT; t++) gaze.push(...gazeOf(mj, b, t));

  let gpuReducer: Reducer | null = null;
  let reducer: RowReducer;
  if (options.reducer) reducer = options.reducer;
  else if (options.gpu === "off") reducer = { reduceRows, where: "cpu (reference)" };
  else {
    gpuReducer = await createReducer({ gpu: options.gpu ?? "auto", onInfo: progress });
    const r = gpuReducer;
    const info = r.info;
    reducer = {
      reduceRows: (data, rows, width) => r.reduceRows(data, [rows, width]),
      where: info.where === "webgpu"
        ? `webgpu (${info.adapter ?? "adapter"})`
        : `cpu (${info.reason})`,
    };
  }
  let out: OutputSet;
  try {
    out = await OutputSet.open(options.saveDir ?? "feature_analysis");
  } catch (err) {
    await gpuReducer?.close();
    throw err;
  }
  const files: string[] = [];
  const figures: Record<string, [number, number]> = {};
  const write = async (name: string, bytes: Uint8Array): Promise<void> => {
    await out.writeFile(name, bytes);
    files.push(name);
    if (name.endsWith(".png")) {
      // PNG IHDR: width and height (big-endian) at bytes 16 and 20.
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      figures[name] = [dv.getUint32(16), dv.getUint32(20)];
    }
  };
  try {
    const summaryLayers: Record<string, LayerSummary> = {};
    const overview: LayerOverview[] = [];
    const allFlags: (HealthFlag & { layer: string })[] = [];
    const savedPoints: TemporalPoint[] = [];
    const manifestPoints: TemporalPoint[] = [];
    const heatmaps: TemporalHeatmap[] = [];

    for (const name of layers) {
      const field = reader.field(name);
      progress(`${name}: reading ${R} frame${R === 1 ? "" : "s"} of (${field.shape.join(", ")})`);
      let data: Float32Array | null = await reader.readFieldAll(name);
      const fieldShape = field.shape.length ? field.shape : [1];
      const C = fieldShape[0];
      const rowWidth = fieldShape.slice(1).reduce((a, b) => a * b, 1);
      const moments = await reducer.reduceRows(data, R * C, rowWidth);
      const stats: LayerStatistics = computeLayerStatistics(
        data,
        moments,
        { frames: R, shape: fieldShape },
        { bins: options.bins },
      );
      data = null; // the layer's values are no longer needed
      const flags = healthFlags({
        mean: stats.summary.mean,
        sparsity: stats.summary.sparsity,
        nonfinite: stats.summary.nonfinite,
        count: stats.summary.count,
        min: stats.summary.min,
        channels: C,
        deadChannels: stats.deadChannels,
      });
      for (const f of flags) allFlags.push({ layer: name, ...f });

      const stem = layerFileStem(name);
      const layerFiles = [
        `${stem}_distribution.png`,
        `${stem}_channel_stats.png`,
        `${stem}_spatial_patterns.png`,
      ];
      progress(`${name}: drawing ${layerFiles.join(", ")}`);
      await write(
        layerFiles[0],
        await renderVegaPng(distributionSpec(name, stats, { logCounts: options.logCounts })),
      );
      await write(layerFiles[1], await renderVegaPng(channelStatsSpec(name, stats, { sortBy })));
      await write(layerFiles[2], await renderVegaPng(spatialSpec(name, stats, { gaze })));

      const ml = manifestLayer(mj, name);
      const notes: Record<string, unknown> = {};
      if (ml) {
        for (
          const k of ["tensor", "layout", "layout_kind", "folded", "alias_of", "time_map", "notes"]
        ) {
          if (ml[k] !== undefined) notes[k] = ml[k];
        }
      }
      const q = stats.quantiles;
      summaryLayers[name] = {
        shape: stats.shape,
        frames: R,
        count: stats.summary.count,
        mean: nn(stats.summary.mean),
        std: nn(stats.summary.std),
        min: nn(stats.summary.min),
        max: nn(stats.summary.max),
        sparsity: stats.summary.sparsity,
        nonfinite: stats.summary.nonfinite,
        quantiles: {
          p1: nn(q.p1),
          p5: nn(q.p5),
          p25: nn(q.p25),
          p50: nn(q.p50),
          p75: nn(q.p75),
          p95: nn(q.p95),
          p99: nn(q.p99),
        },
        channels: {
          mean: nnArr(stats.channels.mean),
          std: nnArr(stats.channels.std),
          max: nnArr(stats.channels.max),
          min: nnArr(stats.channels.min),
          sparsity: stats.channels.sparsity,
        },
        dead_channels: stats.deadChannels,
        flags,
        plots: {
          histogram: { ...stats.histogram, log_counts: options.logCounts ?? false },
          box: {
            q1: nn(stats.box.q1),
            median: nn(stats.box.median),
            q3: nn(stats.box.q3),
            whisker_low: nn(stats.box.whiskerLow),
            whisker_high: nn(stats.box.whiskerHigh),
            outliers_low: stats.box.outliersLow,
            outliers_high: stats.box.outliersHigh,
            outlier_sample: stats.box.outlierSample,
          },
          cdf: { fraction: stats.cdf.fraction, value: nnArr(stats.cdf.value) },
          per_frame: stats.perFrame.map((s, r) => ({
            b: bLabels[Math.floor(r / nT)],
            t: tLabels[r % nT],
            mean: nn(s.mean),
            std: nn(s.std),
            min: nn(s.min),
            max: nn(s.max),
            sparsity: s.sparsity,
            nonfinite: s.nonfinite,
          })),
          spatial: {
            height: stats.spatial.height,
            width: stats.spatial.width,
            depth: stats.geometry.depth,
            mean: nnArr(stats.spatial.mean),
            max: nnArr(stats.spatial.max),
            std: nnArr(stats.spatial.std),
            strongest: stats.spatial.strongest.map((s) => ({
              channel: s.channel,
              mean: nn(s.mean),
              map: nnArr(s.map),
            })),
            gaze,
          },
          channel_sort: sortBy,
        },
        ...(ml ? { manifest: notes } : {}),
        files: layerFiles,
      };
      const worst = flags.some((f) => f.level === "error")
        ? "error"
        : flags.some((f) => f.level === "warn")
        ? "warn"
        : undefined;
      overview.push({
        name,
        mean: stats.summary.mean,
        std: stats.summary.std,
        max: stats.summary.max,
        sparsity: stats.summary.sparsity,
        deadFraction: stats.deadChannels.length / C,
        channels: C,
        height: stats.geometry.height,
        width: stats.geometry.width,
        level: worst,
      });
      stats.perFrame.forEach((s, r) =>
        savedPoints.push({
          layer: name,
          b: bLabels[Math.floor(r / nT)],
          t: tLabels[r % nT],
          mean: s.mean,
          sparsity: s.sparsity,
        })
      );
      const pf = ml?.per_frame;
      if (Array.isArray(pf)) {
        pf.forEach((row, b) => {
          if (!Array.isArray(row)) return;
          row.forEach((cell, t) => {
            if (isObj(cell) && (typeof cell.mean === "number" || cell.mean === null)) {
              manifestPoints.push({
                layer: name,
                b,
                t,
                mean: typeof cell.mean === "number" ? cell.mean : NaN,
                sparsity: typeof cell.sparsity === "number" ? cell.sparsity : NaN,
              });
            }
          });
        });
      }
      if (nT > 1) {
        heatmaps.push({
          layer: name,
          b: bLabels[0],
          frames: tLabels,
          means: stats.frameChannelMeans.slice(0, nT),
        });
      }
    }

    progress("drawing layer_comparison.png");
    await write("layer_comparison.png", await renderVegaPng(layerComparisonSpec(overview)));

    let temporal: AnalysisSummary["temporal"] = null;
    const manifestFrames = new Set(manifestPoints.map((p) => `${p.b}/${p.t}`)).size;
    if (manifestFrames > 1 || R > 1) {
      const useManifest = manifestFrames > 1;
      temporal = {
        source: useManifest
          ? `lines: every frame of the batch (whole-sequence statistics from ${
            basename(man!.path)
          })`
          : `lines: the ${R} saved frames`,
        points: useManifest ? manifestPoints : savedPoints,
        heatmaps,
      };
      progress("drawing temporal.png");
      await write("temporal.png", await renderVegaPng(temporalSpec(temporal)));
    }

    const summary: AnalysisSummary = {
      source: npyPath,
      manifest: man?.path ?? null,
      format: "feature-inspector/analysis v1",
      created: new Date().toISOString(),
      records: { shape: [...shape], batch_idx: bLabels, timestep: tLabels },
      method: {
        reduction: reducer.where ?? "custom",
        quantiles: "exact: sorted finite values, linear interpolation (NumPy's default method)",
        histogram: "np.histogram semantics over the finite min..max, last bin closed",
        std: "population (ddof=0) over finite values",
      },
      layers: summaryLayers,
      flags: allFlags,
      temporal: temporal
        ? {
          ...temporal,
          points: temporal.points.map((p) => ({
            ...p,
            mean: nn(p.mean) as number,
            sparsity: nn(p.sparsity) as number,
          })),
          heatmaps: temporal.heatmaps.map((h) => ({
            ...h,
            means: h.means.map((row) => nnArr(row) as number[]),
          })),
        }
        : null,
      files: [...files, "summary.json", "index.html"],
      figures: Object.fromEntries(
        Object.entries(figures).map(([f, [w, h]]) => [f, { width: w, height: h, scale: 2 }]),
      ),
    };
    await write("summary.json", new TextEncoder().encode(JSON.stringify(summary, null, 1)));
    await write("index.html", new TextEncoder().encode(reportHtml(summary)));
    await out.commit();
    progress(`wrote ${files.length} files to ${out.dir}`);
    return summary;
  } catch (err) {
    await out.abort();
    throw err;
  } finally {
    await gpuReducer?.close();
  }
}
