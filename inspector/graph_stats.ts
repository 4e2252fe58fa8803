/**
 * Statistics and saved frames computed inside the ONNX graph, so that full activations never
 * leave onnxruntime.
 *
 * A tapped tensor of a CPU forward pass (native or WASM) normally comes back whole: the whole
 * batch's `conv1` of a ResNet-18 at 224 px is 51 MB, copied out of onnxruntime and then reduced
 * in JavaScript. {@linkcode buildStatsModel} instead appends, for each tapped tensor `x`, nodes
 * that return only what `inspect` keeps:
 *
 * - `Shape(x)`, so that the layout is found exactly as for a full tensor;
 * - per row (see `layout.ts` `rowLayout`: one row per (frame, channel), `width` = the values
 *   after the channel and time axes, i.e. `prod(dims[max(2, rank - 2):])`), computed on `x`
 *   viewed as `(rows, width / W, W)` (`W` = its last axis) and cast to float32: the sum
 *   (`ReduceSum` over `W` in float32, then over the rest in float64), the sum of squared
 *   deviations from the mean (`ReduceSumSquare(x - mean)` the same way: two passes, like the CPU
 *   reference), `ReduceMin`, `ReduceMax`, and the count of exact zeros (`Equal(x, 0)` as bytes,
 *   counted by `MatMulInteger` with a column of ones);
 * - `Gather(x, idx, axis 0)` of the saved frames: `idx` is chosen in the graph from two
 *   selections fed at run time, the saved frames' indices `b*T + t` when `x`'s first axis is
 *   `B*T` (a 2D backbone with time folded into batch) and the saved clips otherwise (all of a
 *   clip's frames; the frame is cut on the host).
 *
 * A row whose mean, m2, min or max is not finite (NaN/Inf in the activations, or an overflow)
 * cannot be told apart from the others here, so {@linkcode readInGraphTap} returns null and the
 * caller falls back to full tensors for that batch. The rows and widths are checked against the
 * host's layout for the same reason.
 *
 * @module
 */

import onnxproto from "npm:onnx-proto@8.0.1";
import { extendModel, type GraphAdditions, type OnnxGraph } from "./onnx_model.ts";
import type { FeedTensor, OutputTensor } from "./runtime.ts";
import { detectLayout, extractFrame, isChannelLast, rowLayout, type TimeLayout } from "./layout.ts";
import type { ChannelOrder } from "./channel_order.ts";
import { ACCUMULATOR_NAMES, type AccumulatorName } from "../stats/descriptors.ts";
import { emptyMoments, type RowMoments } from "../stats/moments.ts";

// deno-lint-ignore no-explicit-any
const { onnx } = onnxproto as any;

/** Smallest default-domain opset the added nodes need (int64 `Max`, float `Equal`). */
export const MIN_STATS_OPSET = 12;

const P = "feature_inspector::";

/** Graph input names of the run-time selections (float32; cast to int64 in the graph). */
export const SELECT_INPUTS = {
  /** Saved frames `b*T + t`, padded to a common length. */
  frames: `${P}select_frames`,
  /** Saved clips `b`, padded to the same length. */
  clips: `${P}select_clips`,
  /** `[B*T]`: a tensor whose first axis has this length is laid out per frame. */
  framesTotal: `${P}frames_total`,
} as const;

/** The outputs added for one tapped tensor. */
export interface InGraphTap {
  /** The tapped tensor. */
  tensor: string;
  /** `Shape(x)`, int64. */
  shape: string;
  /** The gathered frames or clips (the tensor's own element type); the tensor itself when `whole`. */
  frames: string;
  /** Built with `wholeFrames`: `frames` is the whole tensor, cut on the host. */
  whole?: boolean;
  /** Per-row statistics (absent when built with `statistics: false`). */
  stats: InGraphStats | null;
}

/** The per-row statistics outputs of one tapped tensor (output names). */
export interface InGraphStats {
  /** Row sums (double). */
  sum: string;
  /** Row means as float32: the centre `m2` was taken about. */
  mean: string;
  /** Sums of squared deviations from `mean` (double). */
  m2: string;
  /** Row minima. */
  min: string;
  /** Row maxima. */
  max: string;
  /** Counts of exact zeros. */
  zeros: string;
}

/** What the in-graph builder of one accumulator works with (one tapped tensor). */
interface TapGraph {
  /** Name prefix of this tap's nodes. */
  p: string;
  /** The tensor as float32, viewed as `(rows, width / W, W)`. */
  x: string;
  /** `[width]`, int64. */
  width: string;
  /** `[W]`, int64. */
  w: string;
  /** Add a node; returns its output. */
  node(op: string, inputs: string[], out: string, attrs?: Attr[]): string;
  /** Add a Reduce* node over `axes` (attribute or input, as the opset wants). */
  reduce(op: string, x: string, out: string, axes: number[], keep: 0 | 1): string;
  /** Cast to double. */
  toDouble(v: string): string;
  /** The outputs added so far. */
  out: Partial<InGraphStats>;
}

/** The per-row values read back from the in-graph outputs. */
type InGraphRows = Record<keyof InGraphStats, ArrayLike<number>>;

/** How one accumulator of `RowMoments` is computed in the graph and read back per row. */
interface InGraphAccumulator {
  /** Add the nodes and outputs computing it (in table order: later ones may use earlier outputs). */
  build?(g: TapGraph): void;
  /** Its value for row `r`. */
  read(o: InGraphRows, r: number, width: number): number;
  /** Whether a non-finite output means the row cannot be trusted (the host falls back). */
  checkFinite: boolean;
}

/**
 * The in-graph version of every accumulator (`stats/descriptors.ts` `ACCUMULATORS`), in the order
 * the nodes are added.
 */
const IN_GRAPH: { readonly [K in AccumulatorName]: InGraphAccumulator } = {
  sum: {
    build(g) {
      const { p, node, reduce } = g;
      const sum = reduce(
        "ReduceSum",
        g.toDouble(reduce("ReduceSum", g.x, `${p}sum_w`, [2], 0)),
        `${p}sum`,
        [1],
        0,
      );
      const widthD = node("Cast", [g.width], `${p}width_f64`, [int("to", DOUBLE)]);
      const mean = node("Cast", [node("Div", [sum, widthD], `${p}mean_f64`)], `${p}mean`, [
        int("to", FLOAT),
      ]);
      g.out.sum = sum;
      g.out.mean = mean;
    },
    read: (o, r) => o.sum[r],
    checkFinite: true,
  },
  m2: {
    build(g) {
      const { p, node, reduce } = g;
      const mean3 = node("Reshape", [g.out.mean!, `${P}col3`], `${p}mean3`);
      const dev = node("Sub", [g.x, mean3], `${p}dev`);
      g.out.m2 = reduce(
        "ReduceSum",
        g.toDouble(reduce("ReduceSumSquare", dev, `${p}m2_w`, [2], 0)),
        `${p}m2`,
        [1],
        0,
      );
    },
    // m2 was taken about the float32 mean c: sum((x - c)^2) = m2 + width * (mean - c)^2.
    read: (o, r, width) => {
      const d = o.sum[r] / width - o.mean[r];
      return Math.max(0, o.m2[r] - width * d * d);
    },
    checkFinite: true,
  },
  min: {
    build: (g) => void (g.out.min = g.reduce("ReduceMin", g.x, `${g.p}min`, [1, 2], 0)),
    read: (o, r) => o.min[r],
    checkFinite: true,
  },
  max: {
    build: (g) => void (g.out.max = g.reduce("ReduceMax", g.x, `${g.p}max`, [1, 2], 0)),
    read: (o, r) => o.max[r],
    checkFinite: true,
  },
  zeros: {
    build(g) {
      const { p, node } = g;
      const flags = node("Equal", [g.x, `${P}f0`], `${p}is_zero`);
      const isZero = node("Cast", [flags], `${p}is_zero_u8`, [int("to", UINT8)]);
      // Zeros are counted on 1-byte flags with an integer matrix product (flags x ones(W)): a
      // third of the memory traffic of casting the flags to float32 and summing those.
      const onesShape = node("Concat", [g.w, `${P}one`], `${p}ones_shape`, [int("axis", 0)]);
      const ones = node("Expand", [`${P}u8one`, onesShape], `${p}ones`);
      const counts = node("MatMulInteger", [isZero, ones], `${p}zero_counts`);
      g.out.zeros = g.reduce(
        "ReduceSum",
        node("Cast", [counts], `${p}zero_counts_f`, [int("to", FLOAT)]),
        `${p}zeros`,
        [1, 2],
        0,
      );
    },
    read: (o, r) => o.zeros[r],
    checkFinite: false,
  },
  // Not computed in the graph: a row with NaN/Inf has a non-finite sum, m2, min or max, and the
  // host then reduces the full tensor instead.
  nonfinite: { read: () => 0, checkFinite: false },
};

/** A model with in-graph taps. */
export interface StatsModel {
  /** The encoded model (a copy of the whole model, encoded on first use). */
  readonly bytes: Uint8Array;
  /** The nodes, initializers, inputs and outputs added, for `withExtendedModel`. */
  additions: GraphAdditions;
  /** Per tapped tensor, in the order given. */
  taps: InGraphTap[];
}

/** Options of {@linkcode buildStatsModel}. */
export interface StatsModelOptions {
  /** Add the per-row statistics (default true); false returns only shapes and saved frames. */
  statistics?: boolean;
  /**
   * Hand back each tapped tensor as it is instead of gathering the saved frames (default
   * false): for runs that keep every frame, where the gather would be one more copy of every
   * tensor; the frames are then cut on the host.
   */
  wholeFrames?: boolean;
}

interface Attr {
  name: string;
  type: number;
  i?: number;
  ints?: number[];
}
const AT_INT = 2, AT_INTS = 7;
const FLOAT = 1, UINT8 = 2, INT64 = 7, DOUBLE = 11;
const int = (name: string, i: number): Attr => ({ name, type: AT_INT, i });
const ints = (name: string, v: number[]): Attr => ({ name, type: AT_INTS, ints: v });

/**
 * Encode `graph` with in-graph statistics and frame selection for `tensors`; null when the model
 * cannot take them (default-domain opset below {@linkcode MIN_STATS_OPSET}, or a tensor that is
 * a graph input or initializer).
 *
 * @example Usage
 * ```ts ignore
 * import { loadOnnxModel } from "./onnx_model.ts";
 * import { buildStatsModel } from "./graph_stats.ts";
 * const g = await loadOnnxModel("fixtures/resnet18_video.onnx");
 * const m = buildStatsModel(g, ["/backbone/layer1/layer1.1/relu_1/Relu_output_0"]);
 * console.log(m?.taps[0].stats?.mean);
 * ```
 */
export function buildStatsModel(
  graph: OnnxGraph,
  tensors: readonly string[],
  options: StatsModelOptions = {},
): StatsModel | null {
  if (graph.opset < MIN_STATS_OPSET) return null;
  const unique = tensors.filter((t, k) => tensors.indexOf(t) === k);
  if (unique.some((t) => !graph.producerOf.has(t) || graph.initializers.has(t))) return null;
  const statistics = options.statistics ?? true;
  // Reduce ops take `axes` as an input from opset 18 (ReduceSum from 13), an attribute before.
  const axesInput = graph.opset >= 18, sumAxesInput = graph.opset >= 13;
  // deno-lint-ignore no-explicit-any
  const nodes: any[] = [];
  // deno-lint-ignore no-explicit-any
  const inits: any[] = [];
  const i64 = (name: string, v: number[]) =>
    inits.push(
      onnx.TensorProto.create({ name: P + name, dims: [v.length], dataType: INT64, int64Data: v }),
    );
  i64("axes1", [1]);
  i64("axes2", [2]);
  i64("axes12", [1, 2]);
  i64("col3", [-1, 1, 1]);
  i64("minus1", [-1]);
  i64("zero", [0]);
  i64("one", [1]);
  i64("two", [2]);
  i64("big", [2 ** 31 - 1]);
  inits.push(
    onnx.TensorProto.create({ name: `${P}u8one`, dims: [], dataType: UINT8, int32Data: [1] }),
  );
  inits.push(
    onnx.TensorProto.create({ name: `${P}f0`, dims: [], dataType: FLOAT, floatData: [0] }),
  );
  const node = (op: string, inputs: string[], out: string, attrs: Attr[] = []) => {
    nodes.push({ opType: op, name: out, input: inputs, output: [out], attribute: attrs });
    return out;
  };
  const reduce = (op: string, x: string, out: string, axes: number[], keep: 0 | 1) =>
    (op === "ReduceSum" ? sumAxesInput : axesInput)
      ? node(op, [x, `${P}axes${axes.join("")}`], out, [int("keepdims", keep)])
      : node(op, [x], out, [ints("axes", axes), int("keepdims", keep)]);
  const selF = node("Cast", [SELECT_INPUTS.frames], `${P}select_frames_i64`, [int("to", INT64)]);
  const selC = node("Cast", [SELECT_INPUTS.clips], `${P}select_clips_i64`, [int("to", INT64)]);
  const total = node("Cast", [SELECT_INPUTS.framesTotal], `${P}frames_total_i64`, [
    int("to", INT64),
  ]);
  const common = nodes.length;
  const groupStart: number[] = [];
  const taps: InGraphTap[] = unique.map((tensor, k) => {
    groupStart.push(nodes.length);
    const p = `${P}tap${k}/`;
    const shape = node("Shape", [tensor], `${p}shape`);
    // Frames: per-frame indices when the first axis is B*T, clip indices otherwise.
    const d0 = node("Slice", [shape, `${P}zero`, `${P}one`], `${p}dim0`);
    const perFrame = node("Equal", [d0, total], `${p}per_frame`);
    const idx = node("Where", [perFrame, selF, selC], `${p}select`);
    const whole = options.wholeFrames === true;
    const frames = whole ? tensor : node("Gather", [tensor, idx], `${p}frames`, [int("axis", 0)]);
    if (!statistics) return { tensor, shape, frames, whole, stats: null };
    // width = prod(shape[max(2, rank - 2):]) (1 for a rank-2 tensor); rows = the rest. Each
    // row is viewed as (width / W, W) with W its last axis, so that float32 sums run over at
    // most W values and the partial sums are added in float64.
    const rank = node("Shape", [shape], `${p}rank`);
    const start = node("Max", [node("Sub", [rank, `${P}two`], `${p}rank_2`), `${P}two`], `${p}k`);
    const tail = node("Slice", [shape, start, `${P}big`], `${p}tail`);
    const width = node(
      "ReduceProd",
      [node("Concat", [`${P}one`, tail], `${p}tail1`, [
        int("axis", 0),
      ])],
      `${p}width`,
      [int("keepdims", 1)],
    );
    const last = node("Slice", [shape, `${P}minus1`, `${P}big`], `${p}last`);
    const w = node("Min", [width, last], `${p}w`);
    const a = node("Div", [width, w], `${p}a`);
    const view = node("Concat", [`${P}minus1`, a, w], `${p}view`, [int("axis", 0)]);
    const x = node("Cast", [node("Reshape", [tensor, view], `${p}x3d`)], `${p}x`, [
      int("to", FLOAT),
    ]);
    const toDouble = (v: string) => node("Cast", [v], `${v}_f64`, [int("to", DOUBLE)]);
    const g: TapGraph = { p, x, width, w, node, reduce, toDouble, out: {} };
    for (const k of ACCUMULATOR_NAMES) IN_GRAPH[k].build?.(g);
    return { tensor, shape, frames, whole, stats: g.out as InGraphStats };
  });
  // The taps' node groups go in reverse network order. onnxruntime's default execution order is
  // a reverse depth-first walk from the graph's leaves, the last-added leaf first: so the first
  // tap's statistics run right after its tensor is made, and the tensor is freed then, instead of
  // living until the last tap (at 224 px conv1, bn1 and relu are 51 MB each for 16 frames).
  groupStart.push(nodes.length);
  const groups = groupStart.slice(0, -1).map((start, k) => nodes.slice(start, groupStart[k + 1]));
  nodes.splice(common, nodes.length - common, ...groups.reverse().flat());
  // Outputs without a type (onnxruntime infers it); inputs are 1-D float32 of any length.
  const value = (name: string) => onnx.ValueInfoProto.create({ name });
  const vector = (name: string) =>
    onnx.ValueInfoProto.create({
      name,
      type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: `${name}_length` }] } } },
    });
  const additions: GraphAdditions = {
    node: nodes,
    initializer: inits,
    input: Object.values(SELECT_INPUTS).map(vector),
    output: taps.flatMap((
      t,
    ) => [t.shape, t.frames, ...(t.stats ? Object.values(t.stats) : [])])
      .map(value),
  };
  let bytes: Uint8Array | null = null;
  return {
    get bytes() {
      return bytes ??= extendModel(graph, additions);
    },
    additions,
    taps,
  };
}

/**
 * The selection inputs of one forward pass over `clips` clips of `frames` frames, keeping the
 * given (local) clip and frame indices.
 *
 * @example Usage
 * ```ts
 * import { selectionFeeds, SELECT_INPUTS } from "./graph_stats.ts";
 * const f = selectionFeeds({ clips: 2, frames: 8 }, { batchIdx: [1], timestep: [0, 4] });
 * console.log(Array.from(f[SELECT_INPUTS.frames].data)); // [8, 12]
 * console.log(Array.from(f[SELECT_INPUTS.clips].data)); // [1, 1]
 * ```
 */
export function selectionFeeds(
  pass: { clips: number; frames: number },
  keep: { batchIdx: readonly number[]; timestep: readonly number[] },
): Record<string, FeedTensor> {
  const frames = keep.batchIdx.flatMap((b) => keep.timestep.map((t) => b * pass.frames + t));
  // No saved frame in this pass (no clip or no frame of it): gather nothing.
  const clips = frames.length ? [...keep.batchIdx] : [];
  const n = Math.max(frames.length, clips.length);
  const pad = (v: number[]) =>
    Float32Array.from({ length: n }, (_, k) => v[Math.min(k, v.length - 1)]);
  return {
    [SELECT_INPUTS.frames]: { data: pad(frames), dims: [n] },
    [SELECT_INPUTS.clips]: { data: pad(clips), dims: [n] },
    [SELECT_INPUTS.framesTotal]: {
      data: Float32Array.of(pass.clips * pass.frames),
      dims: [1],
    },
  };
}

/** What {@linkcode readInGraphTap} needs besides the outputs. */
export interface ReadTapOptions {
  /** Clips and frames of the pass. */
  clips: number;
  /** Frames per clip of the pass. */
  frames: number;
  /** Time and channel swapped by a Transpose before this tensor (3D CNN). */
  swapped: boolean;
  /** The layer's name, for messages. */
  name: string;
  /** What the graph says of the tensor's channel order, if anything. */
  graph?: ChannelOrder;
  /** The graph's Conv channel counts. */
  convChannels?: readonly number[];
  /** Saved clip indices (as given to {@linkcode selectionFeeds}). */
  batchIdx: readonly number[];
  /** Saved frame indices. */
  timestep: readonly number[];
}

/** One tapped tensor read from in-graph outputs. */
export interface InGraphResult {
  /** Layout of the whole tensor. */
  layout: TimeLayout;
  /** Row moments, as `reduceRows` of the whole tensor would give them. */
  moments: RowMoments;
  /** Saved frames `[bi][ti]`. */
  frames: Float32Array[][];
}

/**
 * Read one tapped tensor's layout, row moments and saved frames from a pass of a
 * {@linkcode buildStatsModel} model; null when the caller must fall back to the full tensor
 * (non-finite values, or rows that do not match the layout).
 *
 * @example Usage
 * ```ts ignore
 * const r = await readInGraphTap(outputs, model.taps[0], {
 *   clips: 2, frames: 8, swapped: false, name: "layer1", batchIdx: [0], timestep: [2],
 * });
 * ```
 */
export async function readInGraphTap(
  outputs: Record<string, OutputTensor>,
  tap: InGraphTap,
  options: ReadTapOptions,
): Promise<InGraphResult | null> {
  const get = async (name: string): Promise<{ dims: number[]; data: ArrayLike<number> }> => {
    const o = outputs[name];
    if (!o) throw new Error(`internal error: in-graph output ${name} is missing`);
    return { dims: o.dims, data: o.float64 ?? o.data ?? await o.download() };
  };
  const dims = Array.from((await get(tap.shape)).data);
  const layout = detectLayout(dims, {
    batch: options.clips,
    time: options.frames,
    swapped: options.swapped,
    name: options.name,
    graph: options.graph,
    convChannels: options.convChannels,
  });
  // The graph reduces channel-first rows: a channel-last tensor takes the whole-tensor path.
  if (isChannelLast(layout.kind)) return null;
  const { rows, width } = rowLayout(layout);
  const k = Math.max(2, dims.length - 2);
  const graphWidth = dims.slice(k).reduce((a, x) => a * x, 1);
  if (!tap.stats || graphWidth !== width || rows * width === 0) return null;
  const stats = tap.stats;
  const names = Object.keys(stats) as (keyof InGraphStats)[];
  const values = await Promise.all(names.map((k) => get(stats[k])));
  if (values.some((v) => v.data.length !== rows)) return null;
  const o = Object.fromEntries(names.map((k, i) => [k, values[i].data])) as InGraphRows;
  const checked = ACCUMULATOR_NAMES.filter((k) => IN_GRAPH[k].checkFinite) as Extract<
    AccumulatorName,
    keyof InGraphStats
  >[];
  const m = emptyMoments(rows, width);
  for (let r = 0; r < rows; r++) {
    if (checked.some((k) => !Number.isFinite(o[k][r]))) return null;
    for (const k of ACCUMULATOR_NAMES) m[k][r] = IN_GRAPH[k].read(o, r, width);
  }
  // The gathered part: saved frames (first axis B*T) or saved clips (one clip each).
  const framesOut = outputs[tap.frames];
  if (!framesOut) throw new Error(`internal error: in-graph output ${tap.frames} is missing`);
  const got = { data: framesOut.data ?? await framesOut.download() };
  if (tap.whole) {
    const data = got.data;
    const frames = options.batchIdx.map((b) =>
      options.timestep.map((t) => extractFrame(data, layout, b, t))
    );
    return { layout, moments: m, frames };
  }
  const perFrameAxis = dims[0] === options.clips * options.frames;
  const per = dims.slice(1).reduce((a, x) => a * x, 1);
  const one = perFrameAxis && layout.kind === "bt_chw"
    ? null
    : detectLayout([1, ...dims.slice(1)], {
      batch: 1,
      time: options.frames,
      swapped: options.swapped,
      override: layout.kind,
      name: options.name,
    });
  const frames = options.batchIdx.map((_, bi) =>
    options.timestep.map((t, ti) => {
      if (!one) {
        const q = bi * options.timestep.length + ti;
        return got.data.slice(q * per, (q + 1) * per);
      }
      return extractFrame(got.data.subarray(bi * per, (bi + 1) * per), one, 0, t);
    })
  );
  return { layout, moments: m, frames };
}
