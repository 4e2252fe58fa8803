/**
 * Time layouts of tapped tensors, and target selection (which (batch, frame) to save).
 *
 * A video model sees a batch `(B, T, 3, H, W)`. Inside, each activation lays batch and time out
 * in one of these ways, decided from its shape and from the graph (a `Transpose` that swaps time
 * and channels marks a 3D CNN):
 *
 * | kind | shape | frame (b, t) lives at |
 * | --- | --- | --- |
 * | `bt_chw` | `(B*T, C, H, W)` — 2D backbone per frame | `[b*T + t]` |
 * | `b_t_chw` | `(B, T, C, H, W)` | `[b, t]` |
 * | `b_c_t_hw` | `(B, C, T', H, W)` — 3D CNN | `[b, :, floor(t*T'/T)]` |
 * | `b_chw` | `(B, C, ...)` — no time axis (after temporal pooling) | `[b]` for every t |
 * | `bt_hwc` | `(B*T, H, W, C)` — channel-last 2D backbone | `[b*T + t]` |
 * | `b_t_hwc` | `(B, T, H, W, C)` — channel-last | `[b, t]` |
 * | `b_hwc` | `(B, H, W, C)` — channel-last, no time axis | `[b]` for every t |
 *
 * Channel-last tensors are transposed to channel-first before anything is computed: their saved
 * frames, `frameShape` and statistics are `(C, H, W)` like every other kind (`toChannelFirst`);
 * the manifest's layout names the tensor's own order. Channel-last is decided from the graph
 * (`channel_order.ts`: Transpose perms, the Conv that consumes or produces the tensor) or, for a
 * tensor the graph says nothing about, from a trailing dim equal to a Conv's channel count.
 *
 * @module
 */

import { InspectorError } from "../core/errors.ts";
import type { OnnxGraph } from "./onnx_model.ts";
import type { RowIndex } from "../stats/moments.ts";
import type { ChannelOrder } from "./channel_order.ts";

/** Layout kinds; see the module documentation. */
export type LayoutKind =
  | "bt_chw"
  | "b_t_chw"
  | "b_c_t_hw"
  | "b_chw"
  | "bt_hwc"
  | "b_t_hwc"
  | "b_hwc";

/** The channel-first kind that a channel-last kind becomes once transposed. */
export const CHANNEL_FIRST_OF: Partial<Record<LayoutKind, LayoutKind>> = {
  bt_hwc: "bt_chw",
  b_t_hwc: "b_t_chw",
  b_hwc: "b_chw",
};

/**
 * Whether a layout kind keeps channels last.
 *
 * @example Usage
 * ```ts
 * import { isChannelLast } from "./layout.ts";
 * console.log(isChannelLast("b_hwc"), isChannelLast("b_chw")); // true false
 * ```
 */
export function isChannelLast(kind: LayoutKind): boolean {
  return CHANNEL_FIRST_OF[kind] !== undefined;
}

/** Human labels of the layouts, as written in the manifest. */
export const LAYOUT_LABELS: Record<LayoutKind, string> = {
  bt_chw: "(B*T, C, H, W)",
  b_t_chw: "(B, T, C, H, W)",
  b_c_t_hw: "(B, C, T', H, W)",
  b_chw: "(B, C, H, W) (no time axis)",
  bt_hwc: "(B*T, H, W, C) channel-last, saved as (C, H, W)",
  b_t_hwc: "(B, T, H, W, C) channel-last, saved as (C, H, W)",
  b_hwc: "(B, H, W, C) channel-last (no time axis), saved as (C, H, W)",
};

/** How one tapped tensor lays out batch and time. */
export interface TimeLayout {
  /** Layout kind. */
  kind: LayoutKind;
  /** Human label, e.g. `(B*T, C, H, W)`. */
  label: string;
  /** Full tensor shape. */
  dims: number[];
  /** Batch size B. */
  batch: number;
  /** Input frames T. */
  time: number;
  /** Frames along the tensor's own time axis (T, T' for 3D, 1 without time). */
  tensorTime: number;
  /** Shape of one frame's activation, e.g. `[C, H, W]`. */
  frameShape: number[];
  /** For each input frame t, the tensor's time index. */
  timeMap: number[];
  /** How the layout was decided. */
  evidence: string;
}

/**
 * For each tensor, whether it lies downstream of a Transpose that moved time behind channels
 * (`(B, T, C, H, W)` to `(B, C, T, H, W)`), as 3D CNNs do.
 *
 * @example Usage
 * ```ts ignore
 * import { loadOnnxModel } from "./onnx_model.ts";
 * import { timeChannelSwaps } from "./layout.ts";
 * const swapped = timeChannelSwaps(await loadOnnxModel("r3d.onnx"));
 * ```
 */
export function timeChannelSwaps(graph: OnnxGraph): Map<string, boolean> {
  const flag = new Map<string, boolean>();
  for (const i of graph.inputs) flag.set(i.name, false);
  for (const n of graph.nodes) {
    const ins = n.inputs.filter((i) => flag.has(i));
    if (ins.length === 0) continue;
    let f = ins.some((i) => flag.get(i));
    const p = n.perm;
    if (n.opType === "Transpose" && p && p.length === 5 && p[0] === 0 && p[1] === 2 && p[2] === 1) {
      f = !f;
    }
    for (const o of n.outputs) flag.set(o, f);
  }
  return flag;
}

const OVERRIDES: Record<string, LayoutKind> = {
  "bt_chw": "bt_chw",
  "bt,c,h,w": "bt_chw",
  "(b*t,c,h,w)": "bt_chw",
  "b_t_chw": "b_t_chw",
  "b,t,c,h,w": "b_t_chw",
  "(b,t,c,h,w)": "b_t_chw",
  "b_c_t_hw": "b_c_t_hw",
  "b,c,t,h,w": "b_c_t_hw",
  "(b,c,t,h,w)": "b_c_t_hw",
  "b_chw": "b_chw",
  "b,c,h,w": "b_chw",
  "(b,c,h,w)": "b_chw",
  "bt_hwc": "bt_hwc",
  "bt,h,w,c": "bt_hwc",
  "(b*t,h,w,c)": "bt_hwc",
  "b_t_hwc": "b_t_hwc",
  "b,t,h,w,c": "b_t_hwc",
  "(b,t,h,w,c)": "b_t_hwc",
  "b_hwc": "b_hwc",
  "b,h,w,c": "b_hwc",
  "(b,h,w,c)": "b_hwc",
  "nhwc": "b_hwc",
};

const KIND_LIST = "bt_chw, b_t_chw, b_c_t_hw, b_chw, bt_hwc, b_t_hwc, b_hwc";

/**
 * Parse a `--layout` value (`bt_chw`, `b_t_chw`, `b_c_t_hw`, `b_chw`, the channel-last `bt_hwc`,
 * `b_t_hwc`, `b_hwc`, or the shapes written out).
 *
 * @example Usage
 * ```ts
 * import { parseLayoutOverride } from "./layout.ts";
 * console.log(parseLayoutOverride("B,C,T,H,W")); // "b_c_t_hw"
 * console.log(parseLayoutOverride("B,H,W,C")); // "b_hwc"
 * ```
 */
export function parseLayoutOverride(value: string): LayoutKind {
  const k = OVERRIDES[value.toLowerCase().replace(/\s|'/g, "")];
  if (!k) {
    throw new InspectorError(
      `options.layout ${value} is not a layout; use one of ${KIND_LIST} ` +
        `(optionally as layer=layout)`,
    );
  }
  return k;
}

function make(
  kind: LayoutKind,
  dims: number[],
  batch: number,
  time: number,
  evidence: string,
): TimeLayout {
  let tensorTime = time;
  let frameShape: number[];
  switch (kind) {
    case "bt_chw":
      frameShape = dims.slice(1);
      break;
    case "b_t_chw":
      frameShape = dims.slice(2);
      break;
    case "b_c_t_hw":
      tensorTime = dims[2];
      frameShape = [dims[1], ...dims.slice(3)];
      break;
    case "b_chw":
      tensorTime = 1;
      frameShape = dims.slice(1);
      break;
    case "bt_hwc":
      frameShape = [dims[dims.length - 1], ...dims.slice(1, -1)];
      break;
    case "b_t_hwc":
      frameShape = [dims[dims.length - 1], ...dims.slice(2, -1)];
      break;
    case "b_hwc":
      tensorTime = 1;
      frameShape = [dims[dims.length - 1], ...dims.slice(1, -1)];
      break;
  }
  const timeMap = Array.from({ length: time }, (_, t) => Math.floor(t * tensorTime / time));
  return {
    kind,
    label: LAYOUT_LABELS[kind],
    dims,
    batch,
    time,
    tensorTime,
    frameShape,
    timeMap,
    evidence,
  };
}

/** Options of {@linkcode detectLayout}. */
export interface DetectLayoutOptions {
  /** Batch size B of the input. */
  batch: number;
  /** Input frames T. */
  time: number;
  /** The tensor is downstream of a time/channel Transpose (3D CNN). */
  swapped: boolean;
  /** A user's `--layout`. */
  override?: LayoutKind;
  /** The layer's name, for messages. */
  name: string;
  /** What the graph says of the tensor's channel axis (`channel_order.ts`), if anything. */
  graph?: ChannelOrder;
  /** The graph's Conv channel counts (the trailing-dim rule for tensors the graph leaves open). */
  convChannels?: readonly number[];
}

/**
 * Decide the time layout of a tapped tensor.
 *
 * @param dims the tensor's shape from the forward pass
 * @param options batch B and frames T of the input; `swapped`: the tensor is downstream of a
 *   time/channel Transpose; `override`: a user's `--layout`; `graph`/`convChannels`: channel
 *   order evidence; `name` for messages
 *
 * @example Usage
 * ```ts
 * import { detectLayout } from "./layout.ts";
 * const l = detectLayout([16, 64, 56, 56], { batch: 2, time: 8, swapped: false, name: "layer1" });
 * console.log(l.kind, l.frameShape); // "bt_chw" [64, 56, 56]
 * const n = detectLayout([1, 8, 10, 32], {
 *   batch: 1, time: 1, swapped: false, name: "nhwc", convChannels: [16, 32],
 * });
 * console.log(n.kind, n.frameShape); // "b_hwc" [32, 8, 10]
 * ```
 */
export function detectLayout(
  dims: readonly number[],
  options: DetectLayoutOptions,
): TimeLayout {
  const { batch: B, time: T, swapped, override, name } = options;
  const d = [...dims];
  const bad = (why: string): never => {
    throw new InspectorError(
      `cannot tell how layer '${name}' (shape [${d.join(", ")}]) lays out batch ${B} and ` +
        `time ${T}: ${why}; pass options.layout ${name}=<one of ${KIND_LIST}>`,
    );
  };
  if (override) {
    const ok = (override === "bt_chw" && d.length >= 2 && d[0] === B * T) ||
      (override === "b_t_chw" && d.length >= 3 && d[0] === B && d[1] === T) ||
      (override === "b_c_t_hw" && d.length >= 4 && d[0] === B && d[2] <= T && d[2] >= 1) ||
      (override === "b_chw" && d.length >= 2 && d[0] === B) ||
      (override === "bt_hwc" && d.length >= 3 && d[0] === B * T) ||
      (override === "b_t_hwc" && d.length >= 4 && d[0] === B && d[1] === T) ||
      (override === "b_hwc" && d.length >= 3 && d[0] === B);
    if (!ok) bad(`it does not fit the requested layout ${LAYOUT_LABELS[override]}`);
    return make(override, d, B, T, "--layout override");
  }
  if (d.length < 2) bad("a tensor of rank < 2 has no per-frame map");
  const last = channelLastEvidence(d, options, bad);
  if (last !== null) {
    if (d.length === 5 && d[0] === B && d[1] === T) {
      return make("b_t_hwc", d, B, T, `5-D with dim 1 equal to T; channel-last: ${last}`);
    }
    if (d[0] === B * T && d.length <= 4) {
      return make("bt_hwc", d, B, T, `dim 0 equals B*T; channel-last: ${last}`);
    }
    if (d[0] === B && d.length <= 4) {
      return make("b_hwc", d, B, T, `dim 0 equals B: no time axis; channel-last: ${last}`);
    }
    bad(
      `it is channel-last (${last}) but fits none of (B*T, H, W, C), (B, T, H, W, C), ` +
        `(B, H, W, C)`,
    );
  }
  if (d.length === 5 && d[0] === B) {
    if (swapped) {
      if (d[2] > T) bad(`its time axis T'=${d[2]} is longer than the input's T=${T}`);
      return make("b_c_t_hw", d, B, T, "5-D, downstream of a time/channel Transpose (3D CNN)");
    }
    if (d[1] === T) return make("b_t_chw", d, B, T, "5-D with dim 1 equal to T, no Transpose");
    if (d[2] <= T) return make("b_c_t_hw", d, B, T, "5-D with dim 2 <= T (inferred from shape)");
    bad("a 5-D tensor whose dims match neither (B, T, ...) nor (B, C, T', ...)");
  }
  if (d[0] === B * T && T > 1) return make("bt_chw", d, B, T, "dim 0 equals B*T");
  if (d[0] === B * T) return make("bt_chw", d, B, T, "dim 0 equals B (T = 1)");
  if (d[0] === B) return make("b_chw", d, B, T, "dim 0 equals B: no time axis");
  return bad("dim 0 is neither B*T nor B");
}

/** Why the tensor is channel-last, or null when it is channel-first. */
function channelLastEvidence(
  d: readonly number[],
  options: DetectLayoutOptions,
  bad: (why: string) => never,
): string | null {
  if (options.graph) return options.graph.order === "last" ? options.graph.evidence : null;
  const counts = options.convChannels ?? [];
  if ((d.length !== 4 && d.length !== 5) || counts.length === 0) return null;
  const trailing = d[d.length - 1];
  const firstDims = d.length === 5 ? [d[1], d[2]] : [d[1]];
  const lastFits = counts.includes(trailing);
  const firstFits = firstDims.some((x) => counts.includes(x));
  if (lastFits && firstFits) {
    bad(
      `the graph does not show its channel order and both dim 1 and the trailing dim ` +
        `(${trailing}) equal Conv channel counts (${counts.join(", ")})`,
    );
  }
  return lastFits ? `trailing dim ${trailing} equals a Conv's channel count` : null;
}

/**
 * A channel-last tensor's values in channel-first order: `(N, ..., C)` to `(N, C, ...)` (the
 * order `extractFrame`, `rowLayout` and the reducers expect). Other kinds come back unchanged.
 *
 * @example Usage
 * ```ts
 * import { detectLayout, toChannelFirst } from "./layout.ts";
 * const l = detectLayout([1, 1, 2, 2], { batch: 1, time: 1, swapped: false, name: "x",
 *   override: "b_hwc" });
 * console.log(toChannelFirst(new Float32Array([1, 2, 3, 4]), l)); // Float32Array [1, 3, 2, 4]
 * ```
 */
export function toChannelFirst(data: Float32Array, layout: TimeLayout): Float32Array {
  if (!isChannelLast(layout.kind)) return data;
  const d = layout.dims;
  const C = d[d.length - 1];
  const n = layout.kind === "b_t_hwc" ? d[0] * d[1] : d[0];
  const hw = d.slice(layout.kind === "b_t_hwc" ? 2 : 1, -1).reduce((a, x) => a * x, 1);
  const out = new Float32Array(data.length);
  for (let i = 0; i < n; i++) {
    const base = i * hw * C;
    for (let p = 0; p < hw; p++) {
      const src = base + p * C;
      for (let c = 0; c < C; c++) out[base + c * hw + p] = data[src + c];
    }
  }
  return out;
}

/**
 * Copy the activation of frame (b, t) out of a whole tapped tensor (a channel-last one in
 * channel-first order, see `toChannelFirst`).
 *
 * @example Usage
 * ```ts
 * import { detectLayout, extractFrame } from "./layout.ts";
 * // (B=1, C=2, T'=2, H=1, W=1): values are ordered (c, t')
 * const l = detectLayout([1, 2, 2, 1, 1], { batch: 1, time: 2, swapped: true, name: "x" });
 * console.log(extractFrame(new Float32Array([5, 6, 7, 8]), l, 0, 1)); // Float32Array [6, 8]
 * ```
 */
export function extractFrame(
  data: Float32Array,
  layout: TimeLayout,
  b: number,
  t: number,
): Float32Array {
  const per = layout.frameShape.reduce((a, x) => a * x, 1);
  const out = new Float32Array(per);
  const tp = layout.timeMap[t];
  switch (CHANNEL_FIRST_OF[layout.kind] ?? layout.kind) {
    case "bt_chw":
      out.set(data.subarray((b * layout.time + t) * per, (b * layout.time + t + 1) * per));
      break;
    case "b_t_chw":
      out.set(data.subarray((b * layout.time + t) * per, (b * layout.time + t + 1) * per));
      break;
    case "b_chw":
      out.set(data.subarray(b * per, (b + 1) * per));
      break;
    case "b_c_t_hw": {
      const C = layout.dims[1], Tp = layout.tensorTime;
      const hw = per / C;
      for (let c = 0; c < C; c++) {
        const src = ((b * C + c) * Tp + tp) * hw;
        out.set(data.subarray(src, src + hw), c * hw);
      }
      break;
    }
  }
  return out;
}

/**
 * How the tensor splits into contiguous (frame, channel) runs for the reduction kernels.
 * Frames are numbered `b * tensorTime + t'` in the tensor's own time axis.
 *
 * @example Usage
 * ```ts
 * import { detectLayout, rowLayout } from "./layout.ts";
 * const l = detectLayout([4, 3, 5, 5], { batch: 2, time: 2, swapped: false, name: "x" });
 * const r = rowLayout(l);
 * console.log(r.rows, r.width, r.index.rowOf(1, 2)); // 12 25 5
 * ```
 */
export function rowLayout(layout: TimeLayout): { rows: number; width: number; index: RowIndex } {
  const C = layout.frameShape[0];
  const width = layout.frameShape.slice(1).reduce((a, x) => a * x, 1);
  const frames = layout.batch * layout.tensorTime;
  const rows = frames * C;
  if (layout.kind === "b_c_t_hw") {
    const Tp = layout.tensorTime;
    return {
      rows,
      width,
      index: {
        frames,
        channels: C,
        rowOf: (f, c) => {
          const b = Math.floor(f / Tp), tp = f % Tp;
          return (b * C + c) * Tp + tp;
        },
      },
    };
  }
  return { rows, width, index: { frames, channels: C, rowOf: (f, c) => f * C + c } };
}

/** Frame number in the tensor's own time axis for input frame (b, t). */
export function tensorFrameOf(layout: TimeLayout, b: number, t: number): number {
  return b * layout.tensorTime + layout.timeMap[t];
}

/**
 * Parse a `--batch_idx` / `--timestep` value: `2`, `0,4`, `0-7`, `all`, or a mix (`0,2-4`).
 *
 * @param value the flag's value
 * @param options `count` = how many exist (B or T); `flag` names the flag in messages
 *
 * @example Usage
 * ```ts
 * import { parseIndexSpec } from "./layout.ts";
 * console.log(parseIndexSpec("0,2-4", { count: 8, flag: "--timestep" })); // [0, 2, 3, 4]
 * console.log(parseIndexSpec("all", { count: 3, flag: "--batch_idx" })); // [0, 1, 2]
 * ```
 */
export function parseIndexSpec(value: string, options: { count: number; flag: string }): number[] {
  const { count, flag } = options;
  const v = value.trim().toLowerCase();
  if (v === "all") return Array.from({ length: count }, (_, k) => k);
  const out: number[] = [];
  for (const part of v.split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = /^(-?\d+)(?:-(\d+))?$/.exec(part);
    if (!m) {
      throw new InspectorError(
        `${flag} ${value}: use a number, a list (0,4), a range (0-7) or all`,
      );
    }
    const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new InspectorError(`${flag} ${value}: range ${part} runs backwards`);
    for (let k = a; k <= b; k++) {
      if (k < 0 || k >= count) {
        throw new InspectorError(
          `${flag} ${k} is out of range: the batch has ${count} ${
            flag.includes("batch") ? "clips" : "frames"
          } (valid: 0-${count - 1} or all)`,
        );
      }
      if (!out.includes(k)) out.push(k);
    }
  }
  if (out.length === 0) throw new InspectorError(`${flag} is empty: give at least one index`);
  return out;
}
