/**
 * Layer resolution: from the names a user types (`layer1`, `layer2.1`, `bn1`, `layer*`, a raw
 * tensor name) to the ONNX tensors to tap.
 *
 * Rules (see DESIGN.md, "Layer resolution"):
 * - a module name resolves to the output of the last node inside its scope, in topological order;
 *   a name matching several scopes picks the shallowest, and reports a tie as ambiguous;
 * - a BatchNorm that the exporter folded into the preceding Conv (`bn1`) resolves to that Conv's
 *   output, and the Conv itself (`conv1`) is flagged `folded: ["bn1"]`;
 * - glob patterns (`layer*`, `layer1.*`, `**.relu`) expand to every matching module, and
 *   `/`-patterns to every matching tensor (the rule of `core/glob.ts`, shared with compare);
 * - raw tensor and node names are used as they are;
 * - operator selectors: `op:Relu` (every Relu output, in graph order), `Relu[-1]`, `Conv[0]`
 *   (python-style index among that operator's data-path nodes);
 * - a module applied several times in `forward` (scopes `relu`, `relu_1`) resolves to its last
 *   call, as a PyTorch forward hook sees it; `relu#0` picks a call;
 * - a name that resolves to nothing is reported with its closest candidates.
 *
 * @module
 */

import type { GraphNode, OnnxGraph } from "./onnx_model.ts";
import { globToRegExp, isGlob } from "../core/glob.ts";
import { nodesOfType, parseOpSelector } from "./_layer_select.ts";

/** A layer to tap. */
export interface ResolvedLayer {
  /** Field name in the `.npy` and key in the manifest. */
  name: string;
  /** What the user asked for. */
  request: string;
  /** ONNX tensor to tap. */
  tensor: string;
  /** Node that produces the tensor. */
  node: string;
  /** Operator of that node. */
  opType: string;
  /** Dotted module path the name matched, or `null` for raw tensor/node names. */
  module: string | null;
  /** How it was resolved (`op`: an operator selector such as `op:Relu` or `Conv[0]`). */
  kind: "module" | "tensor" | "node" | "folded_bn" | "op";
  /** For a module applied several times in `forward`: how many calls the graph has. */
  calls?: number;
  /** For a module applied several times: the call tapped (0-based; the last by default). */
  call?: number;
  /** BatchNorm modules folded into this Conv by the exporter (their pre-BN input is gone). */
  folded?: string[];
  /** For a folded BatchNorm: the module whose output carries its values. */
  aliasOf?: string;
  /** Human-readable notes for the manifest and the screen. */
  notes: string[];
}

/** A name that resolved to nothing. */
export interface UnresolvedLayer {
  /** What the user asked for. */
  request: string;
  /** Why it did not resolve. */
  reason: string;
  /** The closest names that do exist. */
  candidates: string[];
}

/** A module scope of the graph. */
export interface ModuleInfo {
  /** Dotted module path, e.g. `backbone.layer1.0`. */
  path: string;
  /** Shortest dotted suffix that names this module uniquely, e.g. `layer1.0`. */
  shortName: string;
  /** The last node inside the scope (of its last call). */
  lastNode: GraphNode;
  /** Number of nodes inside the scope (all calls). */
  nodeCount: number;
  /** Depth (number of path parts). */
  depth: number;
  /**
   * The last node of each call, in call order: a module applied twice in `forward` (a
   * torchvision BasicBlock's `relu`) is exported as scopes `relu` and `relu_1`; both are calls of
   * module `relu`. One entry for a module called once.
   */
  callNodes: GraphNode[];
}

function isSkippable(n: GraphNode): boolean {
  return n.opType === "Constant" || n.outputs.length === 0;
}

/**
 * Each scoped node's module path with exporter call suffixes folded (`layer1.0.relu_1` becomes
 * `layer1.0.relu`, call 1) and, per prefix depth, the call of that prefix.
 */
function canonicalPaths(graph: OnnxGraph): Map<number, { parts: string[]; calls: number[] }> {
  const prefixes = new Set<string>();
  for (const n of graph.nodes) {
    if (!n.modulePath) continue;
    const parts = n.modulePath.split(".");
    for (let k = 1; k <= parts.length; k++) prefixes.add(parts.slice(0, k).join("."));
  }
  const out = new Map<number, { parts: string[]; calls: number[] }>();
  for (const n of graph.nodes) {
    if (!n.modulePath) continue;
    const raw = n.modulePath.split(".");
    const parts: string[] = [];
    const calls: number[] = [];
    let call = 0;
    for (let k = 0; k < raw.length; k++) {
      const m = /^(.+)_(\d+)$/.exec(raw[k]);
      // The exporter's call suffix: `X_N` beside a scope `X` under the same parent.
      if (m && Number(m[2]) >= 1 && prefixes.has([...raw.slice(0, k), m[1]].join("."))) {
        parts.push(m[1]);
        call = Number(m[2]);
      } else parts.push(raw[k]);
      calls.push(call);
    }
    out.set(n.index, { parts, calls });
  }
  return out;
}

/**
 * Every module scope of the graph with the last node inside it, in graph order. Scopes that are
 * further calls of one module (`relu_1` beside `relu`) are one module with several calls.
 *
 * @example Usage
 * ```ts ignore
 * import { loadOnnxModel } from "./onnx_model.ts";
 * import { listModules } from "./layers.ts";
 * const mods = listModules(await loadOnnxModel("model.onnx"));
 * console.log(mods.map((m) => m.shortName));
 * ```
 */
export function listModules(graph: OnnxGraph): ModuleInfo[] {
  const byPath = new Map<
    string,
    { last: GraphNode; count: number; calls: Map<number, GraphNode> }
  >();
  const canon = canonicalPaths(graph);
  for (const n of graph.nodes) {
    if (!n.modulePath || isSkippable(n)) continue;
    const { parts, calls } = canon.get(n.index)!;
    for (let k = 1; k <= parts.length; k++) {
      const p = parts.slice(0, k).join(".");
      const call = calls[k - 1];
      const e = byPath.get(p);
      if (e) {
        e.last = n;
        e.count++;
        e.calls.set(call, n);
      } else byPath.set(p, { last: n, count: 1, calls: new Map([[call, n]]) });
    }
  }
  const paths = [...byPath.keys()];
  const mods: ModuleInfo[] = paths.map((path) => {
    const parts = path.split(".");
    let shortName = path;
    for (let k = parts.length - 1; k >= 0; k--) {
      const suffix = parts.slice(k).join(".");
      const holders = paths.filter((p) => p === suffix || p.endsWith("." + suffix));
      const minDepth = Math.min(...holders.map((p) => p.split(".").length));
      const shallowest = holders.filter((p) => p.split(".").length === minDepth);
      // resolves to this path, and only this one, under the "shallowest match" rule
      // (a bare Sequential index such as "1.conv" reads badly: keep its parent's name)
      if (shallowest.length === 1 && shallowest[0] === path && !/^\d/.test(suffix)) {
        shortName = suffix;
        break;
      }
    }
    const e = byPath.get(path)!;
    const callNodes = [...e.calls.entries()].sort((a, b) => a[0] - b[0]).map(([, n]) => n);
    return {
      path,
      shortName,
      lastNode: e.last,
      nodeCount: e.count,
      depth: parts.length,
      callNodes,
    };
  });
  mods.sort((a, b) => a.lastNode.index - b.lastNode.index || a.depth - b.depth);
  return mods;
}

function matchesSuffix(path: string, parts: readonly string[]): boolean {
  const p = path.split(".");
  if (parts.length > p.length) return false;
  for (let k = 1; k <= parts.length; k++) {
    if (p[p.length - k] !== parts[parts.length - k]) return false;
  }
  return true;
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

/**
 * The closest existing names to `request` (module short names, module paths, tensor names).
 *
 * @example Usage
 * ```ts
 * import { closestNames } from "./layers.ts";
 * console.log(closestNames("layr1", ["layer1", "layer2", "conv1"])); // ["layer1", "layer2"]
 * ```
 */
export function closestNames(request: string, names: readonly string[], max = 5): string[] {
  const q = request.toLowerCase();
  const scored = [...new Set(names)].map((n) => {
    const l = n.toLowerCase();
    let d = editDistance(q, l);
    if (l.includes(q) || q.includes(l)) d = Math.min(d, Math.abs(l.length - q.length) * 0.5 + 1);
    return { n, d };
  });
  const limit = Math.max(2, Math.ceil(q.length / 2));
  return scored.filter((s) => s.d <= limit).sort((a, b) => a.d - b.d || a.n.localeCompare(b.n))
    .slice(0, max).map((s) => s.n);
}

/** Name of the BatchNorm a Conv module would be followed by in PyTorch naming. */
function bnPartnerOf(convLeaf: string): string | null {
  const m = /^conv(\d*)$/.exec(convLeaf);
  if (m) return `bn${m[1]}`;
  if (/^\d+$/.test(convLeaf)) return String(Number(convLeaf) + 1);
  return null;
}

/** Name of the Conv a BatchNorm module follows in PyTorch naming. */
function convPartnerOf(bnLeaf: string): string | null {
  const m = /^(?:bn|norm|batchnorm|batch_norm)(\d*)$/.exec(bnLeaf);
  if (m) return `conv${m[1]}`;
  if (/^\d+$/.test(bnLeaf) && Number(bnLeaf) > 0) return String(Number(bnLeaf) - 1);
  return null;
}

function replaceLeaf(path: string, leaf: string): string {
  const p = path.split(".");
  p[p.length - 1] = leaf;
  return p.join(".");
}

/**
 * Resolve the names a user asked for to tensors to tap.
 *
 * @param graph the parsed model
 * @param requests module names, dotted paths, glob patterns, raw tensor or node names
 * @param options `prefix` keeps only modules under it (e.g. `backbone`)
 *
 * @example Usage
 * ```ts ignore
 * import { loadOnnxModel } from "./onnx_model.ts";
 * import { resolveLayers } from "./layers.ts";
 * const g = await loadOnnxModel("fixtures/resnet18_video.onnx");
 * const { layers, unresolved } = resolveLayers(g, ["conv1", "bn1", "layer1"]);
 * console.log(layers.map((l) => [l.name, l.tensor, l.folded]));
 * ```
 */
export function resolveLayers(
  graph: OnnxGraph,
  requests: readonly string[],
  options: { prefix?: string } = {},
): { layers: ResolvedLayer[]; unresolved: UnresolvedLayer[] } {
  const prefix = options.prefix?.replace(/^\.+|\.+$/g, "");
  const allModules = listModules(graph);
  const modules = prefix
    ? allModules.filter((m) => m.path === prefix || m.path.startsWith(prefix + "."))
    : allModules;
  const modulePaths = new Set(allModules.map((m) => m.path));
  const tensorProducer = graph.producerOf;
  const nodeByName = new Map(graph.nodes.map((n) => [n.name, n]));
  const layers: ResolvedLayer[] = [];
  const unresolved: UnresolvedLayer[] = [];
  const used = new Set<string>();

  const findModules = (name: string): ModuleInfo[] => {
    let parts = name.split(".");
    let hits = modules.filter((m) => matchesSuffix(m.path, parts));
    if (hits.length === 0 && parts[0] === "model" && parts.length > 1) {
      parts = parts.slice(1);
      hits = modules.filter((m) => matchesSuffix(m.path, parts));
    }
    if (hits.length === 0) return [];
    const minDepth = Math.min(...hits.map((m) => m.depth));
    return hits.filter((m) => m.depth === minDepth);
  };

  const foldedInto = (m: ModuleInfo): string[] | undefined => {
    const n = m.lastNode;
    if (n.opType !== "Conv" || m.nodeCount !== 1) return undefined;
    const leaf = m.path.split(".").pop()!;
    const partner = bnPartnerOf(leaf);
    if (!partner) return undefined;
    const partnerPath = replaceLeaf(m.path, partner);
    const hasBias = n.inputs.length >= 3 && n.inputs[2] !== "";
    const feedsBn = (graph.consumersOf.get(n.outputs[0]) ?? []).some((c) =>
      graph.nodes[c].opType === "BatchNormalization"
    );
    if (modulePaths.has(partnerPath) || !hasBias || feedsBn) return undefined;
    return [partner];
  };

  const add = (layer: ResolvedLayer) => {
    let name = layer.name;
    for (let k = 2; used.has(name); k++) name = `${layer.name}_${k}`;
    used.add(name);
    layers.push({ ...layer, name });
  };

  // A graph tensor asked for by its own name (or matched by a tensor-name pattern).
  const addTensor = (tensor: string, request: string) => {
    const n = graph.nodes[tensorProducer.get(tensor)!];
    add({
      name: tensor,
      request,
      tensor,
      node: n.name,
      opType: n.opType,
      module: null,
      kind: "tensor",
      notes: [],
    });
  };

  const addModule = (request: string, m: ModuleInfo, name: string, callAsked?: number) => {
    const folded = callAsked === undefined ? foldedInto(m) : undefined;
    const notes: string[] = [];
    const calls = m.callNodes.length;
    const call = callAsked ?? calls - 1;
    const node = m.callNodes[call];
    if (calls > 1) {
      notes.push(
        `module ${m.path} is applied ${calls} times in forward: this is call ${call} ` +
          `(0-based${callAsked === undefined ? ", the last, as a PyTorch forward hook sees" : ""}` +
          `); pick another with ${m.shortName}#k`,
      );
    }
    if (folded) {
      notes.push(
        `BatchNorm ${folded.join(", ")} was folded into this Conv by the exporter: this tensor ` +
          `holds the post-BN values; the raw ${name} output does not exist in the graph`,
      );
    }
    add({
      name,
      request,
      tensor: node.outputs[0],
      node: node.name,
      opType: node.opType,
      module: m.path,
      kind: "module",
      ...(calls > 1 ? { calls, call } : {}),
      ...(folded ? { folded } : {}),
      notes,
    });
  };

  for (const raw of requests) {
    const request = raw.trim();
    if (!request) continue;
    // 1. raw tensor name
    if (tensorProducer.has(request)) {
      addTensor(request, request);
      continue;
    }
    // 2. node name
    const node = nodeByName.get(request);
    if (node && node.outputs.length > 0) {
      add({
        name: request,
        request,
        tensor: node.outputs[0],
        node: node.name,
        opType: node.opType,
        module: null,
        kind: "node",
        notes: [],
      });
      continue;
    }
    // 3. operator selectors: op:Relu (all, in graph order), Relu[-1], Conv[0]
    const sel = parseOpSelector(request, graph);
    if (sel) {
      const of = nodesOfType(graph, sel.opType);
      const pick = (k: number, name: string) => {
        const n = of[k];
        add({
          name,
          request,
          tensor: n.outputs[0],
          node: n.name,
          opType: n.opType,
          module: null,
          kind: "op",
          notes: [],
        });
      };
      if (of.length === 0) {
        unresolved.push({
          request,
          reason: `the graph has no ${sel.opType} node on the data path`,
          candidates: closestNames(sel.opType, graph.nodes.map((n) => n.opType)),
        });
      } else if (sel.index === null) {
        for (let k = 0; k < of.length; k++) pick(k, `${sel.opType}[${k}]`);
      } else {
        const k = sel.index < 0 ? of.length + sel.index : sel.index;
        if (k < 0 || k >= of.length) {
          unresolved.push({
            request,
            reason: `index ${sel.index} is out of range: the graph has ${of.length} ` +
              `${sel.opType} nodes (use ${-of.length}..${of.length - 1})`,
            candidates: [`${sel.opType}[0]`, `${sel.opType}[-1]`],
          });
        } else pick(k, request);
      }
      continue;
    }
    // 4. glob
    if (isGlob(request)) {
      const re = globToRegExp(request);
      if (request.startsWith("/")) {
        const hits = graph.nodes.flatMap((n) => n.outputs.filter((o) => o && re.test(o)));
        if (hits.length === 0) {
          unresolved.push({ request, reason: "no tensor matches this pattern", candidates: [] });
        }
        for (const t of hits) addTensor(t, request);
        continue;
      }
      const hits = modules.filter((m) => re.test(m.path));
      if (hits.length === 0) {
        unresolved.push({
          request,
          reason: "no module matches this pattern",
          candidates: closestNames(
            request.replace(/[*?[\]]/g, ""),
            modules.map((m) => m.shortName),
          ),
        });
      }
      for (const m of hits) addModule(request, m, m.shortName);
      continue;
    }
    // 5. module name / dotted path, optionally with a call: layer1.0.relu#0
    const callMatch = /^(.+)#(-?\d+)$/.exec(request);
    if (callMatch) {
      const found = findModules(callMatch[1]);
      if (found.length === 1) {
        const m = found[0];
        const n = m.callNodes.length;
        const k0 = Number(callMatch[2]);
        const k = k0 < 0 ? n + k0 : k0;
        if (k >= 0 && k < n) addModule(request, m, request, k);
        else {
          unresolved.push({
            request,
            reason: `call ${k0} is out of range: module ${m.path} is applied ${n} time(s) ` +
              `(use #0..#${n - 1})`,
            candidates: [`${callMatch[1]}#0`, `${callMatch[1]}#${n - 1}`],
          });
        }
        continue;
      }
    }
    const hits = findModules(request);
    if (hits.length === 1) {
      addModule(request, hits[0], request);
      continue;
    }
    // the exporter's name of a later call: layer1.0.relu_1 is call 1 of layer1.0.relu
    const suffixed = /^(.+)_(\d+)$/.exec(request);
    if (hits.length === 0 && suffixed && Number(suffixed[2]) >= 1) {
      const base = findModules(suffixed[1]);
      const k = Number(suffixed[2]);
      if (base.length === 1 && k < base[0].callNodes.length) {
        addModule(request, base[0], request, k);
        continue;
      }
    }
    if (hits.length > 1) {
      unresolved.push({
        request,
        reason: `ambiguous: it names ${hits.length} modules; use a dotted path or --prefix`,
        candidates: hits.map((m) => m.path),
      });
      continue;
    }
    // 6. a BatchNorm folded into its Conv
    const leaf = request.split(".").pop()!;
    const convLeaf = convPartnerOf(leaf);
    if (convLeaf) {
      const convHits = findModules(replaceLeaf(request, convLeaf));
      const conv = convHits.length === 1 ? convHits[0] : undefined;
      if (conv && foldedInto(conv)) {
        add({
          name: request,
          request,
          tensor: conv.lastNode.outputs[0],
          node: conv.lastNode.name,
          opType: conv.lastNode.opType,
          module: replaceLeaf(conv.path, leaf),
          kind: "folded_bn",
          aliasOf: conv.path,
          notes: [
            `BatchNorm ${request} was folded into ${conv.shortName} by the exporter: its output ` +
            `is ${conv.shortName}'s output tensor (exactly the BN output)`,
          ],
        });
        continue;
      }
    }
    unresolved.push({
      request,
      reason: "no module, node or tensor has this name",
      candidates: closestNames(request, [
        ...modules.map((m) => m.shortName),
        ...modules.map((m) => m.path),
      ]),
    });
  }
  return { layers, unresolved };
}
