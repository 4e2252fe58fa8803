/**
 * ONNX model loading: read and check a model file, describe its graph, and add tapped tensors
 * as graph outputs.
 *
 * ONNX has no modules, only node names. PyTorch's exporter names nodes after the module scope
 * they ran in (`/backbone/layer1/layer1.0/relu_1/Relu`); {@linkcode OnnxGraph} keeps each node's
 * scope path so that `layers.ts` can resolve module names.
 *
 * @module
 */

import onnxproto from "onnx-proto";
import { dirname, join } from "node:path";
import { InspectorError } from "./errors.ts";

// deno-lint-ignore no-explicit-any
const { onnx } = onnxproto as any;

/** One dimension of a graph input: a number, or a symbolic name such as `"batch"`. */
export type Dim = number | string;

/** A graph input or output with its element type and (possibly symbolic) shape. */
export interface TensorSpec {
  /** Tensor name. */
  name: string;
  /** ONNX element type name (`"float32"`, `"int64"` ...). */
  elemType: string;
  /** Shape; `null` when the model does not say. */
  dims: Dim[] | null;
}

/** A node of the graph, in topological order. */
export interface GraphNode {
  /** Position in the graph's (topologically sorted) node list. */
  index: number;
  /** Node name, e.g. `/backbone/layer1/layer1.0/conv1/Conv`. */
  name: string;
  /** Operator type, e.g. `Conv`. */
  opType: string;
  /** Input tensor names (empty string for an omitted optional input). */
  inputs: string[];
  /** Output tensor names. */
  outputs: string[];
  /** Scope segments from the name, e.g. `["backbone", "layer1", "layer1.0", "conv1"]`. */
  scope: string[];
  /** The scope as a dotted module path, e.g. `backbone.layer1.0.conv1` (empty if unscoped). */
  modulePath: string;
  /** Integer attributes used by layout detection (e.g. Transpose `perm`). */
  perm?: number[];
}

const ELEM_TYPES: Record<number, string> = {
  1: "float32",
  2: "uint8",
  3: "int8",
  4: "uint16",
  5: "int16",
  6: "int32",
  7: "int64",
  9: "bool",
  10: "float16",
  11: "float64",
  12: "uint32",
  13: "uint64",
  16: "bfloat16",
};

/**
 * Turn scope segments into a dotted module path, folding PyTorch's qualified child names:
 * `["backbone", "layer1", "layer1.0", "conv1"]` becomes `backbone.layer1.0.conv1`.
 *
 * @example Usage
 * ```ts
 * import { scopeToModulePath } from "./onnx_model.ts";
 * console.log(scopeToModulePath(["backbone", "layer1", "layer1.0", "conv1"]));
 * // "backbone.layer1.0.conv1"
 * ```
 */
export function scopeToModulePath(scope: readonly string[]): string {
  const parts: string[] = [];
  let last = "";
  for (const seg of scope) {
    if (last && seg.startsWith(last + ".")) parts.push(seg.slice(last.length + 1));
    else parts.push(seg);
    last = seg;
  }
  return parts.join(".");
}

function parseScope(name: string): string[] {
  if (!name.startsWith("/")) return [];
  const segs = name.split("/").filter((s) => s.length > 0);
  segs.pop(); // the op's own name, e.g. "Conv" or "Relu_1"
  return segs;
}

function longToNumber(v: unknown): number {
  if (typeof v === "number") return v;
  if (v && typeof v === "object" && "toNumber" in v) {
    return (v as { toNumber(): number }).toNumber();
  }
  return Number(v);
}

// deno-lint-ignore no-explicit-any
function specOf(vi: any): TensorSpec {
  const tt = vi.type?.tensorType;
  const shape = tt?.shape;
  const dims: Dim[] | null = shape
    ? (shape.dim ?? []).map((d: { dimValue?: unknown; dimParam?: string }) =>
      d.dimParam
        ? d.dimParam
        : (d.dimValue !== undefined && d.dimValue !== null ? longToNumber(d.dimValue) : "?")
    )
    : null;
  return { name: vi.name, elemType: ELEM_TYPES[tt?.elemType ?? 0] ?? "unknown", dims };
}

/** A parsed, checked ONNX model. */
export interface OnnxGraph {
  /** Where the model came from (path or `"<bytes>"`). */
  source: string;
  /** Hex SHA-256 of the model file's bytes. */
  sha256: string;
  /** Producer name and version, e.g. `pytorch 1.13.0`. */
  producer: string;
  /** Highest default-domain opset. */
  opset: number;
  /** Graph inputs that are not initializers. */
  inputs: TensorSpec[];
  /** Graph outputs. */
  outputs: TensorSpec[];
  /** Nodes in topological order. */
  nodes: GraphNode[];
  /** Names of initializers (weights). */
  initializers: Set<string>;
  /** Producer node index of every tensor. */
  producerOf: Map<string, number>;
  /** Consumer node indices of every tensor. */
  consumersOf: Map<string, number[]>;
  /** The decoded protobuf (kept for tapping). */
  readonly proto: unknown;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The `torch.onnx.export` snippet shown when a PyTorch checkpoint is given. */
export const EXPORT_HINT =
  "export it to ONNX first: torch.onnx.export(model.eval(), torch.randn(1, 8, 3, 224, 224), " +
  "'model.onnx', input_names=['frames'], output_names=['logits'], opset_version=17, " +
  "dynamic_axes={'frames': {0: 'batch', 1: 'time'}}) (see README, 'Exporting a PyTorch model')";

/**
 * Read and parse an ONNX model file, inlining external data stored beside it.
 *
 * Errors say what to do: missing file, a PyTorch `.pth`/`.pt` checkpoint, bytes that are not
 * ONNX, or external-data files that are missing.
 *
 * @example Usage
 * ```ts ignore
 * import { loadOnnxModel } from "./onnx_model.ts";
 * const g = await loadOnnxModel("fixtures/resnet18_video.onnx");
 * console.log(g.inputs[0].name, g.nodes.length);
 * ```
 */
export async function loadOnnxModel(path: string): Promise<OnnxGraph> {
  if (/\.(pth|pt|ckpt|tar|bin|safetensors)$/i.test(path)) {
    throw new InspectorError(
      `${path} is a PyTorch checkpoint, not an ONNX model; ${EXPORT_HINT}`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new InspectorError(`model ${path} not found: pass --checkpoint with an .onnx file`);
    }
    if (err instanceof Deno.errors.IsADirectory) {
      throw new InspectorError(`model ${path} is a folder: pass --checkpoint with an .onnx file`);
    }
    throw err;
  }
  if (bytes.length >= 2 && bytes[0] === 0x50 && bytes[1] === 0x4b) {
    throw new InspectorError(
      `${path} is a zip archive (a PyTorch checkpoint?), not an ONNX model; ${EXPORT_HINT}`,
    );
  }
  return await parseOnnxModel(bytes, { source: path, baseDir: dirname(path) });
}

/**
 * Parse ONNX model bytes.
 *
 * @param bytes the `.onnx` file's bytes
 * @param options `source` names the model in messages; `baseDir` is where external data lives
 *
 * @example Usage
 * ```ts ignore
 * import { parseOnnxModel } from "./onnx_model.ts";
 * const g = await parseOnnxModel(await Deno.readFile("model.onnx"));
 * ```
 */
export async function parseOnnxModel(
  bytes: Uint8Array,
  options: { source?: string; baseDir?: string } = {},
): Promise<OnnxGraph> {
  const source = options.source ?? "<bytes>";
  // deno-lint-ignore no-explicit-any
  let model: any;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new InspectorError(
      `${source} is not a valid ONNX model (${(err as Error).message}); re-export it with ` +
        `torch.onnx.export or check that the file is complete`,
    );
  }
  const graph = model.graph;
  if (!graph || !graph.node || graph.node.length === 0) {
    throw new InspectorError(
      `${source} is not a valid ONNX model (no graph nodes); re-export it or check the file`,
    );
  }
  await inlineExternalData(graph, source, options.baseDir);
  const initializers = new Set<string>(
    (graph.initializer ?? []).map((t: { name: string }) => t.name),
  );
  const inputs = (graph.input ?? []).filter((i: { name: string }) => !initializers.has(i.name))
    .map(specOf);
  const outputs = (graph.output ?? []).map(specOf);
  const producerOf = new Map<string, number>();
  const consumersOf = new Map<string, number[]>();
  const nodes: GraphNode[] = graph.node.map(
    // deno-lint-ignore no-explicit-any
    (n: any, index: number): GraphNode => {
      const scope = parseScope(n.name ?? "");
      const node: GraphNode = {
        index,
        name: n.name ?? "",
        opType: n.opType,
        inputs: [...(n.input ?? [])],
        outputs: [...(n.output ?? [])],
        scope,
        modulePath: scopeToModulePath(scope),
      };
      if (n.opType === "Transpose") {
        // deno-lint-ignore no-explicit-any
        const perm = (n.attribute ?? []).find((a: any) => a.name === "perm");
        if (perm) node.perm = perm.ints.map(longToNumber);
      }
      for (const o of node.outputs) producerOf.set(o, index);
      for (const i of node.inputs) {
        if (!i) continue;
        const list = consumersOf.get(i) ?? [];
        list.push(index);
        consumersOf.set(i, list);
      }
      return node;
    },
  );
  let opset = 0;
  for (const o of model.opsetImport ?? []) {
    if (!o.domain || o.domain === "ai.onnx") opset = Math.max(opset, longToNumber(o.version));
  }
  return {
    source,
    sha256: await sha256Hex(bytes),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(" "),
    opset,
    inputs,
    outputs,
    nodes,
    initializers,
    producerOf,
    consumersOf,
    proto: model,
  };
}

// deno-lint-ignore no-explicit-any
async function inlineExternalData(graph: any, source: string, baseDir?: string): Promise<void> {
  // deno-lint-ignore no-explicit-any
  const tensors: any[] = [...(graph.initializer ?? [])];
  for (const n of graph.node ?? []) {
    for (const a of n.attribute ?? []) if (a.t) tensors.push(a.t);
  }
  const files = new Map<string, Uint8Array>();
  for (const t of tensors) {
    if (t.dataLocation !== 1) continue; // EXTERNAL
    const kv = new Map<string, string>(
      (t.externalData ?? []).map((e: { key: string; value: string }) => [e.key, e.value]),
    );
    const location = kv.get("location");
    if (!location) {
      throw new InspectorError(`${source}: tensor ${t.name} has external data without a location`);
    }
    if (baseDir === undefined) {
      throw new InspectorError(
        `${source} keeps weights in external data file '${location}'; load it from its path`,
      );
    }
    const file = join(baseDir, location);
    let data = files.get(file);
    if (!data) {
      try {
        data = await Deno.readFile(file);
      } catch {
        throw new InspectorError(
          `${source} keeps weights in external data file '${location}', which is missing: ` +
            `put it next to the model (${file}) or re-export with all weights inside the .onnx`,
        );
      }
      files.set(file, data);
    }
    const offset = Number(kv.get("offset") ?? 0);
    const length = kv.has("length") ? Number(kv.get("length")) : data.length - offset;
    if (offset + length > data.length) {
      throw new InspectorError(
        `${source}: external data file '${location}' is shorter than tensor ${t.name} needs ` +
          `(truncated copy?)`,
      );
    }
    t.rawData = data.slice(offset, offset + length);
    t.dataLocation = 0;
    t.externalData = [];
  }
}

/**
 * Encode a copy of the model with `tensors` added as graph outputs (type and shape inferred).
 * Tensors that already are graph outputs are not added twice.
 *
 * @example Usage
 * ```ts ignore
 * import { loadOnnxModel, tapModel } from "./onnx_model.ts";
 * const g = await loadOnnxModel("model.onnx");
 * const bytes = tapModel(g, ["/backbone/relu/Relu_output_0"]);
 * ```
 */
export function tapModel(graph: OnnxGraph, tensors: readonly string[]): Uint8Array {
  // deno-lint-ignore no-explicit-any
  const model = graph.proto as any;
  const existing = new Set<string>(model.graph.output.map((o: { name: string }) => o.name));
  const extra = tensors.filter((t) => !existing.has(t) && !graph.inputs.some((i) => i.name === t))
    .filter((t, k, a) => a.indexOf(t) === k)
    .map((name) =>
      // No type: onnxruntime infers it, which keeps int8/int64 tensors of quantized graphs right.
      onnx.ValueInfoProto.create({ name })
    );
  const saved = model.graph.output;
  model.graph.output = [...saved, ...extra];
  try {
    return onnx.ModelProto.encode(model).finish();
  } finally {
    model.graph.output = saved;
  }
}

/** Every tensor produced by a node, in graph order (for raw-name lookup and `--list_layers`). */
export function tensorNames(graph: OnnxGraph): string[] {
  return graph.nodes.flatMap((n) => n.outputs.filter((o) => o.length > 0));
}
