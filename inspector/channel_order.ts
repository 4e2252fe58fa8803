/**
 * Channel order of every tensor of a graph, read from the graph: channel-first (what ONNX's
 * Conv, pooling and normalisation operators take and give), channel-last (after a `Transpose`
 * that moves channels to the end, or feeding one that moves them back), or unknown.
 *
 * Rules, in order (the first that applies is the evidence recorded in the manifest):
 * 1. a `Transpose` with perm `[0, 2, 3, 1]`, `[0, 1, 3, 4, 2]` or `[0, 2, 3, 4, 1]` gives a
 *    channel-last tensor; one with `[0, 3, 1, 2]`, `[0, 1, 4, 2, 3]` or `[0, 4, 1, 2, 3]`
 *    consumes one and gives a channel-first tensor;
 * 2. Conv, pooling and normalisation outputs and data inputs are channel-first;
 * 3. element-wise operators (Relu, Add, Clip...) keep the order of their input, forwards and
 *    backwards;
 * 4. otherwise (Reshape, Gemm, graph inputs without evidence) the order is unknown, and
 *    `detectLayout` may use a trailing dim equal to a Conv's channel count (`convChannels`).
 *
 * @module
 */

import type { OnnxGraph } from "./onnx_model.ts";

/** What the graph says about a tensor's channel axis. */
export interface ChannelOrder {
  /** `first`: `(N, C, ...)`; `last`: `(N, ..., C)`. */
  order: "first" | "last";
  /** Which rule decided, e.g. `Transpose perm [0,2,3,1] (channels moved last)`. */
  evidence: string;
}

const TO_LAST = ["0,2,3,1", "0,1,3,4,2", "0,2,3,4,1"];
const TO_FIRST = ["0,3,1,2", "0,1,4,2,3", "0,4,1,2,3"];
const CHANNEL_FIRST_OPS = new Set([
  "Conv",
  "ConvTranspose",
  "ConvInteger",
  "QLinearConv",
  "BatchNormalization",
  "InstanceNormalization",
  "LRN",
  "MaxPool",
  "AveragePool",
  "GlobalAveragePool",
  "GlobalMaxPool",
  "LpPool",
  "QLinearAveragePool",
  "QLinearGlobalAveragePool",
]);
const ELEMENTWISE_OPS = new Set([
  "Relu",
  "LeakyRelu",
  "PRelu",
  "Elu",
  "Selu",
  "Sigmoid",
  "HardSigmoid",
  "HardSwish",
  "Tanh",
  "Clip",
  "Add",
  "Sub",
  "Mul",
  "Div",
  "Identity",
  "Dropout",
  "Cast",
  "Neg",
  "Abs",
  "Exp",
  "Sqrt",
  "Softplus",
  "Mish",
  "Gelu",
  "QuantizeLinear",
  "DequantizeLinear",
]);

/**
 * The channel order of every tensor the graph decides (tensors left out are unknown).
 *
 * @example Usage
 * ```ts ignore
 * import { loadOnnxModel } from "./onnx_model.ts";
 * import { channelOrders } from "./channel_order.ts";
 * const orders = channelOrders(await loadOnnxModel("nhwc.onnx"));
 * console.log(orders.get("x_nhwc")); // { order: "last", evidence: "Transpose perm [0,2,3,1] ..." }
 * ```
 */
export function channelOrders(graph: OnnxGraph): Map<string, ChannelOrder> {
  const o = new Map<string, ChannelOrder>();
  const set = (t: string, v: ChannelOrder): void => {
    if (t && !graph.initializers.has(t) && !o.has(t)) o.set(t, v);
  };
  // Rules 1 and 2 fix tensors; rule 3 spreads them (a few sweeps both ways).
  for (const n of graph.nodes) {
    const p = n.perm?.join(",");
    if (n.opType === "Transpose" && p && TO_LAST.includes(p)) {
      set(n.outputs[0], { order: "last", evidence: `Transpose perm [${p}] (channels moved last)` });
    } else if (n.opType === "Transpose" && p && TO_FIRST.includes(p)) {
      set(n.inputs[0], {
        order: "last",
        evidence: `consumed by Transpose perm [${p}] (channels moved first)`,
      });
      set(n.outputs[0], { order: "first", evidence: `Transpose perm [${p}] (channels first)` });
    } else if (CHANNEL_FIRST_OPS.has(n.opType)) {
      set(n.outputs[0], { order: "first", evidence: `output of ${n.opType} (channel-first)` });
      set(n.inputs[0], { order: "first", evidence: `consumed by ${n.opType} (channel-first)` });
    }
  }
  for (let sweep = 0; sweep < 4; sweep++) {
    let changed = false;
    const spread = (from: string, to: string, how: string): void => {
      const v = o.get(from);
      if (!v || o.has(to) || !to || graph.initializers.has(to)) return;
      o.set(to, { order: v.order, evidence: `${how} ${from}: ${v.evidence}` });
      changed = true;
    };
    for (const n of graph.nodes) {
      if (!ELEMENTWISE_OPS.has(n.opType)) continue;
      const src = n.inputs.find((i) => o.has(i));
      if (src) spread(src, n.outputs[0], "same order as input");
    }
    for (let k = graph.nodes.length - 1; k >= 0; k--) {
      const n = graph.nodes[k];
      if (!ELEMENTWISE_OPS.has(n.opType) || !o.has(n.outputs[0])) continue;
      // Only the data input (the first) of Add/Mul: a broadcast constant has no layout.
      spread(n.outputs[0], n.inputs[0], "same order as output");
    }
    if (!changed) break;
  }
  return o;
}

/**
 * The output channel counts of the graph's Conv weights, for the trailing-dim rule of
 * `detectLayout`.
 *
 * @example Usage
 * ```ts ignore
 * import { loadOnnxModel } from "./onnx_model.ts";
 * import { convChannelCounts } from "./channel_order.ts";
 * console.log(convChannelCounts(await loadOnnxModel("nhwc.onnx"))); // [8]
 * ```
 */
export function convChannelCounts(graph: OnnxGraph): number[] {
  const proto = graph.proto as {
    graph?: { initializer?: { name: string; dims?: unknown[] }[] };
  };
  const dimsOf = new Map<string, number[]>();
  for (const t of proto.graph?.initializer ?? []) {
    dimsOf.set(t.name, (t.dims ?? []).map((d) => Number(d)));
  }
  const out = new Set<number>();
  for (const n of graph.nodes) {
    if (n.opType !== "Conv" && n.opType !== "ConvTranspose") continue;
    const w = dimsOf.get(n.inputs[1]);
    if (w && w.length >= 3) out.add(w[0]);
  }
  return [...out].sort((a, b) => a - b);
}
