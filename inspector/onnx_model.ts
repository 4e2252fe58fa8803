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

import onnxproto from "npm:onnx-proto@8.0.1";
import { createHash } from "node:crypto";
import * as nodeFs from "node:fs";
import { basename, dirname, isAbsolute, join, resolve, sep } from "node:path";
import { InspectorError } from "../core/errors.ts";
import { statRegularFile, statRegularFileSync } from "../core/regular_file.ts";

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
  /**
   * Spatial attributes of Conv/ConvTranspose/pooling nodes (`kernel_shape`, `strides`, `pads`,
   * `dilations`, and `auto_pad` as text), for resolution-stage detection; absent elsewhere.
   */
  spatial?: Record<string, number[] | string>;
}

const SPATIAL_OPS = new Set([
  "Conv",
  "ConvTranspose",
  "ConvInteger",
  "QLinearConv",
  "MaxPool",
  "AveragePool",
  "LpPool",
]);
const SPATIAL_ATTRS = new Set(["kernel_shape", "strides", "pads", "dilations", "auto_pad"]);

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

/**
 * Hex SHA-256 with node:crypto: ~35 ms for 45 MB, about half of WebCrypto's `digest`, which
 * also copies the whole buffer on the calling thread before hashing it on another one.
 */
function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Read a whole file into one buffer of its size (about twice as fast as `Deno.readFile` on a
 * 45 MB model, which grows its buffer and copies it once more).
 */
function readWholeFile(path: string): Uint8Array {
  // Before opening: a device such as /dev/zero never ends (FIFOs are readModelFifo's).
  statRegularFileSync(path, MODEL_HINT);
  using file = Deno.openSync(path);
  const info = file.statSync();
  if (info.isDirectory) throw new Deno.errors.IsADirectory(`${path} is a directory`);
  // Room behind the bytes for what withExtendedModel appends; pages never written cost nothing.
  const whole = new Uint8Array(info.size + TAIL_ROOM);
  let buf = whole.subarray(0, info.size);
  let n = 0;
  for (;;) {
    if (n < buf.length) {
      const got = file.readSync(buf.subarray(n));
      if (got === null) break;
      n += got;
      continue;
    }
    // Full as stat said: check for the end with a small read before growing anything (the file
    // may have grown since stat, or stat says 0, as for special files).
    const probe = new Uint8Array(1 << 16);
    const got = file.readSync(probe);
    if (got === null) break;
    const more = new Uint8Array(Math.max(buf.length * 2, n + got));
    more.set(buf);
    more.set(probe.subarray(0, got), n);
    buf = more;
    n += got;
  }
  return n === buf.length ? buf : buf.subarray(0, n);
}

const MODEL_HINT = "pass options.checkpoint with an .onnx file";

/** How long a FIFO given as the model waits for something to write to it. */
const FIFO_WAIT_MS = 3000;

/** The most a FIFO may deliver: protobuf's 2 GiB, the most one `.onnx` file can hold. */
const FIFO_MAX_BYTES = 2 ** 31;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Read a FIFO holding a model (`--checkpoint <(curl ...)`), without blocking on it: opened
 * non-blocking, it reads as empty while no writer has opened it, which after
 * {@linkcode FIFO_WAIT_MS} is an error (a plain open would wait forever); once data came, an
 * empty read is the end.
 */
async function readModelFifo(path: string): Promise<Uint8Array> {
  const fd = nodeFs.openSync(path, nodeFs.constants.O_RDONLY | nodeFs.constants.O_NONBLOCK);
  try {
    const parts: Uint8Array[] = [];
    let total = 0;
    const deadline = performance.now() + FIFO_WAIT_MS;
    for (;;) {
      const buf = new Uint8Array(1 << 20);
      let got: number;
      try {
        got = nodeFs.readSync(fd, buf);
      } catch (err) {
        if ((err as { code?: string }).code !== "EAGAIN") throw err;
        await sleep(1); // a writer is there, with nothing written yet
        continue;
      }
      if (got > 0) {
        parts.push(buf.subarray(0, got));
        total += got;
        if (total > FIFO_MAX_BYTES) {
          throw new InspectorError(
            `${path} (a FIFO) delivers more than 2 GiB, more than an ONNX file can hold: ` +
              MODEL_HINT,
          );
        }
        continue;
      }
      if (total > 0) break; // the writer closed it: the end
      if (performance.now() > deadline) {
        throw new InspectorError(
          `${path} is not a regular file (a FIFO) and nothing wrote to it within ` +
            `${FIFO_WAIT_MS / 1000} s: ${MODEL_HINT}`,
        );
      }
      await sleep(10); // no writer yet
    }
    const out = new Uint8Array(total + TAIL_ROOM);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out.subarray(0, total);
  } finally {
    nodeFs.closeSync(fd);
  }
}

/** The model file's bytes: a regular file, or a FIFO something writes a model into. */
async function readModelFile(path: string): Promise<Uint8Array> {
  if (Deno.statSync(path).isFifo) return await readModelFifo(path);
  return readWholeFile(path);
}

/** Bytes allocated behind a model read from a file, for {@linkcode withExtendedModel}. */
const TAIL_ROOM = 4 << 20;

/** The `torch.onnx.export` snippet shown when a PyTorch checkpoint is given. */
export const EXPORT_HINT =
  "export it to ONNX first: torch.onnx.export(model.eval(), torch.randn(1, 8, 3, 224, 224), " +
  "'model.onnx', input_names=['frames'], output_names=['logits'], opset_version=17, " +
  "dynamic_axes={'frames': {0: 'batch', 1: 'time'}}) (see README, 'Exporting a PyTorch model')";

/**
 * Read and parse an ONNX model file, inlining external data stored beside it.
 *
 * A FIFO (`--checkpoint <(...)`) is read when something writes to it within 3 seconds.
 * Errors say what to do: missing file, a device or an unwritten FIFO instead of a file, a PyTorch
 * `.pth`/`.pt` checkpoint, bytes that are not ONNX, or external-data files that are missing or
 * lie outside the model's folder.
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
    bytes = await readModelFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new InspectorError(
        `model ${resolve(path)} not found: pass options.checkpoint with an .onnx file`,
      );
    }
    if (err instanceof Deno.errors.IsADirectory) {
      throw new InspectorError(
        `model ${path} is a folder: pass options.checkpoint with an .onnx file`,
      );
    }
    throw err;
  }
  if (bytes.length >= 2 && bytes[0] === 0x50 && bytes[1] === 0x4b) {
    throw new InspectorError(
      `${path} is a zip archive (a PyTorch checkpoint?), not an ONNX model; ${EXPORT_HINT}`,
    );
  }
  const graph = await parseOnnxModel(bytes, { source: path, baseDir: dirname(path) });
  noteFileWeights(graph, path, bytes);
  return graph;
}

/**
 * Parse ONNX model bytes.
 *
 * @param bytes the `.onnx` file's bytes
 * @param options `source` names the model in messages; `baseDir` is where external data lives
 *   (each external-data `location` must be a relative path that stays inside it, links
 *   resolved, as onnx's checker requires)
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
  const inlined = await inlineExternalData(graph, source, options.baseDir);
  // The bytes still describe the decoded model unless external data was inlined into it.
  if (inlined === 0) sourceBytes.set(model, bytes);
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
      if (SPATIAL_OPS.has(n.opType)) {
        const spatial: Record<string, number[] | string> = {};
        for (const a of n.attribute ?? []) {
          if (!SPATIAL_ATTRS.has(a.name)) continue;
          if (a.name === "auto_pad") {
            spatial.auto_pad = new TextDecoder().decode(a.s ?? new Uint8Array());
          } else spatial[a.name] = (a.ints ?? []).map(longToNumber);
        }
        node.spatial = spatial;
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
    sha256: sha256Hex(bytes),
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

/** Returns how many tensors had their external data inlined. */
async function inlineExternalData(
  // deno-lint-ignore no-explicit-any
  graph: any,
  source: string,
  baseDir?: string,
): Promise<number> {
  let inlined = 0;
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
    const file = await externalDataPath(baseDir, location, source, t.name);
    let data = files.get(file);
    if (!data) {
      try {
        await statRegularFile(file, "external data must be a file beside the model");
        data = await Deno.readFile(file);
      } catch (err) {
        if (err instanceof InspectorError) {
          throw new InspectorError(`${source}: external data file '${location}': ${err.message}`);
        }
        throw new InspectorError(
          `${source} keeps weights in external data file '${location}', which is missing: ` +
            `put it next to the model (${join(baseDir, location)}) or re-export with all ` +
            `weights inside the .onnx`,
        );
      }
      files.set(file, data);
    }
    const offset = Number(kv.get("offset") ?? 0);
    const length = kv.has("length") ? Number(kv.get("length")) : data.length - offset;
    if (
      !(Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(length) && length >= 0)
    ) {
      throw new InspectorError(
        `${source}: tensor ${t.name} has external data offset '${kv.get("offset")}' / length ` +
          `'${kv.get("length")}', not byte counts; re-export the model`,
      );
    }
    if (offset + length > data.length) {
      throw new InspectorError(
        `${source}: external data file '${location}' is shorter than tensor ${t.name} needs ` +
          `(truncated copy?)`,
      );
    }
    t.rawData = data.slice(offset, offset + length);
    t.dataLocation = 0;
    t.externalData = [];
    inlined++;
  }
  return inlined;
}

/**
 * The real path of an external-data file, checked as onnx's checker does: `location` is relative,
 * has no `..` part, and (links resolved) stays inside the model's folder. Weights read from
 * anywhere else (`../../../../etc/services`) would be a file the model's author chose.
 * A location that does not exist (yet) is returned unresolved, for the caller's "missing" error.
 */
async function externalDataPath(
  baseDir: string,
  location: string,
  source: string,
  tensor: string,
): Promise<string> {
  const outside = (why: string): InspectorError =>
    new InspectorError(
      `${source}: tensor ${tensor} keeps its weights in external data file '${location}', ` +
        `${why}; external data must be a relative path inside the model's folder (${baseDir}): ` +
        `put the file beside the model and fix its location, or re-export with all weights ` +
        `inside the .onnx`,
    );
  if (isAbsolute(location) || /^[\\/]|^[A-Za-z]:/.test(location)) {
    throw outside("an absolute path");
  }
  if (location.split(/[\\/]/).includes("..")) throw outside("which climbs out with '..'");
  const joined = join(baseDir, location);
  let real: string, realBase: string;
  try {
    realBase = await Deno.realPath(baseDir);
    real = await Deno.realPath(joined);
  } catch {
    return joined; // missing: reported by the caller
  }
  if (real !== realBase && !real.startsWith(realBase.endsWith(sep) ? realBase : realBase + sep)) {
    throw outside(`a link to ${real}, outside the model's folder`);
  }
  return real;
}

/**
 * The bytes each decoded `ModelProto` came from, while they still describe it (not after
 * external data was inlined): {@linkcode extendModel} splices additions into them instead of
 * encoding the whole model again.
 */
const sourceBytes = new WeakMap<object, Uint8Array>();

/** Repeated `GraphProto` fields to append to a model's graph (protobufjs messages or plain objects). */
export interface GraphAdditions {
  /** Nodes, after the existing ones (keep the graph topologically sorted). */
  node?: readonly unknown[];
  /** Initializers. */
  initializer?: readonly unknown[];
  /** Graph inputs (`ValueInfoProto`). */
  input?: readonly unknown[];
  /** Graph outputs (`ValueInfoProto`). */
  output?: readonly unknown[];
  /** Value infos. */
  valueInfo?: readonly unknown[];
}

/** Read a base-128 varint at `pos`; returns the value and the position after it. */
function readVarint(bytes: Uint8Array, pos: number): [number, number] {
  let value = 0, mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= bytes.length) throw new RangeError("truncated varint");
    const b = bytes[pos++];
    value += (b & 0x7f) * mul;
    if (b < 0x80) return [value, pos];
    mul *= 128;
  }
  throw new RangeError("varint longer than 10 bytes");
}

function varintBytes(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/**
 * Where the one `graph` field (number 7) of a serialised `ModelProto` lies: the start of its key,
 * and the start and end of its contents; null when the bytes are not the plain form this
 * expects (no graph, several graph fields, groups).
 */
function graphSpan(bytes: Uint8Array): { key: number; start: number; end: number } | null {
  let pos = 0, found: { key: number; start: number; end: number } | null = null;
  try {
    while (pos < bytes.length) {
      const keyPos = pos;
      const [key, p] = readVarint(bytes, pos);
      pos = p;
      const field = Math.floor(key / 8), wire = key % 8;
      if (wire === 0) pos = readVarint(bytes, pos)[1];
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else if (wire === 2) {
        const [len, q] = readVarint(bytes, pos);
        if (field === 7) {
          if (found) return null;
          found = { key: keyPos, start: q, end: q + len };
        }
        pos = q + len;
      } else return null;
    }
  } catch {
    return null;
  }
  return pos === bytes.length ? found : null;
}

/**
 * Serialise the model with `additions` appended to its graph's repeated fields, leaving the
 * parsed model itself unchanged. A protobuf message may carry a repeated field's elements in
 * several runs, so the additions are spliced into the graph's bytes as it was read (one copy,
 * ~10 ms for 45 MB) instead of encoding the whole model again (~40 ms); the result decodes to
 * exactly the model that encoding with the additions would give. Models whose external data
 * was inlined at load are encoded in full.
 *
 * @example Usage
 * ```ts
 * import { extendModel, loadOnnxModel } from "./onnx_model.ts";
 * import onnxproto from "npm:onnx-proto@8.0.1";
 * const { onnx } = onnxproto;
 * const g = await loadOnnxModel("fixtures/resnet18_video.onnx");
 * const bytes = extendModel(g, {
 *   output: [onnx.ValueInfoProto.create({ name: "/backbone/relu/Relu_output_0" })],
 * });
 * const outputs = onnx.ModelProto.decode(bytes).graph?.output?.map((o) => o.name) ?? [];
 * console.log(outputs.at(-1)); // "/backbone/relu/Relu_output_0"
 * ```
 */
export function extendModel(graph: OnnxGraph, additions: GraphAdditions): Uint8Array {
  refuseReleased(graph);
  // deno-lint-ignore no-explicit-any
  const model = graph.proto as any;
  const extra = encodeAdditions(additions);
  const bytes = sourceBytes.get(model);
  const span = bytes ? graphSpan(bytes) : null;
  if (bytes && span) {
    const head = [0x3a, ...varintBytes(span.end - span.start + extra.length)]; // field 7, bytes
    const out = new Uint8Array(
      span.key + head.length + (span.end - span.start) + extra.length + (bytes.length - span.end),
    );
    let o = 0;
    out.set(bytes.subarray(0, span.key), o);
    o += span.key;
    out.set(head, o);
    o += head.length;
    out.set(bytes.subarray(span.start, span.end), o);
    o += span.end - span.start;
    out.set(extra, o);
    o += extra.length;
    out.set(bytes.subarray(span.end), o);
    return out;
  }
  const g = model.graph;
  const saved = {
    node: g.node,
    initializer: g.initializer,
    input: g.input,
    output: g.output,
    valueInfo: g.valueInfo,
  };
  g.node = [...(saved.node ?? []), ...(additions.node ?? [])];
  g.initializer = [...(saved.initializer ?? []), ...(additions.initializer ?? [])];
  g.input = [...(saved.input ?? []), ...(additions.input ?? [])];
  g.output = [...(saved.output ?? []), ...(additions.output ?? [])];
  g.valueInfo = [...(saved.valueInfo ?? []), ...(additions.valueInfo ?? [])];
  try {
    return onnx.ModelProto.encode(model).finish();
  } finally {
    Object.assign(g, saved);
  }
}

const tailLocks = new WeakMap<ArrayBuffer, Promise<unknown>>();

/**
 * Lend `use` the bytes of the model with `additions` appended to its graph, for as long as `use`
 * runs (typically: create an onnxruntime session from them). With `options.weightsFromFile`, a
 * model read from a file is lent without its weights, which point into the file instead
 * ({@linkcode modelWithFileWeights}; `use` then gets the file's folder as `weightsDir`). When the model was read from a file
 * with room behind its bytes, the additions are written there as a second `graph` field, which
 * protobuf parsers (onnxruntime's among them) merge into the first, so the model is not copied:
 * that saves ~40 ms and the model's size in memory for a 45 MB model. Otherwise `use` gets
 * {@linkcode extendModel}'s copy. Calls sharing one model's buffer take turns. Keep nothing
 * that points into the bytes after `use` settles, and give them only to a parser that merges
 * repeated message fields (protobufjs' `decode` keeps the last `graph` only).
 *
 * @example Usage
 * ```ts
 * import { loadOnnxModel, withExtendedModel } from "./onnx_model.ts";
 * import { createSession } from "./runtime.ts";
 * import onnxproto from "npm:onnx-proto@8.0.1";
 * const g = await loadOnnxModel("fixtures/resnet18_video.onnx");
 * const tap = "/backbone/relu/Relu_output_0";
 * const output = [onnxproto.onnx.ValueInfoProto.create({ name: tap })];
 * await using s = await withExtendedModel(g, { output }, (bytes) =>
 *   createSession(bytes, { ep: "wasm" }));
 * const x = { data: new Float32Array(2 * 3 * 112 * 112), dims: [1, 2, 3, 112, 112] };
 * console.log((await s.run({ frames: x }))[tap].dims); // [2, 8, 56, 56]
 * ```
 */
export async function withExtendedModel<T>(
  graph: OnnxGraph,
  additions: GraphAdditions,
  use: (bytes: Uint8Array, weightsDir: string | null) => Promise<T>,
  options: ExtendedModelOptions = {},
): Promise<T> {
  if (options.weightsFromFile) {
    const lean = modelWithFileWeights(graph, additions);
    if (lean) return await use(lean.bytes, lean.dir);
  }
  refuseReleased(graph);
  const bytes = sourceBytes.get(graph.proto as object);
  const extra = encodeAdditions(additions);
  const head = [0x3a, ...varintBytes(extra.length)]; // field 7 (graph), length-delimited
  const end = bytes ? bytes.byteOffset + bytes.length : 0;
  if (!bytes || end + head.length + extra.length > bytes.buffer.byteLength) {
    return await use(extendModel(graph, additions), null);
  }
  const buffer = bytes.buffer as ArrayBuffer;
  const before = tailLocks.get(buffer) ?? Promise.resolve();
  let release = () => {};
  const mine = new Promise<void>((r) => release = r);
  const chain = before.then(() => mine);
  tailLocks.set(buffer, chain);
  await before;
  try {
    const view = new Uint8Array(
      buffer,
      bytes.byteOffset,
      bytes.length + head.length + extra.length,
    );
    view.set(head, bytes.length);
    view.set(extra, bytes.length + head.length);
    return await use(view, null);
  } finally {
    release();
    if (tailLocks.get(buffer) === chain) tailLocks.delete(buffer);
  }
}

function encodeAdditions(additions: GraphAdditions): Uint8Array {
  return onnx.GraphProto.encode({
    node: [...(additions.node ?? [])],
    initializer: [...(additions.initializer ?? [])],
    input: [...(additions.input ?? [])],
    output: [...(additions.output ?? [])],
    valueInfo: [...(additions.valueInfo ?? [])],
  }).finish() as Uint8Array;
}

/**
 * Serialise a copy of the model with `tensors` added as graph outputs (type and shape inferred).
 * Tensors that already are graph outputs are not added twice. See {@linkcode extendModel}.
 *
 * @example Usage
 * ```ts ignore
 * import { loadOnnxModel, tapModel } from "./onnx_model.ts";
 * const g = await loadOnnxModel("model.onnx");
 * const bytes = tapModel(g, ["/backbone/relu/Relu_output_0"]);
 * ```
 */
export function tapModel(graph: OnnxGraph, tensors: readonly string[]): Uint8Array {
  return extendModel(graph, tapAdditions(graph, tensors));
}

/**
 * The graph outputs that {@linkcode tapModel} adds, for {@linkcode withExtendedModel}.
 *
 * @example Usage
 * ```ts
 * import { loadOnnxModel, tapAdditions } from "./onnx_model.ts";
 * const g = await loadOnnxModel("fixtures/resnet18_video.onnx");
 * console.log(tapAdditions(g, ["/backbone/relu/Relu_output_0"]).output?.length); // 1
 * ```
 */
export function tapAdditions(graph: OnnxGraph, tensors: readonly string[]): GraphAdditions {
  // deno-lint-ignore no-explicit-any
  const model = graph.proto as any;
  const existing = new Set<string>(model.graph.output.map((o: { name: string }) => o.name));
  const output = tensors.filter((t) => !existing.has(t) && !graph.inputs.some((i) => i.name === t))
    .filter((t, k, a) => a.indexOf(t) === k)
    .map((name) =>
      // No type: onnxruntime infers it, which keeps int8/int64 tensors of quantized graphs right.
      onnx.ValueInfoProto.create({ name })
    );
  return { output };
}

/** Every tensor produced by a node, in graph order (for raw-name lookup and `--list_layers`). */
export function tensorNames(graph: OnnxGraph): string[] {
  return graph.nodes.flatMap((n) => n.outputs.filter((o) => o.length > 0));
}

/** Options of {@linkcode withExtendedModel}. */
export interface ExtendedModelOptions {
  /**
   * Lend the model without its weights when it was read from a file: its large initializers
   * point into that file as external data (see {@linkcode modelWithFileWeights}), and `use`
   * gets the file's folder. For native onnxruntime only (`runtime.ts` `externalDataDir`).
   */
  weightsFromFile?: boolean;
}

/** Initializers from this size on are read from the model file by onnxruntime itself. */
const FILE_WEIGHT_MIN_BYTES = 4096;

/** Where a model read from a file keeps its weights, to let onnxruntime read them from there. */
interface FileWeights {
  /** Absolute folder and name of the file. */
  dir: string;
  name: string;
  /** Its size and modification time when it was read. */
  size: number;
  mtime: number | null;
  /** Each large inline initializer (the decoded `TensorProto`): its raw bytes in the file. */
  spans: Map<object, [offset: number, length: number]>;
  /** The JavaScript copies of those bytes were dropped ({@linkcode releaseModelWeights}). */
  released: boolean;
}

const fileWeights = new WeakMap<object, FileWeights>();

/** Remember where a model read from `path` keeps each large initializer's bytes in the file. */
function noteFileWeights(graph: OnnxGraph, path: string, bytes: Uint8Array): void {
  // deno-lint-ignore no-explicit-any
  const model = graph.proto as any;
  // External data inlined at load: the bytes no longer describe the model.
  if (sourceBytes.get(model) !== bytes) return;
  let stat: Deno.FileInfo;
  try {
    stat = Deno.statSync(path);
  } catch {
    return;
  }
  if (!stat.isFile) return; // a FIFO: nothing to read twice
  const spans = new Map<object, [number, number]>();
  for (const t of model.graph?.initializer ?? []) {
    const raw = t.rawData;
    if (
      raw instanceof Uint8Array && raw.length >= FILE_WEIGHT_MIN_BYTES &&
      raw.buffer === bytes.buffer
    ) {
      spans.set(t, [raw.byteOffset - bytes.byteOffset, raw.length]);
    }
  }
  if (spans.size === 0) return;
  const abs = resolve(path);
  fileWeights.set(model, {
    dir: dirname(abs),
    name: basename(abs),
    size: stat.size,
    mtime: stat.mtime?.getTime() ?? null,
    spans,
    released: false,
  });
}

/**
 * The model with `additions` appended to its graph and without its weights: each initializer of
 * 4 KiB or more that the model file holds inline is written as external data pointing into that
 * same file (`location` its name, `offset` and `length` where its bytes lie), so that
 * onnxruntime reads the weights from the file (given its folder as
 * `session.model_external_initializers_file_folder_path`) and nothing copies them through
 * JavaScript: for the 43 MiB ResNet-18 of the bench, 34 KB of model and a session built in 170
 * instead of 230-300 ms with about 50 MiB less at its peak. Null for a model not read from a file
 * (or with its external data inlined). Throws when the file changed since it was read.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadOnnxModel, modelWithFileWeights } from "./onnx_model.ts";
 * const g = await loadOnnxModel("fixtures/resnet18_video.onnx");
 * const lean = modelWithFileWeights(g, {})!;
 * assert.ok(lean.bytes.length < 70_000); // the fixture file is 720 KB
 * assert.ok(lean.dir.endsWith("fixtures"));
 * ```
 */
export function modelWithFileWeights(
  graph: OnnxGraph,
  additions: GraphAdditions,
): { bytes: Uint8Array; dir: string } | null {
  // deno-lint-ignore no-explicit-any
  const model = graph.proto as any;
  const fw = fileWeights.get(model);
  if (!fw) return null;
  const path = join(fw.dir, fw.name);
  let now: Deno.FileInfo | null = null;
  try {
    now = Deno.statSync(path);
  } catch { /* reported below */ }
  if (!now || now.size !== fw.size || (now.mtime?.getTime() ?? null) !== fw.mtime) {
    throw new InspectorError(
      `the model file ${path} changed or went away after it was read; run again with the ` +
        "file left as it is",
    );
  }
  const g = model.graph;
  const empty = new Uint8Array(0);
  const initializer = (g.initializer ?? []).map((t: object) => {
    const span = fw.spans.get(t);
    return span
      ? {
        ...t,
        rawData: empty,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: "location", value: fw.name },
          { key: "offset", value: String(span[0]) },
          { key: "length", value: String(span[1]) },
        ],
      }
      : t;
  });
  const bytes = onnx.ModelProto.encode({
    ...model,
    graph: {
      ...g,
      node: [...(g.node ?? []), ...(additions.node ?? [])],
      initializer: [...initializer, ...(additions.initializer ?? [])],
      input: [...(g.input ?? []), ...(additions.input ?? [])],
      output: [...(g.output ?? []), ...(additions.output ?? [])],
      valueInfo: [...(g.valueInfo ?? []), ...(additions.valueInfo ?? [])],
    },
  }).finish();
  return { bytes, dir: fw.dir };
}

/**
 * Drop the JavaScript copies of the weights that {@linkcode modelWithFileWeights} lets
 * onnxruntime read from the model file (the file's bytes, about the model's size), once a
 * session has them. The graph then only makes sessions through `modelWithFileWeights` (or
 * `withExtendedModel` with `weightsFromFile`); {@linkcode extendModel} refuses it. Returns the
 * bytes dropped (0 for a model not read from a file).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { extendModel, loadOnnxModel, modelWithFileWeights, releaseModelWeights } from "./onnx_model.ts";
 * const g = await loadOnnxModel("fixtures/resnet18_video.onnx");
 * assert.ok(releaseModelWeights(g) > 600_000); // bytes no longer held in JavaScript
 * assert.ok(modelWithFileWeights(g, {}) !== null);
 * assert.throws(() => extendModel(g, {}), /released/);
 * ```
 */
export function releaseModelWeights(graph: OnnxGraph): number {
  // deno-lint-ignore no-explicit-any
  const model = graph.proto as any;
  const fw = fileWeights.get(model);
  if (!fw || fw.released) return 0;
  let dropped = 0;
  const empty = new Uint8Array(0);
  for (const [t, [, length]] of fw.spans) {
    (t as { rawData: Uint8Array }).rawData = empty;
    dropped += length;
  }
  // The decoded model's other bytes fields (small initializers, Constant nodes' tensors, string
  // attributes) are views of the file's buffer too, which they would keep alive: copy them out.
  const buffer = sourceBytes.get(model)?.buffer;
  if (buffer) copyViewsOut(model, buffer);
  fw.released = true;
  sourceBytes.delete(model);
  return dropped;
}

/** Replace every `Uint8Array` view of `buffer` inside the decoded message `node` by a copy. */
function copyViewsOut(node: unknown, buffer: ArrayBufferLike): void {
  if (node === null || typeof node !== "object") return;
  const entries: [string | number, unknown][] = Array.isArray(node)
    ? node.map((v, i) => [i, v])
    : Object.entries(node);
  for (const [k, v] of entries) {
    if (v instanceof Uint8Array) {
      if (v.buffer === buffer) (node as Record<string | number, unknown>)[k] = v.slice();
    } else if (typeof v === "object" && v !== null && !ArrayBuffer.isView(v)) {
      copyViewsOut(v, buffer);
    }
  }
}

function refuseReleased(graph: OnnxGraph): void {
  if (fileWeights.get(graph.proto as object)?.released) {
    throw new InspectorError(
      `the weights of ${graph.source} were released after its first session (options.lean); ` +
        "load the model again to run it on another backend",
    );
  }
}
