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
 * The run is read only through `core/run_folder.ts` (`readFeatures`): a missing manifest is fine,
 * a broken one is ignored with a warning (to `onProgress`, else stderr), a foreign one is used for
 * the keys it has. Manifest keys read (all optional): `targets.batch_idx`, `targets.timestep`,
 * `layers[].name`, `.layout`, `.tensor`, `.folded`, `.alias_of`, `.per_frame[b][t].{mean,sparsity}`,
 * `data.saved_frames[b][t].gaze[]` (or `data.gaze[b][t][]`) with `{x, y}` in [0, 1].
 *
 * @module
 */

import { basename, resolve } from "node:path";
import { InspectorError } from "../core/errors.ts";
import { type FeaturesFile, readFeatures } from "../core/run_folder.ts";
import { OutputSet } from "../core/atomic.ts";
import { claimOutputs } from "../core/run_slot.ts";
import { layerFileStem } from "../core/file_stem.ts";
import { profileMark, profileTime } from "../core/profile.ts";
import { reduceRows } from "../stats/moments.ts";
import { createReducer } from "../shaders/reduce.ts";
import {
  EXACT_QUANTILE_LIMIT,
  type LayerStatistics,
  LayerStatisticsBuilder,
  QUANTILE_SAMPLE,
} from "../stats/layer_statistics.ts";
import { type HealthFlag, healthFlags } from "../stats/health.ts";
import { classifyFrameShape, type TensorKind } from "../stats/tensor_kind.ts";
import { layerGeometry } from "../stats/layer_statistics.ts";
import { valuesChartSpec } from "../render/values_chart.ts";
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
import { type ChartRenderer, createChartRenderer, type VegaSpec } from "../render/vega_png.ts";
import { reportHtml } from "./report_html.ts";
import {
  bestAligned,
  channelMap,
  frameSizeOf,
  GAZE_METHOD,
  GAZE_TOPK,
  type GazeAlignment,
  gazeAlignmentCsv,
  type GazeFrame,
  gazeGrid,
  GazeScorer,
  type LayerGazeAlignment,
} from "./gaze_alignment.ts";
import { gazeAlignmentSpec, gazeFramesSpec, type GazeOverlayFrame } from "./charts_gaze.ts";
import type { AnalysisSummary, AnalyzeOptions, LayerSummary, RowReducer } from "./_types.ts";

export type { AnalysisSummary, AnalyzeOptions, LayerSummary, RowReducer } from "./_types.ts";

/** Layers of up to this many values are read into memory once; larger ones are streamed twice. */
const IN_MEMORY_VALUES = 1 << 24;
/** Values per chunk of whole frames when a layer is streamed. */
const CHUNK_VALUES = 1 << 22;
/** At most this many points per layer in per-frame series (summary.json and temporal.png). */
export const MAX_SERIES_POINTS = 2000;
/** At most this many frame columns in a temporal heat map (frames are averaged into columns). */
export const MAX_HEATMAP_COLUMNS = 512;

/** Indices of at most `max` evenly spaced items of `n` (first and last included), or null for all. */
function sampleIndices(n: number, max: number): number[] | null {
  if (n <= max) return null;
  const out: number[] = [];
  for (let i = 0; i < max; i++) out.push(Math.round(i * (n - 1) / (max - 1)));
  return out;
}

const nn = (v: number): number | null => (Number.isFinite(v) ? v : null);
const nnArr = (a: readonly number[]): (number | null)[] => a.map(nn);

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

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

// ---------------------------------------------------------------------------------------------
// Step 1: read the run (through core) and check the request against it

/** The run being analysed and the facts every step needs. */
interface AnalysisRun {
  /** The opened `.npy` (and manifest). */
  file: FeaturesFile;
  /** Layers to analyse, in order, without repeats. */
  layers: string[];
  /** Saved frames (records). */
  records: number;
  /** Timesteps per batch row of the record grid. */
  nT: number;
  /** Batch labels of the grid rows. */
  bLabels: number[];
  /** Timestep labels of the grid columns. */
  tLabels: number[];
  /** The manifest as JSON, or null. */
  manifest: Json | null;
  /** Gaze points of every saved frame. */
  gaze: { x: number; y: number }[];
  /** Every saved frame with its gaze points (record order). */
  frames: GazeFrame[];
}

async function openRun(npyPath: string, options: AnalyzeOptions): Promise<AnalysisRun> {
  // A broken manifest is ignored with a warning (core/manifest.ts): to onProgress, else stderr.
  const file = await profileTime(
    "analyze.open",
    () => readFeatures(npyPath, { onWarning: options.onProgress }),
  );
  try {
    const all = file.layers;
    if (!all.length) throw new InspectorError(`${npyPath} holds no layers (no fields)`);
    const wanted = options.layers?.length ? [...options.layers] : all;
    const missing = wanted.filter((l) => !all.includes(l));
    if (missing.length) {
      throw new InspectorError(
        `layer${missing.length > 1 ? "s" : ""} ${missing.map((m) => `'${m}'`).join(", ")} not ` +
          `in ${npyPath}; it holds: ${all.join(", ")}`,
      );
    }
    if (file.recordCount === 0) {
      throw new InspectorError(
        `${npyPath} holds no saved frames (shape ${JSON.stringify(file.recordShape)})`,
      );
    }
    const [nB, nT] = file.grid;
    const mj = isObj(file.manifest) ? file.manifest as unknown as Json : null;
    const gaze: { x: number; y: number }[] = [];
    const frames: GazeFrame[] = [];
    for (let b = 0; b < nB; b++) {
      for (let t = 0; t < nT; t++) {
        const g = gazeOf(mj, b, t);
        gaze.push(...g);
        frames.push({
          record: b * nT + t,
          b: file.targets.batchIdx[b],
          t: file.targets.timestep[t],
          gaze: g,
        });
      }
    }
    return {
      file,
      layers: [...new Set(wanted)],
      records: file.recordCount,
      nT,
      bLabels: file.targets.batchIdx,
      tLabels: file.targets.timestep,
      manifest: mj,
      gaze,
      frames,
    };
  } catch (err) {
    file.close();
    throw err;
  }
}

/**
 * `gpu: "auto"` leaves runs of fewer values than this (64 MiB of float32) to the CPU reference:
 * it reduces them in milliseconds, while starting a WebGPU adapter and device costs more time
 * (and, on a software adapter, some 90 MB of driver) than the kernels could save.
 */
export const AUTO_GPU_MIN_VALUES = 1 << 24;

/** The row reducer of the options, and how to release it. */
async function openReducer(
  options: AnalyzeOptions,
  progress: (message: string) => void,
  run: AnalysisRun,
): Promise<{ reducer: RowReducer; close: () => Promise<void> }> {
  if (options.reducer) return { reducer: options.reducer, close: async () => {} };
  if (options.gpu === "off") {
    return { reducer: { reduceRows, where: "cpu (reference)" }, close: async () => {} };
  }
  const values = run.layers.reduce(
    (n, l) => n + run.records * run.file.field(l).shape.reduce((a, b) => a * b, 1),
    0,
  );
  if ((options.gpu ?? "auto") === "auto" && values < AUTO_GPU_MIN_VALUES) {
    return {
      reducer: {
        reduceRows,
        where: `cpu (reference: --gpu auto uses the GPU for runs of ${AUTO_GPU_MIN_VALUES} ` +
          `values or more, this one has ${values})`,
      },
      close: async () => {},
    };
  }
  const r = await createReducer({ gpu: options.gpu ?? "auto", onInfo: progress });
  const info = r.info;
  return {
    reducer: {
      reduceRows: (data, rows, width) => r.reduceRows(data, [rows, width]),
      where: info.where === "webgpu"
        ? `webgpu (${info.adapter ?? "adapter"})`
        : `cpu (${info.reason})`,
    },
    close: () => r.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// Step 2: per-layer statistics

/** One layer's statistics and health flags. */
interface LayerResult {
  name: string;
  stats: LayerStatistics;
  flags: HealthFlag[];
  /** Channels. */
  channels: number;
  /** Spatial maps, or a vector / sequence (no spatial maps, value chart, fewer flags). */
  kind: TensorKind;
}

/** The health flags that apply to a vector or sequence (logits, softmax, scores). */
const NON_SPATIAL_FLAGS = new Set(["nonfinite", "all_dead"]);

async function layerStatistics(
  run: AnalysisRun,
  name: string,
  reducer: RowReducer,
  options: AnalyzeOptions,
): Promise<LayerResult> {
  const progress = options.onProgress ?? (() => {});
  const R = run.records;
  const field = run.file.field(name);
  progress(`${name}: reading ${R} frame${R === 1 ? "" : "s"} of (${field.shape.join(", ")})`);
  const fieldShape = field.shape.length ? field.shape : [1];
  const C = fieldShape[0];
  const rowWidth = fieldShape.slice(1).reduce((a, b) => a * b, 1);
  const perFrame = C * rowWidth;
  const builder = new LayerStatisticsBuilder({ frames: R, shape: fieldShape }, {
    bins: options.bins,
  });
  if (R * perFrame <= IN_MEMORY_VALUES) {
    // Small enough: this layer's values are read once and held only inside this function.
    const data = await profileTime("analyze.read", () => run.file.readAll(name));
    builder.addFirst(data, 0, await reducer.reduceRows(data, R * C, rowWidth));
    builder.addSecond(data, 0);
  } else {
    // Streamed: chunks of whole frames (one frame when a frame alone is large), read twice.
    const per = Math.max(1, Math.floor(CHUNK_VALUES / Math.max(1, perFrame)));
    const chunk = async (first: number): Promise<Float32Array> => {
      const k = Math.min(per, R - first);
      const read = (f: number) => profileTime("analyze.read", () => run.file.readRecord(name, f));
      if (k === 1) return await read(first);
      const out = new Float32Array(k * perFrame);
      for (let i = 0; i < k; i++) out.set(await read(first + i), i * perFrame);
      return out;
    };
    for (let f = 0; f < R; f += per) {
      const data = await chunk(f);
      builder.addFirst(
        data,
        f,
        await reducer.reduceRows(data, (data.length / perFrame) * C, rowWidth),
      );
    }
    for (let f = 0; f < R; f += per) builder.addSecond(await chunk(f), f);
  }
  const stats = builder.finish();
  const flags = healthFlags({
    mean: stats.summary.mean,
    sparsity: stats.summary.sparsity,
    nonfinite: stats.summary.nonfinite,
    count: stats.summary.count,
    min: stats.summary.min,
    channels: C,
    deadChannels: stats.deadChannels,
  });
  const kind = classifyFrameShape(fieldShape);
  // Activation-map thresholds (mean 0.1-2, sparsity 30-70 %) mean nothing for logits/softmax.
  const kept = kind.kind === "spatial" ? flags : flags.filter((f) => NON_SPATIAL_FLAGS.has(f.code));
  return { name, stats, flags: kept, channels: C, kind };
}

// ---------------------------------------------------------------------------------------------
// Step 3: charts

/**
 * Collects the report's files (under temporary names) and the pixel size of every PNG. Charts
 * given to {@linkcode ReportFiles.chart} are drawn on the renderer's workers while the next layer
 * is read; {@linkcode ReportFiles.settle} waits for them.
 */
class ReportFiles {
  readonly names: string[] = [];
  readonly figures: Record<string, [number, number]> = Object.create(null);
  readonly #stems = new Set<string>();
  #pending: Promise<void>[] = [];
  constructor(readonly out: OutputSet, readonly charts: ChartRenderer) {}

  /** Start drawing `spec` into `name` (in the report's file order); written once drawn. */
  chart(name: string, spec: VegaSpec): void {
    this.names.push(name);
    this.figures[name] = [0, 0];
    const job = this.charts.render(spec).then((png) => this.#store(name, png));
    job.catch(() => {}); // reported by settle()
    this.#pending.push(job);
  }

  /** Wait for every chart started so far; throws the first failure once all have ended. */
  async settle(): Promise<void> {
    const jobs = this.#pending;
    this.#pending = [];
    const failed = (await Promise.allSettled(jobs)).find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /**
   * The file stem of a layer's charts, unique in this report: layers whose names map to one stem
   * (`a/b` and `a_b`) get `a_b`, `a_b_2`, ... in layer order, as compare's chart names do.
   */
  uniqueStem(layer: string): string {
    const base = layerFileStem(layer);
    let stem = base;
    for (let k = 2; this.#stems.has(stem); k++) stem = `${base}_${k}`;
    this.#stems.add(stem);
    return stem;
  }

  async write(name: string, bytes: Uint8Array): Promise<void> {
    this.names.push(name);
    await this.#store(name, bytes);
  }

  async #store(name: string, bytes: Uint8Array): Promise<void> {
    await this.out.writeFile(name, bytes);
    if (name.endsWith(".png")) {
      // PNG IHDR: width and height (big-endian) at bytes 16 and 20.
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      this.figures[name] = [dv.getUint32(16), dv.getUint32(20)];
    }
  }
}

/** Draw a layer's three PNGs; returns their file names. */
async function drawLayerCharts(
  layer: LayerResult,
  run: AnalysisRun,
  options: AnalyzeOptions & { sortChannels: ChannelSortKey },
  files: ReportFiles,
): Promise<string[]> {
  const { name, stats } = layer;
  const stem = files.uniqueStem(name);
  const spatial = layer.kind.kind === "spatial";
  const layerFiles = [
    `${stem}_distribution.png`,
    `${stem}_channel_stats.png`,
    spatial ? `${stem}_spatial_patterns.png` : `${stem}_values.png`,
  ];
  options.onProgress?.(`${name}: drawing ${layerFiles.join(", ")}`);
  files.chart(layerFiles[0], distributionSpec(name, stats, { logCounts: options.logCounts }));
  files.chart(layerFiles[1], channelStatsSpec(name, stats, { sortBy: options.sortChannels }));
  if (spatial) {
    files.chart(layerFiles[2], spatialSpec(name, stats, { gaze: run.gaze }));
  } else {
    // Mean of each entry over the saved frames, as bars or lines.
    const data = await run.file.readAll(name);
    const per = data.length / run.records;
    const mean = new Float32Array(per);
    for (let r = 0; r < run.records; r++) {
      for (let i = 0; i < per; i++) mean[i] += data[r * per + i] / run.records;
    }
    const shape = run.file.field(name).shape;
    files.chart(
      layerFiles[2],
      valuesChartSpec(mean, layer.kind, {
        title: `${name}: values`,
        subtitle: `shape (${shape.join(", ")}), mean over ${run.records} saved frame` +
          (run.records === 1 ? "" : "s"),
      }),
    );
  }
  return layerFiles;
}

// ---------------------------------------------------------------------------------------------
// Step 3b: gaze alignment (only when the manifest has gaze points)

/** The gaze scorer of a run with gaze points inside the frame, or null. */
function gazeScorerOf(run: AnalysisRun, options: AnalyzeOptions): GazeScorer | null {
  if (!run.gaze.length) return null;
  let frame = frameSizeOf(run.manifest);
  if (!frame) {
    // No frame size in the manifest: the largest map among the analysed spatial layers.
    for (const name of run.layers) {
      const shape = run.file.field(name).shape;
      if (classifyFrameShape(shape.length ? shape : [1]).kind !== "spatial") continue;
      const g = layerGeometry(shape);
      if (!frame || g.width * g.height > frame.width * frame.height) {
        frame = {
          width: g.width,
          height: g.height,
          source: "the largest layer map (no frame size in the manifest)",
        };
      }
    }
  }
  if (!frame) return null;
  const scorer = new GazeScorer(run.frames, gazeGrid(frame, options));
  return scorer.frames ? scorer : null;
}

/** A layer's gaze scores and the frames for its overlay. */
interface LayerGaze {
  summary: LayerGazeAlignment;
  frames: { best: GazeFrame; worst: GazeFrame } | null;
}

async function layerGaze(
  scorer: GazeScorer,
  layer: LayerResult,
  run: AnalysisRun,
  progress: (message: string) => void,
): Promise<LayerGaze | null> {
  if (layer.kind.kind !== "spatial") return null;
  const { name, stats } = layer;
  const cm = stats.channels.mean;
  const strongest = cm.map((_, c) => c).filter((c) => Number.isFinite(cm[c]))
    .sort((a, b) => cm[b] - cm[a] || a - b);
  const r = await scorer.scoreLayer(
    { name, shape: stats.geometry, strongest },
    (rec) => run.file.readRecord(name, rec),
  );
  const k = r.summary.kinds;
  const f = (v: number | null) => (v === null ? "n/a" : v.toFixed(3));
  progress(
    `${name}: gaze NSS ${f(k.mean.nss.value)} (shuffled ${f(k.mean.nss.shuffled)}), top-` +
      `${GAZE_TOPK} ${f(k.topk.nss.value)} (shuffled ${f(k.topk.nss.shuffled)})`,
  );
  return r;
}

/** Write the gaze files and return the `summary.json` section. */
async function writeGaze(
  scorer: GazeScorer,
  scored: Map<string, LayerGaze>,
  run: AnalysisRun,
  files: ReportFiles,
): Promise<GazeAlignment> {
  const order = run.file.layers;
  const layers = [...scored.values()].map((l) => l.summary)
    .sort((a, b) => order.indexOf(a.layer) - order.indexOf(b.layer));
  const best = bestAligned(layers);
  const g: GazeAlignment = {
    grid: scorer.grid,
    frames: scorer.frames,
    frames_with_gaze: scorer.withGaze,
    topk: GAZE_TOPK,
    shuffle: scorer.shuffle,
    method: GAZE_METHOD,
    layers,
    best,
    files: ["gaze_alignment.csv", "gaze_alignment.png"],
  };
  await files.write("gaze_alignment.csv", new TextEncoder().encode(gazeAlignmentCsv(layers)));
  files.chart("gaze_alignment.png", gazeAlignmentSpec(g));
  const top = best ? scored.get(best.layer) : undefined;
  if (best && top?.frames) {
    const geo = layerGeometry(run.file.field(best.layer).shape);
    const overlay = async (fr: GazeFrame): Promise<GazeOverlayFrame> => {
      const data = await run.file.readRecord(best.layer, fr.record);
      const scores = top.summary.per_frame.find((p) => p.b === fr.b && p.t === fr.t)!;
      return {
        b: fr.b,
        t: fr.t,
        map: channelMap(data, geo, best.kind === "mean" ? null : top.summary.topk_channels),
        h: geo.height,
        w: geo.width,
        gaze: fr.gaze,
        scores: scores[best.kind],
      };
    };
    files.chart(
      "gaze_alignment_frames.png",
      gazeFramesSpec(best, {
        best: await overlay(top.frames.best),
        worst: await overlay(top.frames.worst),
      }),
    );
    g.files.push("gaze_alignment_frames.png");
  }
  return g;
}

// ---------------------------------------------------------------------------------------------
// Step 4: summary (summary.json, overview and temporal series)

/** The `summary.json` entry of a layer. */
function layerSummary(
  layer: LayerResult,
  run: AnalysisRun,
  options: AnalyzeOptions & { sortChannels: ChannelSortKey },
  layerFiles: string[],
): LayerSummary {
  const { stats, flags } = layer;
  const { bLabels, tLabels, nT } = run;
  const ml = manifestLayer(run.manifest, layer.name);
  const notes: Record<string, unknown> = {};
  if (ml) {
    for (
      const k of ["tensor", "layout", "layout_kind", "folded", "alias_of", "time_map", "notes"]
    ) {
      if (ml[k] !== undefined) notes[k] = ml[k];
    }
  }
  const q = stats.quantiles;
  const frameSample = sampleIndices(stats.perFrame.length, MAX_SERIES_POINTS);
  const qm = stats.quantileMethod;
  return {
    shape: stats.shape,
    frames: run.records,
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
    tensor_kind: layer.kind.kind,
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
      per_frame: (frameSample ?? stats.perFrame.map((_, r) => r)).map((r) => ({
        s: stats.perFrame[r],
        r,
      })).map(({ s, r }) => ({
        b: bLabels[Math.floor(r / nT)],
        t: tLabels[r % nT],
        mean: nn(s.mean),
        std: nn(s.std),
        min: nn(s.min),
        max: nn(s.max),
        sparsity: s.sparsity,
        nonfinite: s.nonfinite,
      })),
      ...(frameSample
        ? {
          per_frame_sampling: {
            frames: stats.perFrame.length,
            shown: frameSample.length,
            method: "evenly spaced saved frames (first and last included)",
          },
        }
        : {}),
      ...(stats.axisClip
        ? {
          axis_clip: {
            low: stats.axisClip.low,
            high: stats.axisClip.high,
            below: stats.axisClip.below,
            above: stats.axisClip.above,
            note: stats.axisClip.note,
            histogram: stats.axisClip.histogram,
          },
        }
        : {}),
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
        gaze: run.gaze,
        ...(stats.spatial.block
          ? {
            block: stats.spatial.block,
            map_height: stats.spatial.mapHeight,
            map_width: stats.spatial.mapWidth,
            block_method: "mean/std over each block of positions, max of the block",
          }
          : {}),
      },
      channel_sort: options.sortChannels,
    },
    ...(qm.exact ? {} : {
      quantile_method:
        `approximate: from a seeded uniform sample of ${qm.sample} of the ${qm.of} ` +
        "finite values (more than " + EXACT_QUANTILE_LIMIT + "); counts, moments, histogram, " +
        "whiskers and outlier counts exact",
    }),
    ...(ml ? { manifest: notes } : {}),
    files: layerFiles,
  };
}

/** A layer's bar in `layer_comparison.png`. */
function layerOverview(layer: LayerResult): LayerOverview {
  const { stats, flags } = layer;
  const worst = flags.some((f) => f.level === "error")
    ? "error"
    : flags.some((f) => f.level === "warn")
    ? "warn"
    : undefined;
  return {
    name: layer.name,
    mean: stats.summary.mean,
    std: stats.summary.std,
    max: stats.summary.max,
    sparsity: stats.summary.sparsity,
    deadFraction: stats.deadChannels.length / layer.channels,
    channels: layer.channels,
    height: stats.geometry.height,
    width: stats.geometry.width,
    level: worst,
    flags: flags.filter((f) => f.level !== "info").map((f) => f.code),
  };
}

/** The temporal series of all layers: saved frames, the manifest's whole batch, heatmaps. */
class TemporalSeries {
  readonly saved: TemporalPoint[] = [];
  readonly manifest: TemporalPoint[] = [];
  readonly heatmaps: TemporalHeatmap[] = [];
  /** Whether a layer's points were subsampled (more than MAX_SERIES_POINTS). */
  sampled = false;
  /** Frames averaged per heat-map column, when more than one. */
  heatmapFrames = 1;

  add(layer: LayerResult, run: AnalysisRun): void {
    const { name, stats } = layer;
    const { bLabels, tLabels, nT } = run;
    const pick = sampleIndices(stats.perFrame.length, MAX_SERIES_POINTS);
    if (pick) this.sampled = true;
    (pick ?? stats.perFrame.map((_, r) => r)).map((r) => [stats.perFrame[r], r] as const).forEach((
      [s, r],
    ) =>
      this.saved.push({
        layer: name,
        b: bLabels[Math.floor(r / nT)],
        t: tLabels[r % nT],
        mean: s.mean,
        sparsity: s.sparsity,
      })
    );
    const pf = manifestLayer(run.manifest, name)?.per_frame;
    const fromManifest: TemporalPoint[] = [];
    if (Array.isArray(pf)) {
      pf.forEach((row, b) => {
        if (!Array.isArray(row)) return;
        row.forEach((cell, t) => {
          if (isObj(cell) && (typeof cell.mean === "number" || cell.mean === null)) {
            fromManifest.push({
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
    const mPick = sampleIndices(fromManifest.length, MAX_SERIES_POINTS);
    if (mPick) this.sampled = true;
    for (const k of mPick ?? fromManifest.keys()) this.manifest.push(fromManifest[k]);
    if (nT > 1) {
      const means = stats.frameChannelMeans.slice(0, nT);
      if (nT <= MAX_HEATMAP_COLUMNS) {
        this.heatmaps.push({ layer: name, b: bLabels[0], frames: tLabels, means });
      } else {
        // Average runs of consecutive frames into at most MAX_HEATMAP_COLUMNS columns.
        const per = Math.ceil(nT / MAX_HEATMAP_COLUMNS);
        const frames: number[] = [], cols: number[][] = [];
        for (let t0 = 0; t0 < nT; t0 += per) {
          const t1 = Math.min(nT, t0 + per);
          frames.push(tLabels[t0]);
          cols.push(means[t0].map((_, c) => {
            let sum = 0, n = 0;
            for (let t = t0; t < t1; t++) {
              const v = means[t][c];
              if (Number.isFinite(v)) {
                sum += v;
                n++;
              }
            }
            return n ? sum / n : NaN;
          }));
        }
        this.heatmaps.push({ layer: name, b: bLabels[0], frames, means: cols });
        this.heatmapFrames = per;
      }
    }
  }

  /** What `temporal.png` draws, or null when there is one frame only. */
  view(run: AnalysisRun): AnalysisSummary["temporal"] {
    const manifestFrames = new Set(this.manifest.map((p) => `${p.b}/${p.t}`)).size;
    if (!(manifestFrames > 1 || run.records > 1)) return null;
    const useManifest = manifestFrames > 1;
    return {
      source:
        (useManifest
          ? `lines: every frame of the batch (whole-sequence statistics from ${
            basename(run.file.manifestPath!)
          })`
          : `lines: the ${run.records} saved frames`) +
        (this.sampled ? ` (at most ${MAX_SERIES_POINTS} evenly spaced points per layer)` : "") +
        (this.heatmapFrames > 1
          ? ` · heat-map columns: means of ${this.heatmapFrames} frames`
          : ""),
      points: useManifest ? this.manifest : this.saved,
      heatmaps: this.heatmaps,
    };
  }
}

/** The temporal view as written to JSON (non-finite numbers as null). */
function temporalJson(temporal: AnalysisSummary["temporal"]): AnalysisSummary["temporal"] {
  if (!temporal) return null;
  return {
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
  };
}

// ---------------------------------------------------------------------------------------------
// Entry point

/**
 * Analyse a features `.npy` and write the report into `options.saveDir`.
 *
 * Steps: read the run through core ({@linkcode readFeatures}), then per layer its statistics,
 * health flags and three charts; then the layer comparison and temporal charts; then
 * `summary.json` and `index.html`, all renamed into place together.
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
  const opts = { ...options, sortChannels: sortBy };
  // A bad options.gazeSigma is an error even for a run without gaze.
  if (options.gazeSigma !== undefined) gazeGrid({ width: 1, height: 1, source: "" }, options);
  await claimOutputs(options.saveDir ?? "feature_analysis", ["summary.json"], {
    key: { source: resolve(npyPath) },
    records: () => ["summary.json"],
    keyOf: (r) => ({ source: resolve(String(r.source ?? "")) }),
    overwrite: options.overwrite,
    hint: "pass another options.saveDir to keep both, or options.overwrite to replace it",
  });
  const run = await openRun(npyPath, options);
  using _file = run.file;
  const { reducer, close } = await openReducer(options, progress, run);
  let out: OutputSet;
  try {
    out = await OutputSet.open(options.saveDir ?? "feature_analysis");
  } catch (err) {
    await close();
    throw err;
  }
  const charts = createChartRenderer({ workers: options.chartWorkers });
  const files = new ReportFiles(out, charts);
  try {
    // No prototype: a layer may be called `__proto__` or `constructor`.
    const summaryLayers: Record<string, LayerSummary> = Object.create(null);
    const overview: LayerOverview[] = [];
    const allFlags: (HealthFlag & { layer: string })[] = [];
    const series = new TemporalSeries();
    const scorer = gazeScorerOf(run, options);
    const gazeScored = new Map<string, LayerGaze>();
    for (const name of run.layers) {
      // Phases for FEATURE_INSPECTOR_PROFILE (core/profile.ts); statistics include the reads.
      const layer = await profileTime(
        "analyze.statistics",
        () => layerStatistics(run, name, reducer, options),
      );
      for (const f of layer.flags) allFlags.push({ layer: name, ...f });
      const layerFiles = await profileTime(
        "analyze.charts",
        () => drawLayerCharts(layer, run, opts, files),
      );
      summaryLayers[name] = layerSummary(layer, run, opts, layerFiles);
      overview.push(layerOverview(layer));
      series.add(layer, run);
      const lg = scorer ? await layerGaze(scorer, layer, run, progress) : null;
      if (lg) gazeScored.set(name, lg);
    }
    const gazeAlignment = scorer && gazeScored.size
      ? await writeGaze(scorer, gazeScored, run, files)
      : null;

    profileMark("analyze.layers_done");
    progress("drawing layer_comparison.png");
    files.chart("layer_comparison.png", layerComparisonSpec(overview));
    const temporal = series.view(run);
    if (temporal) {
      progress("drawing temporal.png");
      files.chart("temporal.png", temporalSpec(temporal));
    }
    await files.settle();

    const approx = Object.entries(summaryLayers).filter(([, l]) => l.quantile_method).map(([k]) =>
      k
    );
    const summary: AnalysisSummary = {
      source: npyPath,
      manifest: run.file.manifestPath,
      format: "feature-inspector/analysis v1",
      created: new Date().toISOString(),
      records: {
        shape: [...run.file.recordShape],
        batch_idx: run.bLabels,
        timestep: run.tLabels,
      },
      method: {
        reduction: reducer.where ?? "custom",
        quantiles: approx.length
          ? `exact: sorted finite values, linear interpolation (NumPy's default method), for ` +
            `layers of up to ${EXACT_QUANTILE_LIMIT} finite values; larger layers (` +
            `${approx.join(", ")}): the same over a seeded uniform sample (reservoir) of ` +
            `${QUANTILE_SAMPLE} values`
          : "exact: sorted finite values, linear interpolation (NumPy's default method)",
        histogram: "np.histogram semantics over the finite min..max, last bin closed",
        std: "population (ddof=0) over finite values",
      },
      layers: summaryLayers,
      flags: allFlags,
      temporal: temporalJson(temporal),
      gaze_alignment: gazeAlignment,
      files: [...files.names, "summary.json", "index.html"],
      figures: Object.fromEntries(
        Object.entries(files.figures).map(([f, [w, h]]) => [f, { width: w, height: h, scale: 2 }]),
      ),
    };
    await profileTime("analyze.report", () => writeReport(summary, files));
    await profileTime("analyze.commit", () => out.commit());
    profileMark("analyze.written");
    progress(`wrote ${files.names.length} files to ${out.dir}`);
    return summary;
  } catch (err) {
    await files.settle().catch(() => {}); // no chart file may appear after the abort
    await out.abort();
    throw err;
  } finally {
    charts.close();
    await close();
  }
}

/** Write `summary.json` and `index.html`. */
async function writeReport(summary: AnalysisSummary, files: ReportFiles): Promise<void> {
  await files.write("summary.json", new TextEncoder().encode(JSON.stringify(summary, null, 1)));
  await files.write("index.html", new TextEncoder().encode(reportHtml(summary)));
}
