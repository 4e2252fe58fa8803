/**
 * Helpers of layer resolution for graphs without (useful) module scopes: which node outputs are
 * worth tapping, operator-type selectors (`op:Relu`, `Relu[-1]`, `Conv[0]`), and the default set
 * of taps used when none of the default layer names exists (the last tappable output of each
 * spatial resolution stage).
 *
 * @module
 */

import type { GraphNode, OnnxGraph } from "./onnx_model.ts";

/** Operators whose outputs are worth tapping (listed by `--list_layers` without `--all`). */
export const TAPPABLE_OPS: ReadonlySet<string> = new Set([
  "Conv",
  "ConvTranspose",
  "ConvInteger",
  "QLinearConv",
  "BatchNormalization",
  "InstanceNormalization",
  "LayerNormalization",
  "GroupNormalization",
  "Relu",
  "LeakyRelu",
  "PRelu",
  "Sigmoid",
  "HardSigmoid",
  "Tanh",
  "Clip",
  "HardSwish",
  "Gelu",
  "Elu",
  "Selu",
  "Celu",
  "Mish",
  "Softplus",
  "Softmax",
  "LogSoftmax",
  "MaxPool",
  "AveragePool",
  "LpPool",
  "GlobalAveragePool",
  "GlobalMaxPool",
  "GlobalLpPool",
  "Add",
  "Sum",
  "Concat",
  "Gemm",
  "MatMul",
  "QLinearMatMul",
]);

/** Operators that only compute shapes: their outputs never carry activations. */
const SHAPE_SOURCES = new Set(["Shape", "Size"]);

/**
 * Indices of the nodes on the data path: nodes with an output that depends on a graph input's
 * values (not only on its shape, through Shape/Size), Constants and shape arithmetic excluded.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadOnnxModel } from "./onnx_model.ts";
 * import { dataPathNodes } from "./_layer_select.ts";
 * const g = await loadOnnxModel("fixtures/unscoped_numbered.onnx");
 * const path = dataPathNodes(g);
 * assert.ok(!path.has(g.nodes.findIndex((n) => n.name === "Concat_16"))); // concat of shapes
 * assert.ok(path.has(g.nodes.findIndex((n) => n.name === "Concat_11")));
 * ```
 */
export function dataPathNodes(graph: OnnxGraph): Set<number> {
  const data = new Set<string>(graph.inputs.map((i) => i.name));
  const nodes = new Set<number>();
  for (const n of graph.nodes) {
    if (n.opType === "Constant" || SHAPE_SOURCES.has(n.opType)) continue;
    if (!n.inputs.some((i) => i && data.has(i))) continue;
    nodes.add(n.index);
    for (const o of n.outputs) if (o) data.add(o);
  }
  return nodes;
}

/**
 * The tappable nodes (data path, operator in {@linkcode TAPPABLE_OPS}), in graph order.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadOnnxModel } from "./onnx_model.ts";
 * import { tappableNodes } from "./_layer_select.ts";
 * const g = await loadOnnxModel("fixtures/unscoped_numbered.onnx");
 * assert.equal(tappableNodes(g).length, 16);
 * ```
 */
export function tappableNodes(graph: OnnxGraph): GraphNode[] {
  const path = dataPathNodes(graph);
  return graph.nodes.filter((n) =>
    path.has(n.index) && TAPPABLE_OPS.has(n.opType) && n.outputs.length > 0 && n.outputs[0]
  );
}

/**
 * The nodes an operator-type selector counts: data-path nodes of that type, in graph order.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadOnnxModel } from "./onnx_model.ts";
 * import { nodesOfType } from "./_layer_select.ts";
 * const g = await loadOnnxModel("fixtures/unscoped_numbered.onnx");
 * assert.deepEqual(nodesOfType(g, "Relu").map((n) => n.outputs[0]), ["11", "14", "18", "22"]);
 * ```
 */
export function nodesOfType(graph: OnnxGraph, opType: string): GraphNode[] {
  const path = dataPathNodes(graph);
  return graph.nodes.filter((n) =>
    n.opType === opType && path.has(n.index) && n.outputs.length > 0 && n.outputs[0]
  );
}

/** A parsed operator selector: `op:Relu` (index null) or `Relu[-1]`. */
export interface OpSelector {
  /** Operator type as the graph spells it. */
  opType: string;
  /** Python-style index among that type's nodes, or null for all of them. */
  index: number | null;
}

/**
 * Parse `op:TYPE`, `op:TYPE[i]` or `TYPE[i]`; `TYPE[i]` only when the graph has that operator
 * (so that a glob such as `layer[12]` keeps its meaning). Operator names match case-insensitively.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadOnnxModel } from "./onnx_model.ts";
 * import { parseOpSelector } from "./_layer_select.ts";
 * const g = await loadOnnxModel("fixtures/unscoped_numbered.onnx");
 * assert.deepEqual(parseOpSelector("relu[-1]", g), { opType: "Relu", index: -1 });
 * assert.deepEqual(parseOpSelector("op:Conv", g), { opType: "Conv", index: null });
 * assert.equal(parseOpSelector("layer[12]", g), null);
 * ```
 */
export function parseOpSelector(request: string, graph: OnnxGraph): OpSelector | null {
  const m = /^(op:)?([A-Za-z][A-Za-z0-9_]*)(?:\[(-?\d+)\])?$/.exec(request);
  if (!m || (!m[1] && m[3] === undefined)) return null;
  const types = new Set(graph.nodes.map((n) => n.opType));
  let opType = types.has(m[2]) ? m[2] : undefined;
  if (!opType) opType = [...types].find((t) => t.toLowerCase() === m[2].toLowerCase());
  if (!opType) {
    if (!m[1]) return null;
    opType = m[2];
  }
  return { opType, index: m[3] === undefined ? null : Number(m[3]) };
}

/** Integer dims of an initializer, or null. */
function initializerDims(graph: OnnxGraph, name: string): number[] | null {
  // deno-lint-ignore no-explicit-any
  const inits = ((graph.proto as any)?.graph?.initializer ?? []) as any[];
  const t = inits.find((x) => x.name === name);
  return t ? (t.dims ?? []).map((d: unknown) => Number(d)) : null;
}

/** Output H, W of a Conv/pool node from input H, W; null when it cannot be told. */
function spatialOut(graph: OnnxGraph, n: GraphNode, hw: [number, number]): [number, number] {
  const a = n.spatial ?? {};
  const ints = (k: string): number[] | undefined => Array.isArray(a[k]) ? a[k] : undefined;
  let kernel = ints("kernel_shape");
  if (!kernel || kernel.length < 2) {
    const w = n.inputs[n.opType === "QLinearConv" ? 3 : 1];
    const dims = w ? initializerDims(graph, w) : null;
    kernel = dims && dims.length >= 4 ? dims.slice(-2) : [1, 1];
  }
  const k2 = kernel.slice(-2);
  const strides = (ints("strides") ?? [1, 1]).slice(-2);
  const dil = (ints("dilations") ?? [1, 1]).slice(-2);
  const pads = ints("pads") ?? [0, 0, 0, 0];
  const rank = pads.length / 2;
  const autoPad = typeof a.auto_pad === "string" ? a.auto_pad : "NOTSET";
  const out: number[] = [0, 1].map((d) => {
    const x = hw[d];
    const s = strides[d] ?? 1;
    if (n.opType === "ConvTranspose") return x * s;
    if (autoPad.startsWith("SAME")) return Math.ceil(x / s);
    const padSum = (pads[rank - 2 + d] ?? 0) + (pads[2 * rank - 2 + d] ?? 0);
    const ext = (dil[d] ?? 1) * ((k2[d] ?? 1) - 1) + 1;
    return Math.floor((x + padSum - ext) / s) + 1;
  });
  return [out[0], out[1]];
}

/** Operators after which the tensor is no longer a spatial map. */
const NON_SPATIAL = new Set([
  "GlobalAveragePool",
  "GlobalMaxPool",
  "GlobalLpPool",
  "Flatten",
  "Gemm",
  "MatMul",
  "ReduceMean",
  "ReduceMax",
  "ReduceSum",
  "Resize",
  "Upsample",
  "Softmax",
  "Squeeze",
]);

/**
 * The last tappable output of each spatial resolution stage (a run of tappable nodes in graph
 * order whose output H, W stay the same), from H, W propagated statically through the graph with
 * a nominal input size; when nothing is spatial, the last tappable output. Tensor names, in
 * graph order.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadOnnxModel } from "./onnx_model.ts";
 * import { stageDefaultTensors } from "./_layer_select.ts";
 * const g = await loadOnnxModel("fixtures/unscoped_numbered.onnx");
 * assert.deepEqual(stageDefaultTensors(g), ["15", "18", "22"]);
 * ```
 */
export function stageDefaultTensors(graph: OnnxGraph, nominal = 224): string[] {
  const hwOf = new Map<string, [number, number]>();
  for (const i of graph.inputs) {
    const d = i.dims ?? [];
    if (d.length < 4) continue;
    const h = d[d.length - 2], w = d[d.length - 1];
    hwOf.set(i.name, [
      typeof h === "number" && h > 0 ? h : nominal,
      typeof w === "number" && w > 0 ? w : nominal,
    ]);
  }
  const path = dataPathNodes(graph);
  for (const n of graph.nodes) {
    if (!path.has(n.index)) continue;
    const first = n.inputs.find((x) => x && hwOf.has(x));
    if (!first || NON_SPATIAL.has(n.opType)) continue;
    const hw = hwOf.get(first)!;
    const out = n.spatial ? spatialOut(graph, n, hw) : hw;
    if (!(out[0] > 0 && out[1] > 0)) continue;
    for (const o of n.outputs) if (o) hwOf.set(o, out);
  }
  const taps = tappableNodes(graph);
  const picked: string[] = [];
  let prev: string | null = null;
  let lastOfRun: string | null = null;
  for (const n of taps) {
    const hw = hwOf.get(n.outputs[0]);
    if (!hw) continue;
    const key = `${hw[0]}x${hw[1]}`;
    if (prev !== null && key !== prev && lastOfRun) picked.push(lastOfRun);
    prev = key;
    lastOfRun = n.outputs[0];
  }
  if (lastOfRun) picked.push(lastOfRun);
  if (picked.length === 0 && taps.length > 0) picked.push(taps[taps.length - 1].outputs[0]);
  return picked;
}
