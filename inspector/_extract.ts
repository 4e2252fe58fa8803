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

/**
 * Step 2: run every forward pass of the plan, handing each pass's outputs to `onPass` (which
 * disposes them). A small batch with in-graph statistics runs as one pass; when that pass fails,
 * or the batch is big, the passes run through `forwardInChunks` (whole tensors, or in-graph
 * statistics per chunk). Errors other than {@linkcode InspectorError}s become one-line ones.
 */
export async function runPasses(
  engine: PassEngine,
  plan: ExtractionPlan,
  onPass: (chunk: BatchChunk, outputs: Record<string, OutputTensor>) => Promise<void>,
): Promise<{ chunks: BatchChunk[]; note: string | null }> {
  let chunksInGraph = plan.inGraph;
  let inGraphFailure: string | null = null;
  let done: { chunks: BatchChunk[]; note: string | null } | null = null;
  if (plan.onePass) {
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
      done = { chunks: [whole], note: null };
    }
  }
  try {
    if (!done) {
      const session = await engine.full();
      await engine.reducer(session.device);
      done = await forwardInChunks(session, plan.feeds, {
        input: plan.main,
        splitFrames: plan.splitFrames,
        verify: plan.tensors,
        keepOnGpu: plan.keepOnGpu,
        // Clips folded into an image model's batch: chunk ranges would index frames, not
        // clips, so such a batch runs in one pass.
        budgetBytes: plan.folded ? Number.POSITIVE_INFINITY : plan.budgetBytes,
        savedFrames: plan.batchIdx.length * plan.timestep.length,
        onChunk: onPass,
        // No onInfo: the note comes back in the result, and the inspector reports it once, as
        // its "the batch ran in N forward passes" warning.
        runChunk: chunksInGraph
          ? (chunk, input) => runInGraph(engine, plan, chunk, input)
          : undefined,
      });
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

/** One tensor's share of a pass. */
export interface TensorPass {
  /** Its layout in this pass. */
  layout: TimeLayout;
  /** Its row moments in this pass (rows of `rowLayout(layout)`). */
  moments: RowMoments;
  /** The saved frames in the pass `[i][j]` (of `bis` x `tis`), or null when none falls in it. */
  frames: Float32Array[][] | null;
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
    for (const tensor of plan.tensors) {
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
      const moments = r?.moments ??
        await (await engine.reducer(null)).reduceRows(cf ?? tensorInput(out), [
          lr.rows,
          lr.width,
        ]);
      // The saved frames that fall in this pass.
      const frames = bis.length && tis.length
        ? r?.frames ??
          (cf
            ? saved.batchIdx.map((b) => saved.timestep.map((t) => extractFrame(cf, layout, b, t)))
            : await engine.frames(out, layout, saved.batchIdx, saved.timestep))
        : null;
      tensors.set(tensor, { layout, moments, frames });
    }
    let modelOutputs: PassResult["modelOutputs"] = null;
    if (pass.modelOutputs) {
      modelOutputs = {};
      for (const name of pass.modelOutputs) {
        const t = outputs[name];
        if (t) modelOutputs[name] = { dims: t.dims, data: t.data ?? await t.download() };
      }
    }
    return { window, inGraph: inGraph !== null, tensors, modelOutputs };
  } finally {
    for (const o of Object.values(outputs)) o.dispose();
  }
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
}

/** Empty states for the plan's tensors. */
export function newTensorStates(plan: ExtractionPlan): Map<string, TensorState> {
  const state = new Map<string, TensorState>();
  for (const t of plan.tensors) {
    state.set(t, {
      layout: null,
      m: null,
      frames: plan.batchIdx.map(() => plan.timestep.map(() => new Float32Array(0))),
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
  for (const [tensor, { layout: local, moments: m, frames }] of result.tensors) {
    const st = state.get(tensor)!;
    if (!st.layout) {
      st.layout = wholeLayout(local, plan.B, plan.T);
      const rl = rowLayout(st.layout);
      st.m = emptyMoments(rl.rows, rl.width);
      allocated += rl.rows * rl.width * 4;
    }
    const lr = rowLayout(local);
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
