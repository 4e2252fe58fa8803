/**
 * Dataset mode (`inspect --all_clips`): every clip of a folder, batch by batch, with statistics
 * streamed into dataset-wide accumulators (`stats/dataset_statistics.ts`). Memory holds one
 * batch; after each batch the state is written atomically (`dataset_state.json`), so Ctrl-C or a
 * crash loses no finished batch and `resume` continues. `shard: "i/n"` runs a deterministic,
 * contiguous slice of the batches; {@linkcode mergeShards} folds the shards' batch partials in
 * order and gives the numbers of one unsharded run, bit for bit.
 *
 * Outputs in `saveDir`: `dataset_stats.json` (per layer and per channel over the dataset),
 * `clips.jsonl` (one line per clip: its file, per-layer mean, max and sparsity, and for a clip with
 * gaze the per-layer gaze-alignment means),
 * `dataset_state.json`, and `frames/features.npy` + `.json`: the frames of `options.batchIdx`
 * (clip indices across the dataset) and `options.timestep`, as a normal run saves them.
 *
 * Gaze alignment: for every clip with gaze (`gaze.csv`) and every spatial layer, each frame's
 * channel-mean map is scored against that frame's gaze (NSS, AUC-Judd, CC, SIM, the code of
 * `analyze`: `stats/saliency.ts`, `stats/gaze_frames.ts`) on a grid of at most
 * {@linkcode DATASET_GAZE_SIDE} pixels on the long side of the frame size the pass ran at
 * (maps upsampled bilinearly, fixations blurred with sigma = frame width / 16, rounded, frame
 * pixels), and against the gaze of another frame of the same batch as the shuffled baseline
 * (the batch's frames with gaze in clip-then-time order, frame i against frame
 * i + ceil(m / 2) mod m; none when the batch has one such frame). Only the channel mean is scored
 * (no top-k map: the strongest channels are only known after the pass). The sums (sum, sum of
 * squares, count) per layer and metric are kept per batch, so shards and resumed runs give the
 * numbers of one run, bit for bit.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { InspectorError } from "../core/errors.ts";
import { profileAdd, profileTime } from "../core/profile.ts";
import {
  addCounts,
  addRowMoments,
  type BatchPartial,
  emptyLayerAccumulator,
  foldPartial,
  type LayerAccumulator,
  type LayerDatasetStats,
  layerDatasetStats,
  mergePartials,
} from "../stats/dataset_statistics.ts";
import {
  addGazeScores,
  channelMap,
  DATASET_GAZE_SIDE,
  emptyGazeSums,
  type GazeMapShape,
  type GazeMetricStats,
  type GazeSums,
  gazeSumsStats,
  gridMap,
  type PreparedGaze,
  prepareGaze,
  type ScoringGrid,
  scoringGrid,
} from "../stats/gaze_frames.ts";
import { saliencyScores } from "../stats/saliency.ts";
import { listClips, startDecodeWorkers } from "./clips.ts";
import { resolveDataset } from "./datasets.ts";
import { DEFAULT_LAYERS, type Extraction, FeatureMapInspector } from "./feature_map_inspector.ts";
import { parseLayoutFlags } from "./feature_map_inspector.ts";
import { loadOnnxModel } from "./onnx_model.ts";
import { saveDatasetFrames } from "./_dataset_frames.ts";
import { parseIndexSpec } from "./layout.ts";
import {
  DEFAULT_MODEL,
  frameSizeFor,
  type InspectOptions,
  type LoadedBatch,
  startBatch,
} from "./run_inspect.ts";

/** Format tag of `dataset_state.json`. */
export const DATASET_STATE_FORMAT = "feature-inspector/dataset-state";

/** Options of {@linkcode runDataset}: those of `inspect`, and the dataset-mode ones. */
export interface DatasetOptions extends InspectOptions {
  /** `"i/n"`: run slice i (0-based) of n contiguous slices of the batches. */
  shard?: string;
  /** Continue the run whose `dataset_state.json` is in `saveDir`. */
  resume?: boolean;
  /** Progress: called after each batch. */
  onProgress?: (p: DatasetProgress) => void;
  /**
   * Save the frames of `batchIdx` (clip indices across the dataset) and `timestep` into
   * `frames/` after the pass (default true; each batch holding such a clip runs once more).
   */
  saveFrames?: boolean;
  /** Stop after this many batches of this call (tests: a run killed midway). */
  stopAfter?: number;
  /**
   * Run the next batch's forward pass while this batch's statistics are read, and decode one
   * batch further ahead (default: when onnxruntime's threads leave a core free). The numbers
   * are the same either way.
   */
  overlap?: boolean;
}

/** Progress after a batch. */
export interface DatasetProgress {
  /** Clips done in this shard. */
  done: number;
  /** Clips in this shard. */
  total: number;
  /** Clips per second in this call. */
  clipsPerSecond: number;
  /** Seconds left at that rate. */
  etaSeconds: number;
}

/** The state file: what a resumed run or a merge needs. */
export interface DatasetState {
  /** {@linkcode DATASET_STATE_FORMAT}. */
  format: string;
  /** What must match for a resume or a merge (model, clips folder, sizes, layers). */
  key: Record<string, unknown>;
  /** `[i, n]`. */
  shard: [number, number];
  /** Batches of the whole dataset; this shard's are `[first, end)`. */
  batches: { size: number; total: number; first: number; end: number; done: number };
  /** Clips in the whole dataset. */
  clips: number;
  /** Accumulators, in network order. */
  layers: LayerAccumulator[];
  /**
   * Per batch done, per layer: the moments (kept so shards merge exactly). On disk they are
   * appended to `partials.jsonl` beside the state file, one line per batch, so that writing the
   * state stays the same size whatever the dataset's; {@linkcode readState} reads them back.
   * A running {@linkcode runDataset} keeps none of them in memory (its state holds `[]`).
   */
  partials: BatchPartial[][];
  /** True when every batch of the shard is done. */
  complete: boolean;
}

/** What {@linkcode runDataset} returns. */
export interface DatasetResult {
  /** `dataset_stats.json`. */
  stats: string;
  /** The state (its `partials` are on disk: {@linkcode readState} reads them for a merge). */
  state: DatasetState;
  /**
   * `frames/features.npy`: the frames of `options.batchIdx` (clip indices across the dataset)
   * and `options.timestep`, as a normal run writes them; null when no asked-for clip is in the
   * shard, or the run stopped before its end.
   */
  frames: string | null;
}

/**
 * Run every clip of `options.dset` (a shard of them with `options.shard`) and write the dataset
 * statistics into `options.saveDir`.
 *
 * @example Usage
 * ```ts ignore
 * import { runDataset } from "./dataset_run.ts";
 * const r = await runDataset({ dset: "clips", size: 112, batchSize: 4, saveDir: "ds" });
 * console.log(r.state.layers.map((l) => l.name));
 * ```
 */
export async function runDataset(options: DatasetOptions): Promise<DatasetResult> {
  const saveDir = options.saveDir ?? "out";
  const [si, sn] = parseShard(options.shard);
  const graph = await loadOnnxModel(options.checkpoint ?? DEFAULT_MODEL);
  const size = frameSizeFor(graph, options);
  const dataset = await resolveDataset(options.dset ?? "fixture", {});
  const all = await listClips(dataset.dir);
  const B = options.batchSize ?? 2;
  if (all.length === 0) throw new InspectorError(`${dataset.dir} holds no clips: add clips`);
  const total = Math.ceil(all.length / B);
  // The saved frames' indices, checked before the pass (clip indices across the dataset).
  try {
    parseIndexSpec(options.batchIdx ?? "0", { count: all.length, flag: "options.batchIdx" });
    parseIndexSpec(options.timestep ?? "0", {
      count: options.maxLen ?? 8,
      flag: "options.timestep",
    });
  } catch (err) {
    if (!(err instanceof InspectorError)) throw err;
    throw new InspectorError(err.message.replace("the batch has", "the dataset has"));
  }
  const first = Math.floor((si * total) / sn), end = Math.floor(((si + 1) * total) / sn);
  const key = {
    model_sha256: graph.sha256,
    dset: dataset.dir,
    clip_ids_sha: await digest(all.map((c) => c.id).join("\n")),
    batch_size: B,
    max_len: options.maxLen ?? 8,
    fps: options.fps ?? null,
    size,
    resize: options.resize ?? null,
    crop: options.crop ?? null,
    layers: options.layers ?? null,
    gaze: { map: "mean", max_side: DATASET_GAZE_SIDE, sigma: "frame width / 16, rounded" },
  };
  const grid = scoringGrid(
    typeof size === "number" ? { width: size, height: size } : size,
    { maxSide: DATASET_GAZE_SIDE },
  );
  const statePath = join(saveDir, "dataset_state.json");
  let state: DatasetState | null = await readState(statePath);
  if (state && !options.resume) {
    throw new InspectorError(
      `${statePath} holds a dataset run already: pass options.resume to continue it, or another ` +
        `options.saveDir`,
    );
  }
  if (state) {
    if (JSON.stringify(state.key) !== JSON.stringify(key) || state.shard[0] !== si) {
      throw new InspectorError(
        `${statePath} is a run with other options (model, clips, sizes, layers or options.shard): ` +
          `repeat its options to resume it, or use another options.saveDir`,
      );
    }
  }
  await Deno.mkdir(saveDir, { recursive: true });
  const clipsFile = join(saveDir, "clips.jsonl");
  const partialsFile = join(saveDir, PARTIALS_FILE);
  if (!state) {
    await Deno.writeTextFile(clipsFile, "");
    await Deno.writeTextFile(partialsFile, "");
  } else {
    // A crash may have left the lines of a batch the state does not count.
    const doneBatches = state.batches.done - state.batches.first;
    await truncateLines(clipsFile, doneBatches * B);
    await truncateLines(partialsFile, doneBatches);
    state.partials = [];
  }

  await using insp = await FeatureMapInspector.create(graph, {
    layers: options.layers && options.layers.length ? options.layers : DEFAULT_LAYERS,
    prefix: options.prefix,
    layout: parseLayoutFlags(options.layout ?? []),
    ep: options.ep,
    threads: options.threads,
    gpu: options.gpu,
    saveDir,
    // Every value is read once, on the host: the moments and the histogram in one pass.
    histogram: true,
    onInfo: options.onInfo,
  });
  const shardClips = Math.min(end * B, all.length) - first * B;
  const t0 = performance.now();
  let ran = 0;
  let k = state ? state.batches.done : first;
  // The next batch is decoded on a worker thread; its requests are posted once this batch's
  // forward pass is done (`afterForward`): onnxruntime keeps every core busy, and a decoder
  // beside it slows it down by more than its own work (docs/performance.md, "Dataset mode").
  // With a core onnxruntime leaves free (`overlap`), batches are decoded one further ahead and
  // the next batch's forward pass runs while this batch's statistics are read.
  using decoders = startDecodeWorkers(options.workers ?? 1);
  const overlap = options.overlap ?? insp.backend.threads < navigator.hardwareConcurrency;
  const start = (kk: number): Promise<{ loaded: Promise<LoadedBatch> }> =>
    startBatch(graph, {
      ...options,
      decoders,
      batchSize: Math.min(B, all.length - kk * B),
      firstClip: kk * B,
    }, size);
  const kStart = k;
  const runs = (kk: number) =>
    kk < end && (options.stopAfter === undefined || kk - kStart < options.stopAfter);
  /** Decodes asked for, by batch index. */
  const requests = new Map<number, Promise<{ loaded: Promise<LoadedBatch> }>>();
  const request = (kk: number): void => {
    if (!runs(kk) || requests.has(kk)) return;
    const p = start(kk);
    // Errors surface when the batch is reached.
    p.then((l) => l.loaded.catch(() => {}), () => {});
    requests.set(kk, p);
  };
  /** Extractions started (at most this batch's and the next), by batch index. */
  type Launched = {
    gazeFrames: ReturnType<typeof batchGaze>;
    gazeClips: number[];
    ex: Promise<Extraction>;
  };
  const launched = new Map<number, Launched>();
  const launch = (kk: number, batch: LoadedBatch): Launched => {
    const nn = Math.min(B, all.length - kk * B);
    // Frames are cut only for the clips with gaze (their maps are scored).
    const gazeFrames = batchGaze(batch.clips?.clips.slice(0, nn).map((c) => c.gaze) ?? [], grid);
    const gazeClips = [...new Set(gazeFrames.map((f) => f.b))];
    insp.setTarget(
      gazeClips.length ? { batchIdx: gazeClips, timestep: "all" } : { batchIdx: 0, timestep: 0 },
    );
    // The forward pass is handed to onnxruntime before this returns.
    const ex = insp.extractFeatures(batch.feeds, { afterForward: () => afterForward(kk) });
    ex.catch(() => {}); // awaited in batch order below
    const l = { gazeFrames, gazeClips, ex };
    launched.set(kk, l);
    return l;
  };
  const afterForward = async (kk: number): Promise<void> => {
    if (!overlap) {
      request(kk + 1);
      await requests.get(kk + 1)?.catch(() => {});
      return;
    }
    // The batch before has been read first: the next forward writes into its outputs' arrays
    // (`reuseOutputs`: two sets in turn).
    await launched.get(kk - 1)?.ex.catch(() => {});
    if (runs(kk + 1) && !launched.has(kk + 1)) {
      // Waiting here for its frames (decoded beside this forward) costs nothing: this batch's
      // statistics then run beside the next forward instead of before it. A failed decode is
      // left to the loop, which reports it when it reaches that batch.
      request(kk + 1);
      const nextBatch = await requests.get(kk + 1)!.then((l) => l.loaded).catch(() => null);
      if (nextBatch && !launched.has(kk + 1)) launch(kk + 1, nextBatch);
    }
    request(kk + 2);
  };
  // No forward pass may outlive the session (a stop, an error): those in flight are waited for
  // before the inspector is disposed.
  await using _inFlight = {
    async [Symbol.asyncDispose]() {
      for (const l of launched.values()) await l.ex.catch(() => {});
    },
  };
  for (; k < end; k++) {
    if (options.stopAfter !== undefined && ran >= options.stopAfter) break;
    const firstClip = k * B;
    const n = Math.min(B, all.length - firstClip);
    let cur = launched.get(k);
    if (!cur) {
      request(k);
      const batch = await profileTime(
        "dataset.wait_data",
        async () => await (await requests.get(k)!).loaded,
      );
      if (overlap) request(k + 1);
      cur = launch(k, batch);
    }
    requests.delete(k);
    const { gazeFrames, gazeClips } = cur;
    const ex = await profileTime("dataset.extract", () => cur.ex);
    launched.delete(k);
    // FEATURE_INSPECTOR_PROFILE=1: the extraction's forward (the tensors handed back) and the
    // row kernel's read of them.
    profileAdd("dataset.forward", ex.timings.forward);
    profileAdd("dataset.read", ex.timings.reduce);
    if (!state) {
      state = {
        format: DATASET_STATE_FORMAT,
        key,
        shard: [si, sn],
        batches: { size: B, total, first, end, done: first },
        clips: all.length,
        layers: ex.layers.map((l) =>
          emptyLayerAccumulator(l.name, {
            channels: l.layout.frameShape[0] ?? 1,
            spatial: l.layout.frameShape.slice(1).reduce((a, b) => a * b, 1),
          })
        ),
        partials: [],
        complete: false,
      };
    }
    const parts: BatchPartial[] = [];
    const lines: string[] = [];
    const perClip: Record<string, { mean: number; max: number | null; sparsity: number }>[] = Array
      .from({ length: n }, () => ({}));
    const clipGaze: Record<string, GazeSums>[] = Array.from({ length: n }, () => ({}));
    for (const [j, l] of ex.layers.entries()) {
      const acc = state.layers[j];
      // One frame per tensor time index: a 3D layer's T' < T frames are each counted once.
      const clipParts: BatchPartial[] = [];
      for (let b = 0; b < n; b++) {
        const rows = Array.from(
          { length: l.layout.tensorTime },
          (_, t) => b * l.layout.tensorTime + t,
        );
        // The moments and the histogram come from the pass's one read of every value
        // (`InspectorOptions.histogram`).
        const p = profileTime(
          "dataset.moments",
          () => addRowMoments(acc, l.rows.moments, { index: l.rows.index, frames: rows }),
        );
        clipParts.push(p);
        perClip[b][l.name] = clipSummary(p);
      }
      if (!l.histogram) throw new Error(`internal error: no histogram for layer ${l.name}`);
      for (let k = 0; k < l.histogram.length; k++) acc.histogram[k] += l.histogram[k];
      const p: BatchPartial = mergePartials(clipParts);
      const shape = gazeShape(l.layout.frameShape);
      if (shape && gazeFrames.length) {
        const sums = emptyGazeSums();
        const m = gazeFrames.length, off = Math.ceil(m / 2);
        for (const [i, f] of gazeFrames.entries()) {
          const frame = l.frames[gazeClips.indexOf(f.b)]?.[f.t];
          if (!frame) continue;
          const map = gridMap(channelMap(frame, shape, null), {
            h: shape.height,
            w: shape.width,
          }, grid);
          const own = saliencyScores(map, f.gaze.fixations, f.gaze.density);
          const d = m > 1 ? gazeFrames[(i + off) % m].gaze : null;
          const shuf = d ? saliencyScores(map, d.fixations, d.density) : null;
          addGazeScores(sums, own, shuf);
          addGazeScores(clipGaze[f.b][l.name] ??= emptyGazeSums(), own, shuf);
        }
        if (sums.frames) p.gaze = sums;
      }
      foldPartial(acc, p);
      parts.push(p);
    }
    for (let b = 0; b < n; b++) {
      const c = all[firstClip + b];
      const g = Object.entries(clipGaze[b]);
      lines.push(JSON.stringify({
        clip: c.id,
        file: c.dir,
        layers: perClip[b],
        ...(g.length ? { gaze: Object.fromEntries(g.map(([k, v]) => [k, clipGazeMeans(v)])) } : {}),
      }));
    }
    state.batches.done = k + 1;
    state.complete = k + 1 === end;
    await Deno.writeTextFile(clipsFile, lines.join("\n") + "\n", { append: true });
    await Deno.writeTextFile(partialsFile, JSON.stringify(parts) + "\n", { append: true });
    await writeAtomic(statePath, JSON.stringify(state));
    ran++;
    const done = Math.min((k + 1) * B, all.length) - first * B;
    const rate = (ran * B) / ((performance.now() - t0) / 1000);
    options.onProgress?.({
      done,
      total: shardClips,
      clipsPerSecond: rate,
      etaSeconds: (shardClips - done) / rate,
    });
  }
  if (!state) {
    throw new InspectorError(
      `options.shard ${si}/${sn} holds no batch: lower n or raise the clip count`,
    );
  }
  const stats = join(saveDir, "dataset_stats.json");
  await writeAtomic(stats, JSON.stringify(statsFile(state), null, 1));
  let frames: string | null = null;
  if (state.complete && options.saveFrames !== false) {
    frames = await saveDatasetFrames(insp, {
      saveDir,
      clips: all.length,
      batchSize: B,
      batches: [first, end],
      time: options.maxLen ?? 8,
      batchIdx: options.batchIdx,
      timestep: options.timestep,
      name: options.name,
      dtype: options.dtype,
      load: async (kk: number) => await (await start(kk)).loaded,
    });
  }
  return { stats, state, frames };
}

/**
 * Merge complete shard states (any order given; folded in shard order) into one state, equal
 * to that of one unsharded run.
 *
 * @example Usage
 * ```ts ignore
 * import { mergeShards } from "./dataset_run.ts";
 * const merged = mergeShards(states);
 * ```
 */
export function mergeShards(states: readonly DatasetState[]): DatasetState {
  if (states.length === 0) throw new InspectorError("merge: give the shards' folders");
  const sorted = [...states].sort((a, b) => a.shard[0] - b.shard[0]);
  const n = sorted[0].shard[1];
  const key = JSON.stringify(sorted[0].key);
  for (const [i, s] of sorted.entries()) {
    if (s.format !== DATASET_STATE_FORMAT) throw new InspectorError(`merge: not a dataset state`);
    if (s.shard[1] !== n || s.shard[0] !== i) {
      throw new InspectorError(
        `merge: shards ${sorted.map((x) => x.shard.join("/")).join(", ")} given; ` +
          `give each of 0/${n} ... ${n - 1}/${n} once`,
      );
    }
    if (JSON.stringify(s.key) !== key) {
      throw new InspectorError(
        `merge: shard ${i}/${n} ran with other options (model, clips, sizes or layers) than ` +
          `shard 0/${n}: rerun it with the same options`,
      );
    }
    if (!s.complete) {
      throw new InspectorError(
        `merge: shard ${i}/${n} is not complete: resume it first (options.resume)`,
      );
    }
    if (i > 0 && s.partials.length !== s.batches.end - s.batches.first) {
      throw new InspectorError(
        `merge: shard ${i}/${n} has ${s.partials.length} of its ${
          s.batches.end - s.batches.first
        } ` +
          `batch partials: read each shard's state with readState (it reads partials.jsonl)`,
      );
    }
  }
  const merged: DatasetState = structuredClone(sorted[0]);
  for (const s of sorted.slice(1)) {
    for (const [j, acc] of merged.layers.entries()) addCounts(acc, s.layers[j]);
    for (const parts of s.partials) {
      for (const [j, acc] of merged.layers.entries()) foldPartial(acc, parts[j]);
    }
    merged.partials.push(...s.partials);
  }
  merged.shard = [0, 1];
  merged.batches = {
    ...merged.batches,
    first: 0,
    end: merged.batches.total,
    done: merged.batches.total,
  };
  return merged;
}

/** `dataset_stats.json`'s content for a state. */
export function statsFile(
  state: DatasetState,
): {
  format: string;
  clips: number;
  shard: string;
  complete: boolean;
  gaze: DatasetGazeInfo | null;
  layers: (LayerDatasetStats & { gaze?: LayerGazeStats })[];
} {
  const scored = state.layers.some((l) => l.gaze);
  const size = state.key.size as number | { width: number; height: number };
  const grid = scoringGrid(
    typeof size === "number" ? { width: size, height: size } : size,
    { maxSide: DATASET_GAZE_SIDE },
  );
  return {
    format: "feature-inspector/dataset-stats",
    clips: state.clips,
    shard: `${state.shard[0]}/${state.shard[1]}`,
    complete: state.complete,
    gaze: scored
      ? {
        map: "mean",
        frame: typeof size === "number" ? { width: size, height: size } : size,
        grid,
        shuffle: GAZE_SHUFFLE,
      }
      : null,
    layers: state.layers.map((acc) => {
      const s: LayerDatasetStats & { gaze?: LayerGazeStats } = layerDatasetStats(acc);
      if (acc.gaze) s.gaze = { frames: acc.gaze.frames, metrics: gazeSumsStats(acc.gaze) };
      return s;
    }),
  };
}

/** How the shuffled baseline of dataset mode is drawn, in words. */
export const GAZE_SHUFFLE: string =
  "each frame's map against the gaze of another frame of its batch (the batch's frames with " +
  "gaze in clip-then-time order; frame i against frame i + ceil(m / 2) mod m)";

/** The gaze section of `dataset_stats.json`: what was scored, on which grid. */
export interface DatasetGazeInfo {
  /** The map scored: the channel mean. */
  map: string;
  /** The frame size the pass ran at. */
  frame: { width: number; height: number };
  /** The scoring grid (that frame size, scaled to the long side cap) and blur. */
  grid: ScoringGrid;
  /** The shuffled baseline. */
  shuffle: string;
}

/** A layer's gaze alignment over the dataset. */
export interface LayerGazeStats {
  /** Frames scored. */
  frames: number;
  /** Per metric: mean ± std, and the shuffled baseline's. */
  metrics: Record<"nss" | "auc" | "cc" | "sim", GazeMetricStats>;
}

/** `(C, H, W)` or `(C, D, H, W)` as a scorer shape; null when not spatial (a vector layer). */
function gazeShape(frameShape: readonly number[]): GazeMapShape | null {
  if (frameShape.length < 3) return null;
  const H = frameShape[frameShape.length - 2], W = frameShape[frameShape.length - 1];
  if (H * W <= 1) return null;
  const depth = frameShape.slice(1, -2).reduce((a, b) => a * b, 1);
  return { channels: frameShape[0], depth, height: H, width: W };
}

/** The batch's frames with gaze inside the frame, in clip-then-time order. */
function batchGaze(
  gaze: readonly (readonly { x: number; y: number }[])[][],
  grid: ScoringGrid,
): { b: number; t: number; gaze: PreparedGaze }[] {
  const out: { b: number; t: number; gaze: PreparedGaze }[] = [];
  for (const [b, clip] of gaze.entries()) {
    for (const [t, pts] of clip.entries()) {
      const g = prepareGaze(pts ?? [], grid);
      if (g) out.push({ b, t, gaze: g });
    }
  }
  return out;
}

/** A clip's per-layer gaze means for `clips.jsonl`. */
function clipGazeMeans(s: GazeSums): Record<string, number | null> {
  const r = gazeSumsStats(s);
  return {
    frames: s.frames,
    nss: r.nss.mean,
    auc: r.auc.mean,
    cc: r.cc.mean,
    sim: r.sim.mean,
    nss_shuffled: r.nss.shuffled_mean,
    auc_shuffled: r.auc.shuffled_mean,
  };
}

/**
 * Parse `i/n` (0 <= i < n).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseShard } from "./dataset_run.ts";
 * assert.deepEqual(parseShard("2/4"), [2, 4]);
 * assert.deepEqual(parseShard(undefined), [0, 1]);
 * assert.throws(() => parseShard("4/4"), /options.shard/);
 * ```
 */
export function parseShard(text: string | undefined): [number, number] {
  if (text === undefined) return [0, 1];
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const i = m ? Number(m[1]) : NaN, n = m ? Number(m[2]) : NaN;
  if (!(n >= 1 && i >= 0 && i < n)) {
    throw new InspectorError(`options.shard ${text}: give i/n with 0 <= i < n, e.g. "0/4"`);
  }
  return [i, n];
}

/** The file of per-batch partials beside `dataset_state.json`. */
export const PARTIALS_FILE = "partials.jsonl";

/**
 * Read a state file, or null when there is none; its batches' partials come from
 * `partials.jsonl` beside it (the lines of the batches it counts as done).
 */
export async function readState(path: string): Promise<DatasetState | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
  const s = JSON.parse(text) as DatasetState;
  if (s.format !== DATASET_STATE_FORMAT) {
    throw new InspectorError(`${path} is not a dataset state file: remove it or pick another dir`);
  }
  const want = s.batches.done - s.batches.first;
  if (Array.isArray(s.partials) && s.partials.length === want) return s;
  const lines = (await Deno.readTextFile(join(dirname(path), PARTIALS_FILE)).catch(() => ""))
    .split("\n").filter((l) => l.length > 0);
  if (lines.length < want) {
    throw new InspectorError(
      `${join(dirname(path), PARTIALS_FILE)} holds ${lines.length} of the ${want} batches of ` +
        `${path}: rerun this shard into a new options.saveDir`,
    );
  }
  s.partials = lines.slice(0, want).map((l) => JSON.parse(l) as BatchPartial[]);
  return s;
}

/** A clip's summary over all channels from its partial: mean, max, sparsity. */
function clipSummary(
  p: Required<Omit<BatchPartial, "gaze">>,
): { mean: number; max: number | null; sparsity: number } {
  let n = 0, sum = 0, zeros = 0, max = -Infinity;
  for (let c = 0; c < p.count.length; c++) {
    n += p.count[c];
    sum += p.mean[c] * p.count[c];
    zeros += p.zeros[c];
    if (p.max[c] > max) max = p.max[c];
  }
  return { mean: n > 0 ? sum / n : 0, max: n > 0 ? max : null, sparsity: n > 0 ? zeros / n : 0 };
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
}

/** Keep the first `keep` lines of a `.jsonl` file (a crash may have left a batch's lines). */
async function truncateLines(path: string, keep: number): Promise<void> {
  const text = await Deno.readTextFile(path).catch(() => "");
  const lines = text.split("\n").filter((l) => l.length > 0).slice(0, keep);
  await Deno.writeTextFile(path, lines.length ? lines.join("\n") + "\n" : "");
}

async function digest(text: string): Promise<string> {
  const h = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
