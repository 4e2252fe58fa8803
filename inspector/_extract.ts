/**
 * Private: the steps of `FeatureMapInspector.extractFeatures`, each with one job.
 *
 * 1. {@linkcode planPasses}: which input is split, whether the passes compute the statistics in
 *    the graph, whether the batch is small enough for one pass ({@linkcode ExtractionPlan});
 * 2. {@linkcode runPasses}: the forward passes, with the first fallback: a single pass with the
 *    statistics in the graph that fails is run again by the chunked whole-tensor path;
 * 3. {@linkcode runPass}: read one pass's outputs (in-graph statistics, or reduce the whole
 *    tensors), with the second fallback: in-graph statistics that are not finite make the pass
 *    run again with whole tensors ({@linkcode PassResult});
 * 4. {@linkcode placePass}: put a pass's moments and saved frames at their place in the whole
 *    batch ({@linkcode TensorState});
 * 5. summarising the states into layers stays with the engine (`feature_map_inspector.ts`).
 *
 * The engine's session, reducer and frame reader reach these steps through
 * {@linkcode PassEngine}.
 *
 * @module
 */

import { InspectorError } from "../core/errors.ts";
import {
  detectLayout,
  extractFrame,
  isChannelLast,
  type LayoutKind,
  rowLayout,
  type TimeLayout,
  toChannelFirst,
} from "./layout.ts";
import type { ChannelOrder } from "./channel_order.ts";
import type { FeedTensor, ModelSession, OutputTensor } from "./runtime.ts";
import { copyRun, emptyMoments, type RowMoments } from "../stats/moments.ts";
import { reduceRowsHistogram } from "../stats/row_kernel.ts";
import { HIST_BINS, positiveHistogram } from "../stats/dataset_statistics.ts";
import { type Reducer, tensorInput } from "../shaders/reduce.ts";
import { type BatchChunk, fitsOnePass, forwardInChunks, sliceBatch } from "./batch_plan.ts";
import {
  type InGraphResult,
  type InGraphTap,
  readInGraphTap,
  selectionFeeds,
} from "./graph_stats.ts";

/** What the steps need from the engine: its sessions, reducer and frame reader. */
export interface PassEngine {
  /** The primary session (with the statistics in the graph when `inGraphTaps` is set). */
  session: ModelSession;
  /** The in-graph taps of `session`, or null when it returns whole tensors. */
  inGraphTaps: readonly InGraphTap[] | null;
  /** Tensors whose time and channel axes are swapped (3D CNNs), by tensor name. */
  swapped: ReadonlyMap<string, boolean>;
  /** The layout override of a tensor, if any. */
  layoutOverride(tensor: string): LayoutKind | undefined;
  /** What the graph says of each tensor's channel order (`channel_order.ts`), by tensor name. */
  channelOrder?: ReadonlyMap<string, ChannelOrder>;
  /** The graph's Conv channel counts (trailing-dim rule of `detectLayout`). */
  convChannels?: readonly number[];
  /** The layer name of a tensor (for messages). */
  layerName(tensor: string): string;
  /** The session returning whole tensors. */
  full(): Promise<ModelSession>;
  /** Count every tapped value into the fixed-edge histogram (`stats/row_kernel.ts`). */
  histogram?: boolean;
  /**
   * Tapped `Relu` outputs whose input is tapped too (output -> input). With `histogram`, such an
   * output's moments and histogram come from its input's pass over the values (`max(x, 0)`)
   * instead of a pass of their own, when the input has no NaN/Inf and the same layout.
   */
  reluInputs?: ReadonlyMap<string, string>;
  /** The host reducer (created on first use, on `device` when given). */
  reducer(device: GPUDevice | null): Promise<Reducer>;
  /** The saved frames of one whole output. */
  frames(
    out: OutputTensor,
    layout: TimeLayout,
    batchIdx: readonly number[],
    timestep: readonly number[],
  ): Promise<Float32Array[][]>;
  /** Notes for people. */
  onInfo?: (line: string) => void;
}

/** How one batch is extracted, decided before any pass runs. */
export interface ExtractionPlan {
  /** Every model input. */
  feeds: Record<string, FeedTensor>;
  /** Name of the main input, the one split into passes. */
  main: string;
  /** The main input. */
  mainFeed: FeedTensor;
  /** Clips B. */
  B: number;
  /** Frames per clip T. */
  T: number;
  /** Clips fed to an image model (time folded into batch): always one pass. */
  folded: boolean;
  /** Saved batch indices. */
  batchIdx: number[];
  /** Saved timesteps. */
  timestep: number[];
  /** The tapped tensors, each once. */
  tensors: string[];
  /** Outputs to leave on the GPU. */
  keepOnGpu: string[];
  /** The passes compute the statistics in the graph. */
  inGraph: boolean;
  /** Try the whole batch as one in-graph pass first. */
  onePass: boolean;
  /** The model may have its frames split (checked by `forwardInChunks`). */
  splitFrames: boolean;
  /** Memory to aim for per pass. */
  budgetBytes: number | undefined;
  /**
   * Lean passes: a one-pass batch runs instead in passes of about this many tapped bytes each
   * (see {@linkcode runPasses}); null: one pass.
   */
  passBytes: number | null;
}

/** Options of {@linkcode planPasses}. */
export interface PlanOptions {
  /** The model's inputs, in order. */
  inputs: readonly { name: string }[];
  /** Saved batch indices. */
  batchIdx: number[];
  /** Saved timesteps. */
  timestep: number[];
  /** The tapped tensor of each layer, in layer order (repeats allowed). */
  layerTensors: readonly string[];
  /** The backend keeps outputs on the GPU. */
  outputsOnGpu: boolean;
  /** Memory to aim for per pass. */
  budgetBytes?: number;
  /** Run a one-pass batch in lean passes of about this many tapped bytes (default: one pass). */
  passBytes?: number;
}

/**
 * Step 1: plan an extraction. Passes run with the statistics in the graph (see
 * `graph_stats.ts`) unless a layout override is given (the in-graph frame selection follows the
 * detected layout).
 */
export function planPasses(
  batch: { feeds: Record<string, FeedTensor>; B: number; T: number },
  engine: Pick<PassEngine, "inGraphTaps" | "swapped" | "layoutOverride" | "channelOrder">,
  options: PlanOptions,
): ExtractionPlan {
  const { feeds, B, T } = batch;
  const tensors = [...new Set(options.layerTensors)];
  const main = options.inputs.find((i) => feeds[i.name].dims.length === 5) ?? options.inputs[0];
  const mainFeed = feeds[main.name];
  const folded = mainFeed.dims.length === 4 && T > 1; // clips fed to an image model
  // Channel-last tensors are transposed on the host first, so they take whole-tensor passes.
  const overridden = tensors.some((t) =>
    engine.layoutOverride(t) !== undefined || engine.channelOrder?.get(t)?.order === "last"
  );
  const inGraph = engine.inGraphTaps !== null && !overridden;
  return {
    feeds,
    main: main.name,
    mainFeed,
    B,
    T,
    folded,
    batchIdx: options.batchIdx,
    timestep: options.timestep,
    tensors,
    keepOnGpu: options.outputsOnGpu ? tensors : [],
    inGraph,
    // (Clips folded into an image model's batch always run in one pass, see runPasses.)
    onePass: inGraph && (folded || fitsOnePass(mainFeed.data.byteLength, options.budgetBytes)),
    splitFrames: !folded && options.layerTensors.every((t) => engine.swapped.get(t) !== true),
    budgetBytes: options.budgetBytes,
    passBytes: options.passBytes ?? null,
  };
}

/** Where a pass sits in the batch, and the saved clips and frames that fall in it. */
export interface PassWindow {
  /** First clip. */
  c0: number;
  /** First frame. */
  f0: number;
  /** Clips in the pass. */
  nb: number;
  /** Frames in the pass. */
  nt: number;
  /** Saved clips in the pass: `[b, index among the saved]`. */
  bis: [number, number][];
  /** Saved frames in the pass: `[t, index among the saved]`. */
  tis: [number, number][];
  /** The saved clips and frames in the pass's own indices. */
  local: { batchIdx: number[]; timestep: number[] };
}

/**
 * Where `chunk` sits in the batch. (Folded clips run in one pass whose "batch" is B*T frames: it
 * covers the whole batch.)
 */
export function passWindow(plan: ExtractionPlan, chunk: BatchChunk): PassWindow {
  const { B, T, folded, batchIdx, timestep } = plan;
  const [c0, c1] = folded ? [0, B] : chunk.clips;
  const [f0, f1] = folded ? [0, T] : chunk.frames;
  const bis = batchIdx.map((b, bi): [number, number] => [b, bi]).filter(([b]) => b >= c0 && b < c1);
  const tis = timestep.map((t, ti): [number, number] => [t, ti]).filter(([t]) => t >= f0 && t < f1);
  return {
    c0,
    f0,
    nb: c1 - c0,
    nt: f1 - f0,
    bis,
    tis,
    local: { batchIdx: bis.map(([b]) => b - c0), timestep: tis.map(([t]) => t - f0) },
  };
}

/** One pass with the statistics in the graph, on the primary session. */
function runInGraph(
  engine: PassEngine,
  plan: ExtractionPlan,
  chunk: BatchChunk,
  input: FeedTensor,
): Promise<Record<string, OutputTensor>> {
  const p = passWindow(plan, chunk);
  return engine.session.run({
    ...plan.feeds,
    [plan.main]: input,
    ...selectionFeeds({ clips: p.nb, frames: p.nt }, p.local),
  });
}

/** Tapped bytes a lean pass aims at (`PlanOptions.passBytes` of a lean inspector): 16 MiB. */
export const LEAN_PASS_BYTES: number = 16 * 2 ** 20;

/** What {@linkcode runPasses} ran. */
export interface PassesDone {
  /** Every delivered pass, in order. */
  chunks: BatchChunk[];
  /** A note on a split for memory, or null. */
  note: string | null;
  /** The passes are lean ones (`ExtractionPlan.passBytes`), not a split for the memory budget. */
  lean: boolean;
}

/**
 * Step 2: run every forward pass of the plan, handing each pass's outputs to `onPass` (which
 * reads them with {@linkcode runPass} and returns what it read). A small batch with in-graph
 * statistics runs as one pass, or as lean passes when `plan.passBytes` is set; when that fails, or
 * the batch is big, the passes run through `forwardInChunks` (whole tensors, or in-graph
 * statistics per chunk). Errors other than {@linkcode InspectorError}s become one-line ones.
 */
export async function runPasses(
  engine: PassEngine,
  plan: ExtractionPlan,
  onPass: (chunk: BatchChunk, outputs: Record<string, OutputTensor>) => Promise<PassResult>,
): Promise<PassesDone> {
  let chunksInGraph = plan.inGraph;
  let inGraphFailure: string | null = null;
  let done: PassesDone | null = null;
  if (plan.onePass && plan.passBytes !== null && !plan.folded) {
    // A model with fixed batch or time axes cannot take smaller passes: one pass then.
    done = await runLeanPasses(engine, plan, onPass).catch(() => null);
  }
  if (plan.onePass && !done) {
    // A small batch: one pass.
    const whole: BatchChunk = { clips: [0, plan.B], frames: [0, plan.T] };
    const outputs = await runInGraph(engine, plan, whole, plan.mainFeed).catch((err: Error) => {
      // Let the whole-tensor path run it: its error, if it fails too, is the one to show.
      inGraphFailure = err.message.split("\n")[0];
      chunksInGraph = false;
      return null;
    });
    if (outputs) {
      await onPass(whole, outputs);
      done = { chunks: [whole], note: null, lean: false };
    }
  }
  try {
    if (!done) {
      const session = await engine.full();
      await engine.reducer(session.device);
      const chunked = await forwardInChunks(session, plan.feeds, {
        input: plan.main,
        splitFrames: plan.splitFrames,
        verify: plan.tensors,
        keepOnGpu: plan.keepOnGpu,
        // Clips folded into an image model's batch: chunk ranges would index frames, not
        // clips, so such a batch runs in one pass.
        budgetBytes: plan.folded ? Number.POSITIVE_INFINITY : plan.budgetBytes,
        savedFrames: plan.batchIdx.length * plan.timestep.length,
        onChunk: async (chunk, outputs) => {
          await onPass(chunk, outputs);
        },
        // No onInfo: the note comes back in the result, and the inspector reports it once, as
        // its "the batch ran in N forward passes" warning.
        runChunk: chunksInGraph
          ? (chunk, input) => runInGraph(engine, plan, chunk, input)
          : undefined,
      });
      done = { chunks: chunked.chunks, note: chunked.note, lean: false };
      if (inGraphFailure) {
        engine.onInfo?.(
          `note: the pass with statistics in the graph failed (${inGraphFailure}); whole ` +
            "tensors were reduced instead",
        );
      }
    }
  } catch (err) {
    if (err instanceof InspectorError) throw err;
    throw new InspectorError(
      `the forward pass failed: ${(err as Error).message.split("\n")[0]}; check the input ` +
        `shape (options.size, options.maxLen) against the model`,
    );
  }
  return done;
}

/** Tapped bytes per (clip, frame) of a pass, from its layouts. */
function tapBytesPerFrame(result: PassResult): number {
  let bytes = 0;
  for (const { layout } of result.tensors.values()) {
    bytes += 4 * layout.dims.reduce((a, b) => a * b, 1);
  }
  return bytes / Math.max(1, result.window.nb * result.window.nt);
}

/**
 * Null when frame 0 of clip 0 has the same statistics (mean, min and max of every channel, to
 * 1e-4 of its scale) run alone and run among other frames; else what differs.
 */
function frameZeroDiffers(
  alone: PassResult,
  among: PassResult,
  layerName: (tensor: string) => string,
): string | null {
  for (const [tensor, a] of alone.tensors) {
    const w = among.tensors.get(tensor);
    const ia = rowLayout(a.layout).index;
    const iw = w ? rowLayout(w.layout).index : null;
    if (!w || !iw || iw.channels !== ia.channels) return `${layerName(tensor)} changes its layout`;
    const ma = a.moments, mw = w.moments;
    for (let c = 0; c < ia.channels; c++) {
      const ra = ia.rowOf(0, c), rw = iw.rowOf(0, c);
      const scale = Math.max(1, Math.abs(ma.min[ra]), Math.abs(ma.max[ra]));
      const d = Math.max(
        Math.abs(ma.sum[ra] / ma.width - mw.sum[rw] / mw.width),
        Math.abs(ma.min[ra] - mw.min[rw]),
        Math.abs(ma.max[ra] - mw.max[rw]),
      );
      if (!(d <= 1e-4 * scale)) {
        return `${layerName(tensor)} of frame 0 changes with the other frames in the pass (by ${
          d.toPrecision(2)
        })`;
      }
    }
  }
  return null;
}

/**
 * Lean passes of a small batch: `k` frames of one clip each (frames split evenly), or whole
 * clips, `clips` at a time.
 */
function leanChunks(B: number, T: number, k: number, clips: number): BatchChunk[] {
  const chunks: BatchChunk[] = [];
  if (k < T) {
    const n = Math.ceil(T / k);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < n; i++) {
        chunks.push({
          clips: [b, b + 1],
          frames: [Math.round((i * T) / n), Math.round(((i + 1) * T) / n)],
        });
      }
    }
  } else {
    for (let b = 0; b < B; b += clips) {
      chunks.push({ clips: [b, Math.min(B, b + clips)], frames: [0, T] });
    }
  }
  return chunks;
}

/**
 * Lean passes: the batch in passes of about `plan.passBytes` tapped bytes, so that the forward
 * pass's working memory is a few frames', not the batch's (the statistics are per (frame,
 * channel) and land where they belong, so the result is the same). A 2D backbone is first run
 * on frame 0 alone, which measures the bytes per frame and is compared with frame 0 in the first
 * pass: a model that mixes frames (a temporal shift) then runs in whole clips. Clips are taken
 * as independent, as in `forwardInChunks`.
 */
async function runLeanPasses(
  engine: PassEngine,
  plan: ExtractionPlan,
  onPass: (chunk: BatchChunk, outputs: Record<string, OutputTensor>) => Promise<PassResult>,
): Promise<PassesDone> {
  const { B, T } = plan;
  const budget = plan.passBytes ?? Number.POSITIVE_INFINITY;
  const timeAxis = plan.mainFeed.dims.length >= 5;
  const run = (chunk: BatchChunk) =>
    runInGraph(engine, plan, chunk, sliceBatch(plan.mainFeed, chunk, { timeAxis }));
  const chunks: BatchChunk[] = [];
  const deliver = async (chunk: BatchChunk): Promise<PassResult> => {
    const result = await onPass(chunk, await run(chunk));
    chunks.push(chunk);
    return result;
  };
  const clipsFor = (perFrame: number) => Math.max(1, Math.floor(budget / (perFrame * T)));
  if (plan.splitFrames && timeAxis && T > 1) {
    const probe: BatchChunk = { clips: [0, 1], frames: [0, 1] };
    const alone = await runPass(engine, plan, { chunk: probe, outputs: await run(probe) });
    const perFrame = tapBytesPerFrame(alone);
    const k = Math.min(T, Math.max(2, Math.floor(budget / perFrame)));
    if (k < T) {
      const planned = leanChunks(B, T, k, 1);
      const mixed = frameZeroDiffers(alone, await deliver(planned[0]), engine.layerName);
      if (mixed === null) {
        for (const c of planned.slice(1)) await deliver(c);
        return { chunks, note: null, lean: true };
      }
      engine.onInfo?.(`note: ${mixed}; the lean passes take whole clips`);
      chunks.length = 0;
    }
    for (const c of leanChunks(B, T, T, clipsFor(perFrame))) await deliver(c);
    return { chunks, note: null, lean: true };
  }
  // Frames stay together: the first clip measures the others.
  const first = await deliver({ clips: [0, 1], frames: [0, T] });
  const rest = leanChunks(B - 1, T, T, clipsFor(tapBytesPerFrame(first)));
  for (const c of rest) {
    await deliver({ clips: [c.clips[0] + 1, c.clips[1] + 1], frames: c.frames });
  }
  return { chunks, note: null, lean: true };
}

/** One tensor's share of a pass. */
export interface TensorPass {
  /** Its layout in this pass. */
  layout: TimeLayout;
  /** Its row moments in this pass (rows of `rowLayout(layout)`). */
  moments: RowMoments;
  /** The saved frames in the pass `[i][j]` (of `bis` x `tis`), or null when none falls in it. */
  frames: Float32Array[][] | null;
  /** Its values in the pass counted into the fixed-edge bins (`PassEngine.histogram`), or null. */
  histogram: number[] | null;
}

/** What one pass gave. */
export interface PassResult {
  /** Where the pass sits. */
  window: PassWindow;
  /** Its statistics came from the graph. */
  inGraph: boolean;
  /** Per tapped tensor. */
  tensors: Map<string, TensorPass>;
  /** The model's own outputs, downloaded, when asked for. */
  modelOutputs: Record<string, { dims: number[]; data: Float32Array }> | null;
}

/** The in-graph results of every tap of a pass, or null when one of them is unusable. */
async function readInGraph(
  engine: PassEngine,
  window: PassWindow,
  outputs: Record<string, OutputTensor>,
): Promise<Map<string, InGraphResult> | null> {
  const read = new Map<string, InGraphResult>();
  for (const tap of engine.inGraphTaps ?? []) {
    const r = await readInGraphTap(outputs, tap, {
      clips: window.nb,
      frames: window.nt,
      swapped: engine.swapped.get(tap.tensor) ?? false,
      name: engine.layerName(tap.tensor),
      graph: engine.channelOrder?.get(tap.tensor),
      convChannels: engine.convChannels,
      ...window.local,
    });
    if (!r) return null;
    read.set(tap.tensor, r);
  }
  return read;
}

/**
 * Step 3: the moments and saved frames of every tapped tensor in one pass's `outputs`, which it
 * disposes. In-graph statistics that are unusable (not finite, or not fitting the layout) make
 * the pass run again on the whole-tensor session.
 */
export async function runPass(
  engine: PassEngine,
  plan: ExtractionPlan,
  pass: {
    chunk: BatchChunk;
    outputs: Record<string, OutputTensor>;
    modelOutputs?: readonly string[];
  },
): Promise<PassResult> {
  const window = passWindow(plan, pass.chunk);
  const { nb, nt, bis, tis, local: saved } = window;
  let outputs = pass.outputs;
  try {
    let inGraph: Map<string, InGraphResult> | null = null;
    if (engine.inGraphTaps && outputs[engine.inGraphTaps[0].shape]) {
      inGraph = await readInGraph(engine, window, outputs);
      if (!inGraph) {
        // Non-finite statistics: run this pass again with whole tensors.
        engine.onInfo?.(
          "note: some in-graph statistics are not finite (NaN/Inf in the activations?) or " +
            "do not fit the layout; computing them from the whole tensors",
        );
        for (const o of Object.values(outputs)) o.dispose();
        await engine.reducer(null);
        const { mainFeed } = plan;
        const isWhole = plan.folded || (nb === plan.B && nt === plan.T);
        outputs = await (await engine.full()).run({
          ...plan.feeds,
          [plan.main]: isWhole
            ? mainFeed
            : sliceBatch(mainFeed, pass.chunk, { timeAxis: mainFeed.dims.length >= 5 }),
        });
      }
    }
    const tensors = new Map<string, TensorPass>();
    // Relu outputs whose input is read in this pass: derived from the input's values, so last.
    const reluOf = new Map<string, string>();
    for (const [y, x] of engine.reluInputs ?? []) {
      if (engine.histogram && !inGraph && outputs[x] && outputs[y]) reluOf.set(x, y);
    }
    const derived = new Map<string, Derived>();
    const late = new Set(reluOf.values());
    const order = [...plan.tensors].sort((a, b) => +late.has(a) - +late.has(b));
    for (const tensor of order) {
      const r = inGraph?.get(tensor);
      const out = outputs[tensor];
      if (!r && !out) throw new Error(`tapped tensor ${tensor} missing from the outputs`);
      const layout = r?.layout ?? detectLayout(out.dims, {
        batch: nb,
        time: nt,
        swapped: engine.swapped.get(tensor) ?? false,
        override: engine.layoutOverride(tensor),
        name: engine.layerName(tensor),
        graph: engine.channelOrder?.get(tensor),
        convChannels: engine.convChannels,
      });
      const lr = rowLayout(layout);
      // A channel-last tensor is read back and transposed to channel-first on the host.
      const cf = !r && isChannelLast(layout.kind)
        ? toChannelFirst(out.data ?? await out.download(), layout)
        : null;
      // With a histogram, one pass of the row kernel over the values gives both.
      const d = derived.get(tensor);
      const given = d && !cf && d.kind === layout.kind && d.rows === lr.rows && d.width === lr.width
        ? d
        : undefined;
      const histogram = given?.histogram ??
        (!r && engine.histogram ? new Array<number>(HIST_BINS).fill(0) : null);
      const relu = reluOf.get(tensor);
      const positive = relu && !cf && histogram && sameDims(outputs[relu].dims, out.dims)
        ? emptyMoments(lr.rows, lr.width)
        : undefined;
      const moments = r?.moments ?? given?.moments ??
        (histogram
          ? reduceRowsHistogram(cf ?? out.data ?? await out.download(), [lr.rows, lr.width], {
            histogram,
            positive,
          })
          : await (await engine.reducer(null)).reduceRows(cf ?? tensorInput(out), [
            lr.rows,
            lr.width,
          ]));
      if (relu && positive && histogram && moments.nonfinite.every((n) => n === 0)) {
        derived.set(relu, {
          moments: positive,
          histogram: positiveHistogram(histogram),
          kind: layout.kind,
          rows: lr.rows,
          width: lr.width,
        });
      }
      // The saved frames that fall in this pass.
      const frames = bis.length && tis.length
        ? r?.frames ??
          (cf
            ? saved.batchIdx.map((b) => saved.timestep.map((t) => extractFrame(cf, layout, b, t)))
            : await engine.frames(out, layout, saved.batchIdx, saved.timestep))
        : null;
      tensors.set(tensor, { layout, moments, frames, histogram });
    }
    let modelOutputs: PassResult["modelOutputs"] = null;
    if (pass.modelOutputs) {
      modelOutputs = {};
      for (const name of pass.modelOutputs) {
        const t = outputs[name];
        // A copy: the session may write the next run into the same arrays (`reuseOutputs`).
        if (t) modelOutputs[name] = { dims: t.dims, data: (t.data ?? await t.download()).slice() };
      }
    }
    return { window, inGraph: inGraph !== null, tensors, modelOutputs };
  } finally {
    for (const o of Object.values(outputs)) o.dispose();
  }
}

/** A Relu output's moments and histogram from its input's pass, in the input's row layout. */
interface Derived {
  moments: RowMoments;
  histogram: number[];
  kind: LayoutKind;
  rows: number;
  width: number;
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Per tapped tensor during an extraction: the whole-batch layout, its row moments (filled pass by
 * pass) and the saved frames `[bi][ti]`.
 */
export interface TensorState {
  /** The layout of the whole batch (set by the first pass). */
  layout: TimeLayout | null;
  /** Row moments of the whole batch. */
  m: RowMoments | null;
  /** Saved frames `[bi][ti]` (empty until their pass ran). */
  frames: Float32Array[][];
  /** The fixed-edge histogram of the passes so far (`PassEngine.histogram`), or null. */
  histogram: number[] | null;
}

/** Empty states for the plan's tensors. */
export function newTensorStates(plan: ExtractionPlan): Map<string, TensorState> {
  const state = new Map<string, TensorState>();
  for (const t of plan.tensors) {
    state.set(t, {
      layout: null,
      m: null,
      frames: plan.batchIdx.map(() => plan.timestep.map(() => new Float32Array(0))),
      histogram: null,
    });
  }
  return state;
}

/** Copy the moments of run `from` of `src` into run `to` of `dst`. */
function copyMoment(src: RowMoments, from: number, dst: RowMoments, to: number): void {
  copyRun(src, from, dst, to);
}

/** The layout of the whole batch, from the layout of one forward pass over part of it. */
function wholeLayout(local: TimeLayout, B: number, T: number): TimeLayout {
  const d = [...local.dims];
  switch (local.kind) {
    case "bt_chw":
    case "bt_hwc":
      d[0] = B * T;
      break;
    case "b_t_chw":
    case "b_t_hwc":
      d[0] = B;
      d[1] = T;
      break;
    case "b_c_t_hw":
    case "b_chw":
    case "b_hwc":
      d[0] = B;
      break;
  }
  const whole = detectLayout(d, {
    batch: B,
    time: T,
    swapped: local.kind === "b_c_t_hw",
    override: local.kind,
    name: "whole batch",
  });
  // The kind is the pass's; so is the evidence that decided it.
  return { ...whole, evidence: local.evidence };
}

/**
 * Step 4: put each (frame, channel) run of a pass at its place in the whole batch, and its saved
 * frames at theirs. Returns the bytes of the whole-batch moments allocated by this pass (the
 * first one of each tensor), which a full read-back would have cost.
 */
export function placePass(
  state: ReadonlyMap<string, TensorState>,
  plan: ExtractionPlan,
  result: PassResult,
): number {
  const { c0, f0, bis, tis } = result.window;
  let allocated = 0;
  for (const [tensor, { layout: local, moments: m, frames, histogram }] of result.tensors) {
    const st = state.get(tensor)!;
    if (histogram) {
      if (!st.histogram) st.histogram = histogram;
      else for (let k = 0; k < histogram.length; k++) st.histogram[k] += histogram[k];
    }
    const lr = rowLayout(local);
    let inPlace = false;
    if (!st.layout) {
      st.layout = wholeLayout(local, plan.B, plan.T);
      const rl = rowLayout(st.layout);
      allocated += rl.rows * rl.width * 4;
      // One pass over the whole batch: its runs are already in place.
      inPlace = c0 === 0 && f0 === 0 && rl.rows === lr.rows && rl.width === lr.width;
      st.m = inPlace ? m : emptyMoments(rl.rows, rl.width);
    }
    if (!inPlace) {
      const whole = rowLayout(st.layout);
      const tpLocal = local.tensorTime;
      for (let lf = 0; lf < lr.index.frames; lf++) {
        const lb = Math.floor(lf / tpLocal), lt = lf % tpLocal;
        const gf = (c0 + lb) * st.layout.tensorTime +
          (local.kind === "b_c_t_hw" || local.kind === "b_chw" || local.kind === "b_hwc"
            ? lt
            : f0 + lt);
        for (let c = 0; c < lr.index.channels; c++) {
          copyMoment(m, lr.index.rowOf(lf, c), st.m!, whole.index.rowOf(gf, c));
        }
      }
    }
    if (frames) {
      bis.forEach(([, bi], i) => tis.forEach(([, ti], j) => st.frames[bi][ti] = frames[i][j]));
    }
  }
  return allocated;
}

/** Check that every tensor got its layout and every saved frame (an internal error otherwise). */
export function assertComplete(state: ReadonlyMap<string, TensorState>): void {
  for (const [tensor, st] of state) {
    if (
      !st.layout || st.frames.some((row) => row.some((f) => f.length === 0 && st.m!.rows > 0))
    ) {
      throw new Error(`internal error: not every saved frame of ${tensor} was extracted`);
    }
  }
}

/**
 * The model's outputs of the whole batch from those of its passes: one pass's as they are;
 * passes of whole clips joined along the clip axis (every output's first axis is the pass's
 * clips); else none (a pass over some frames of a clip says nothing of the clip's output).
 */
export function joinModelOutputs(
  passes: readonly { chunk: BatchChunk; outputs: PassResult["modelOutputs"] }[],
  batch: { B: number; T: number },
): Record<string, { dims: number[]; data: Float32Array }> {
  if (passes.length === 1) return passes[0].outputs ?? {};
  const sorted = [...passes].sort((a, b) => a.chunk.clips[0] - b.chunk.clips[0]);
  const first = sorted[0]?.outputs;
  const wholeClips =
    sorted.every((p, i) =>
      p.outputs !== null && p.chunk.frames[0] === 0 && p.chunk.frames[1] === batch.T &&
      p.chunk.clips[0] === (i === 0 ? 0 : sorted[i - 1].chunk.clips[1])
    ) && sorted[sorted.length - 1]?.chunk.clips[1] === batch.B;
  if (!first || !wholeClips) return {};
  const joined: Record<string, { dims: number[]; data: Float32Array }> = {};
  for (const name of Object.keys(first)) {
    const parts = sorted.map((p) => p.outputs![name]);
    const ok = parts.every((o, i) =>
      o && o.dims[0] === sorted[i].chunk.clips[1] - sorted[i].chunk.clips[0]
    );
    if (!ok) return {};
    const data = new Float32Array(parts.reduce((a, o) => a + o.data.length, 0));
    let at = 0;
    for (const o of parts) {
      data.set(o.data, at);
      at += o.data.length;
    }
    joined[name] = { dims: [batch.B, ...parts[0].dims.slice(1)], data };
  }
  return joined;
}
