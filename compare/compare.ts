/**
 * Compare two feature runs layer by layer: two checkpoints, two timesteps of one run, two
 * backends. Reads the structured `.npy` files that `inspect` writes (one layer at a time, one frame
 * at a time), pairs their frames, computes the metrics of `stats/similarity.ts` per frame and over
 * all paired frames, finds the first layer (in network order) that diverges beyond a tolerance,
 * and writes `comparison.json`, `comparison.png`, `comparison_<layer>.png` and, with several
 * frames, `comparison_temporal.png`.
 *
 * Aggregation over frames: `rel_l2`, `cosine`, `pearson`, `max_abs_diff` and `mean_abs_diff` are
 * the metrics of all paired frames concatenated (exact float64 merge); `cka` is the mean of the
 * per-frame CKA values (CKA of concatenated frames would mix frames as samples). Per-frame values
 * are in `per_frame`.
 *
 * @module
 */

import { InspectorError } from "../core/errors.ts";
import { shapeSize } from "../core/npy.ts";
import { type FeaturesFile, readFeatures } from "../core/run_folder.ts";
import { isGlob, matchesGlob } from "../core/glob.ts";
import { OutputSet } from "../core/atomic.ts";
import { claimOutputs } from "../core/run_slot.ts";
import { resolve } from "node:path";
import {
  linearCkaDetailed,
  mergePairMoments,
  type PairMetrics,
  pairMetrics,
  type PairMoments,
  pairMoments,
} from "../stats/similarity.ts";
import { renderComparisonFiles } from "./compare_charts.ts";
import { ckaMatrix, ckaMatrixCsv } from "./cka_matrix.ts";
import { ckaMatrixSpec } from "./cka_charts.ts";
import { renderVegaPng } from "../render/vega_png.ts";
import type {
  Comparability,
  Comparison,
  FramePair,
  FrameRef,
  FrameSide,
  LayerComparison,
  LayerMaps,
  PerFrameMetrics,
  RunInfo,
} from "./_types.ts";

export type {
  Comparability,
  Comparison,
  FramePair,
  FrameRef,
  FrameSide,
  LayerComparison,
  LayerMaps,
  PerFrameMetrics,
  RunInfo,
} from "./_types.ts";

/** Options of {@linkcode compareFeatures}. */
export interface CompareOptions {
  /** Output folder (default `comparison`), created if missing. */
  saveDir?: string;
  /**
   * Replace a comparison of other runs in `saveDir` (default: refuse, naming it; a comparison of
   * the same two files is replaced).
   */
  overwrite?: boolean;
  /** Layers to compare (names or `*` globs); default all layers of either run. */
  layers?: readonly string[];
  /** `rel_l2` above which a layer counts as divergent (default 1e-3). */
  tolerance?: number;
  /** Compare only this frame of A (default: pair frames automatically). */
  aFrame?: FrameRef;
  /**
   * Compare only this frame of B (default: `aFrame`; when A and B are the same file, omitting it
   * compares `aFrame` with every timestep of the same sample).
   */
  bFrame?: FrameRef;
  /** Display name of run A (default from the manifest or the file name). */
  aName?: string;
  /** Display name of run B. */
  bName?: string;
  /**
   * Also compute the linear CKA of every layer of A against every layer of B over the examples
   * axis (saved frames): `cka_matrix` in the result, `cka_matrix.csv` and `cka_matrix.png`.
   */
  matrix?: boolean;
  /** Minibatch size (examples) of the matrix's CKA estimator (default 256). */
  ckaBatchSize?: number;
  /** Write the files (default true); false only computes the comparison object. */
  write?: boolean;
  /** Progress messages (e.g. `console.log`). */
  onProgress?: (message: string) => void;
}

// ---------------------------------------------------------------------------------------------
// Manifest and run info

interface ManifestFacts {
  layers: string[] | null;
  model: string | null;
  sha256: string | null;
  ep: string | null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | null {
  return typeof v === "string" && v.length ? v : null;
}

/** The facts compare needs from a manifest (read by core), tolerating missing parts. */
function manifestFacts(json: unknown): ManifestFacts {
  const m = isRecord(json) ? json : {};
  let layers: string[] | null = null;
  if (Array.isArray(m.layers)) {
    layers = m.layers.map((l) => isRecord(l) ? str(l.name) : str(l)).filter((x): x is string =>
      x !== null
    );
  } else if (isRecord(m.layers)) {
    layers = Object.keys(m.layers);
  }
  const model = isRecord(m.model) ? m.model : {};
  const backend = isRecord(m.backend) ? m.backend : {};
  return {
    layers,
    model: str(model.path) ?? str(m.model),
    sha256: str(model.sha256),
    ep: str(backend.ep) ?? str(backend.executionProvider) ?? str(backend.name),
  };
}

function stemOf(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? path;
  return base.replace(/\.npy$/i, "");
}

function baseName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

function parentName(path: string): string {
  const parts = path.split(/[\\/]/).filter((p) => p.length);
  return parts.length > 1 ? parts[parts.length - 2] : ".";
}

function runInfo(run: FeaturesFile): { info: RunInfo; targeted: boolean } {
  const path = run.path;
  const shape = run.recordShape;
  if (shape.length > 2) {
    throw new InspectorError(
      `${path} has record shape (${shape.join(", ")}); compare expects (n_batch_idx, n_timestep) ` +
        `as written by inspect`,
    );
  }
  const grid = run.grid;
  const f = run.manifest ? manifestFacts(run.manifest) : null;
  const fields = run.layers;
  // Network order: manifest order of the fields it knows, then any others in file order.
  let layers = fields;
  if (f?.layers?.length) {
    const known = f.layers.filter((l) => fields.includes(l));
    layers = [...known, ...fields.filter((l) => !known.includes(l))];
  }
  const targeted = run.targetsFromManifest;
  const info: RunInfo = {
    path,
    name: stemOf(path),
    manifest: run.manifestPath,
    model: f?.model ?? null,
    sha256: f?.sha256 ?? null,
    ep: f?.ep ?? null,
    grid: [grid[0], grid[1]],
    // Positions for both axes unless the manifest labels both.
    batch_idx: targeted ? run.targets.batchIdx : Array.from({ length: grid[0] }, (_, i) => i),
    timestep: targeted ? run.targets.timestep : Array.from({ length: grid[1] }, (_, i) => i),
    layers,
  };
  return { info, targeted };
}

/** Give the two runs distinct, informative names (model, backend, folder, frame). */
function nameRuns(
  a: RunInfo,
  b: RunInfo,
  pairs: FramePair[],
  pairing: Comparison["pairing"],
): void {
  const label = (r: RunInfo) => r.model ? baseName(r.model) : r.name;
  let na = label(a), nb = label(b);
  if (na === nb && a.ep && b.ep && a.ep !== b.ep) {
    na += ` [${a.ep}]`;
    nb += ` [${b.ep}]`;
  }
  if (na === nb && a.sha256 && b.sha256 && a.sha256 !== b.sha256) {
    na += ` @${a.sha256.slice(0, 8)}`;
    nb += ` @${b.sha256.slice(0, 8)}`;
  }
  if (na === nb && a.path !== b.path) {
    const pa = parentName(a.path), pb = parentName(b.path);
    if (pa !== pb) {
      na = `${pa}/${na}`;
      nb = `${pb}/${nb}`;
    } else {
      na = stemOf(a.path);
      nb = stemOf(b.path);
    }
  }
  if (pairing === "explicit") {
    const fa = pairs[0].a, fb = pairs[0].b;
    if (na === nb || fa.batch_idx !== fb.batch_idx || fa.timestep !== fb.timestep) {
      na += ` (b${fa.batch_idx}, t${fa.timestep})`;
      nb += ` (b${fb.batch_idx}, t${fb.timestep})`;
    }
  } else if (pairing === "sweep") {
    const fa = pairs[0].a;
    na += ` (b${fa.batch_idx}, t${fa.timestep})`;
    nb += ` (b${fa.batch_idx}, every t)`;
  }
  if (na === nb) {
    na += " (A)";
    nb += " (B)";
  }
  a.name = na;
  b.name = nb;
}

// ---------------------------------------------------------------------------------------------
// Frame pairing

/**
 * Parse a frame reference `B,T` (e.g. `0,4`).
 *
 * @example Usage
 * ```ts
 * import { parseFrameRef } from "./compare.ts";
 * console.log(parseFrameRef("0,4")); // { batch: 0, timestep: 4 }
 * ```
 */
export function parseFrameRef(text: string, flag = "options.aFrame"): FrameRef {
  const m = /^\s*(\d+)\s*[,:]\s*(\d+)\s*$/.exec(text);
  if (!m) {
    throw new InspectorError(
      `${flag} '${text}' is not a frame: give batch,timestep, e.g. ${flag} 0,4`,
    );
  }
  return { batch: Number(m[1]), timestep: Number(m[2]) };
}

function frameSide(run: RunInfo, ref: FrameRef, which: "A" | "B", targeted: boolean): FrameSide {
  const bi = run.batch_idx.indexOf(ref.batch);
  const ti = run.timestep.indexOf(ref.timestep);
  const how = targeted ? "saved" : "in its record grid (no manifest: positions)";
  if (bi < 0) {
    throw new InspectorError(
      `run ${which} (${run.path}) has no batch index ${ref.batch}; ${how}: ${
        run.batch_idx.join(", ")
      }`,
    );
  }
  if (ti < 0) {
    throw new InspectorError(
      `run ${which} (${run.path}) has no timestep ${ref.timestep}; ${how}: ${
        run.timestep.join(", ")
      }`,
    );
  }
  return { record: bi * run.grid[1] + ti, batch_idx: ref.batch, timestep: ref.timestep };
}

function allSides(run: RunInfo): FrameSide[] {
  const out: FrameSide[] = [];
  for (let b = 0; b < run.grid[0]; b++) {
    for (let t = 0; t < run.grid[1]; t++) {
      out.push({
        record: b * run.grid[1] + t,
        batch_idx: run.batch_idx[b],
        timestep: run.timestep[t],
      });
    }
  }
  return out;
}

function pairFrames(
  a: { info: RunInfo; targeted: boolean },
  b: { info: RunInfo; targeted: boolean },
  options: CompareOptions,
  notes: string[],
): { pairs: FramePair[]; pairing: Comparison["pairing"] } {
  if (options.aFrame && !options.bFrame && a.info.path === b.info.path) {
    // One run, one frame given: how far every timestep of that sample is from it.
    const fa = frameSide(a.info, options.aFrame, "A", a.targeted);
    const pairs = b.info.timestep.map((t) => ({
      a: fa,
      b: frameSide(b.info, { batch: options.aFrame!.batch, timestep: t }, "B", b.targeted),
    }));
    return { pairs, pairing: "sweep" };
  }
  if (options.aFrame || options.bFrame) {
    const ra = options.aFrame ?? options.bFrame!;
    const rb = options.bFrame ?? options.aFrame!;
    return {
      pairs: [{
        a: frameSide(a.info, ra, "A", a.targeted),
        b: frameSide(b.info, rb, "B", b.targeted),
      }],
      pairing: "explicit",
    };
  }
  const sa = allSides(a.info), sb = allSides(b.info);
  const sameGrid = a.info.grid[0] === b.info.grid[0] && a.info.grid[1] === b.info.grid[1];
  if (a.targeted && b.targeted) {
    const key = (s: FrameSide) => `${s.batch_idx},${s.timestep}`;
    const inB = new Map(sb.map((s) => [key(s), s]));
    const shared = sa.filter((s) => inB.has(key(s))).map((s) => ({ a: s, b: inB.get(key(s))! }));
    if (shared.length) {
      if (shared.length < sa.length || shared.length < sb.length) {
        notes.push(
          `compared the ${shared.length} frame(s) both runs saved; A saved ${sa.length}, B ${sb.length}`,
        );
      }
      return { pairs: shared, pairing: "targets" };
    }
    if (sameGrid) {
      notes.push(
        "the runs saved different frames (no shared batch_idx/timestep): paired record by record",
      );
      return { pairs: sa.map((s, i) => ({ a: s, b: sb[i] })), pairing: "records" };
    }
    throw new InspectorError(
      `the runs share no saved frame (A: batch_idx ${a.info.batch_idx.join(",")} timestep ` +
        `${a.info.timestep.join(",")}; B: batch_idx ${b.info.batch_idx.join(",")} timestep ` +
        `${b.info.timestep.join(",")}): choose frames with options.aFrame B,T options.bFrame B,T`,
    );
  }
  if (sameGrid) return { pairs: sa.map((s, i) => ({ a: s, b: sb[i] })), pairing: "records" };
  throw new InspectorError(
    `the runs hold different frame grids (A ${a.info.grid.join("x")}, B ` +
      `${b.info.grid.join("x")}) and no manifests to match them: choose frames with ` +
      `options.aFrame B,T options.bFrame B,T`,
  );
}

// ---------------------------------------------------------------------------------------------
// Layer selection

/**
 * Whether layer `name` is selected by `pattern`: a plain name selects that layer only; a glob
 * matches as in `inspect --layers` (`core/glob.ts`: `layer1.*` is `layer1.0`, `layer1.1`, and
 * also `backbone.layer1.0`, but not `layer1.0.conv1`; `/...` patterns match whole tensor names).
 */
function selects(pattern: string, name: string): boolean {
  return isGlob(pattern) ? matchesGlob(name, pattern) : name === pattern;
}

function selectLayers(
  a: RunInfo,
  b: RunInfo,
  requested: readonly string[] | undefined,
): { common: string[]; onlyA: string[]; onlyB: string[] } {
  const inB = new Set(b.layers), inA = new Set(a.layers);
  let keep: (name: string) => boolean = () => true;
  if (requested?.length) {
    const patterns = requested.flatMap((r) => r.split(",")).map((r) => r.trim()).filter((r) =>
      r.length
    );
    for (const p of patterns) {
      if (!a.layers.some((l) => selects(p, l)) && !b.layers.some((l) => selects(p, l))) {
        const all = [...new Set([...a.layers, ...b.layers])];
        throw new InspectorError(
          `options.layers '${p}' is in neither run; they hold: ${all.join(", ")}`,
        );
      }
    }
    keep = (name) => patterns.some((p) => selects(p, name));
  }
  // Network order: A's order, then B-only layers placed after their predecessor in B.
  const common = a.layers.filter((l) => inB.has(l) && keep(l));
  const onlyA = a.layers.filter((l) => !inB.has(l) && keep(l));
  const onlyB = b.layers.filter((l) => !inA.has(l) && keep(l));
  return { common, onlyA, onlyB };
}

// ---------------------------------------------------------------------------------------------
// Per-layer comparison

function spatialOf(shape: readonly number[]): { channels: number; h: number; w: number } {
  if (shape.length >= 3) {
    return {
      channels: shape[0],
      h: shapeSize(shape.slice(1, shape.length - 1)),
      w: shape[shape.length - 1],
    };
  }
  if (shape.length === 2) return { channels: 1, h: shape[0], w: shape[1] };
  return { channels: shape[0] ?? 1, h: 1, w: 1 };
}

function channelMean(data: Float32Array, c: number, hw: number, out: Float64Array): void {
  for (let ch = 0; ch < c; ch++) {
    const base = ch * hw;
    for (let k = 0; k < hw; k++) out[k] += data[base + k] / c;
  }
}

function shapeText(s: readonly number[]): string {
  return `(${s.join(", ")})`;
}

async function compareLayer(
  name: string,
  index: number,
  ra: FeaturesFile,
  rb: FeaturesFile,
  pairs: FramePair[],
  tolerance: number,
): Promise<{ result: LayerComparison; maps: LayerMaps | null }> {
  const fa = ra.field(name), fb = rb.field(name);
  const sameShape = fa.shape.length === fb.shape.length &&
    fa.shape.every((d, i) => d === fb.shape[i]);
  const ga = spatialOf(fa.shape), gb = spatialOf(fb.shape);
  const sameSpatial = ga.h === gb.h && ga.w === gb.w;
  const positions = ga.h * ga.w;
  const comparable: Comparability = sameShape ? "full" : sameSpatial ? "cka_only" : "none";
  const notes: string[] = [];
  if (comparable === "cka_only") {
    notes.push(
      `shapes differ (A ${shapeText(fa.shape)}, B ${shapeText(fb.shape)}): pointwise metrics ` +
        `are not comparable; CKA compares the ${positions} positions across channel counts`,
    );
  } else if (comparable === "none") {
    notes.push(
      `shapes differ (A ${shapeText(fa.shape)}, B ${shapeText(fb.shape)}) in spatial size: ` +
        `not comparable (CKA needs the same positions)`,
    );
  }
  if (fa.scalar !== fb.scalar) {
    notes.push(`dtypes differ (A ${fa.scalar}, B ${fb.scalar}): both read as float32`);
  }
  const per: PerFrameMetrics = {
    rel_l2: [],
    cosine: [],
    pearson: [],
    cka: [],
    max_abs_diff: [],
    mean_abs_diff: [],
  };
  const moments: PairMoments[] = [];
  const ckaNotes = new Set<string>();
  const drawable = fa.shape.length >= 2;
  const hwA = ga.h * ga.w, hwB = gb.h * gb.w;
  const mapA = new Float64Array(hwA), mapB = new Float64Array(hwB);
  const mapD = sameShape ? new Float64Array(hwA) : null;
  let nonfA = 0, nonfB = 0;
  for (const pair of pairs) {
    const a = await ra.readRecord(name, pair.a.record);
    const b = await rb.readRecord(name, pair.b.record);
    if (drawable) {
      channelMean(a, ga.channels, hwA, mapA);
      channelMean(b, gb.channels, hwB, mapB);
      if (mapD) {
        const c = ga.channels;
        for (let ch = 0; ch < c; ch++) {
          const base = ch * hwA;
          for (let k = 0; k < hwA; k++) mapD[k] += Math.abs(a[base + k] - b[base + k]) / c;
        }
      }
    }
    if (sameShape) {
      const pm = pairMoments(a, b);
      moments.push(pm);
      const m = pairMetrics(pm);
      per.rel_l2.push(m.rel_l2);
      per.cosine.push(m.cosine);
      per.pearson.push(m.pearson);
      per.max_abs_diff.push(m.max_abs_diff);
      per.mean_abs_diff.push(m.mean_abs_diff);
    } else {
      let bad = 0;
      for (const v of a) if (!Number.isFinite(v)) bad++;
      nonfA += bad;
      bad = 0;
      for (const v of b) if (!Number.isFinite(v)) bad++;
      nonfB += bad;
      per.rel_l2.push(null);
      per.cosine.push(null);
      per.pearson.push(null);
      per.max_abs_diff.push(null);
      per.mean_abs_diff.push(null);
    }
    if (sameSpatial && positions > 1) {
      const ck = linearCkaDetailed(a, b, { positions });
      per.cka.push(ck.cka);
      if (ck.note) ckaNotes.add(ck.note);
    } else {
      per.cka.push(null);
      if (sameSpatial) ckaNotes.add("CKA undefined: a single spatial position");
    }
  }
  let metrics: PairMetrics | null = null;
  if (sameShape) {
    metrics = pairMetrics(mergePairMoments(moments));
    notes.push(...metrics.notes);
  }
  notes.push(...ckaNotes);
  const ckas = per.cka.filter((v): v is number => v !== null);
  const cka = ckas.length ? ckas.reduce((s, v) => s + v, 0) / ckas.length : null;
  let exceeds: boolean | null = null;
  if (metrics) {
    if (metrics.nonfinite_mismatch > 0) {
      exceeds = true;
      notes.push(
        `${metrics.nonfinite_mismatch} value(s) are finite in one run and NaN/Inf in the other`,
      );
    } else if (metrics.rel_l2 !== null) {
      exceeds = metrics.rel_l2 > tolerance;
    } else if (metrics.count > 0) {
      // A is all zeros: divergent unless B is (nearly) all zeros too.
      exceeds = (metrics.max_abs_diff ?? 0) > tolerance;
    }
  }
  const n = pairs.length;
  let maps: LayerMaps | null = null;
  if (drawable) {
    const toF32 = (m: Float64Array) => Float32Array.from(m, (v) => v / n);
    const a32 = toF32(mapA), b32 = toF32(mapB);
    if (sameSpatial) {
      let diff: Float32Array, diffKind: LayerMaps["diffKind"];
      if (mapD) {
        diff = toF32(mapD);
        diffKind = "mean_abs_diff";
      } else {
        diff = a32.map((v, i) => Math.abs(v - b32[i]));
        diffKind = "abs_diff_of_means";
      }
      maps = { layer: name, height: ga.h, width: ga.w, a: a32, b: b32, diff, diffKind, bOwn: null };
    } else {
      maps = {
        layer: name,
        height: ga.h,
        width: ga.w,
        a: a32,
        b: null,
        diff: null,
        diffKind: null,
        bOwn: { height: gb.h, width: gb.w, map: b32 },
      };
    }
  }
  const result: LayerComparison = {
    index,
    shape_a: fa.shape,
    shape_b: fb.shape,
    dtype_a: fa.scalar,
    dtype_b: fb.scalar,
    comparable,
    rel_l2: metrics?.rel_l2 ?? null,
    cosine: metrics?.cosine ?? null,
    pearson: metrics?.pearson ?? null,
    cka,
    max_abs_diff: metrics?.max_abs_diff ?? null,
    mean_abs_diff: metrics?.mean_abs_diff ?? null,
    norm_a: metrics?.norm_a ?? null,
    norm_b: metrics?.norm_b ?? null,
    nonfinite_a: metrics?.nonfinite_a ?? nonfA,
    nonfinite_b: metrics?.nonfinite_b ?? nonfB,
    nonfinite_mismatch: metrics?.nonfinite_mismatch ?? 0,
    exceeds_tolerance: exceeds,
    notes,
    per_frame: per,
    image: null,
  };
  return { result, maps };
}

// ---------------------------------------------------------------------------------------------
// Entry point

/**
 * Compare two feature runs (`.npy` files written by `inspect`) layer by layer.
 *
 * Writes `comparison.json`, `comparison.png`, `comparison_<layer>.png` per common layer and
 * `comparison_temporal.png` (several frames) into `options.saveDir` unless `write: false`; every
 * file is written under a temporary name and renamed into place once all of them are ready.
 *
 * @example Usage
 * ```ts ignore
 * import { compareFeatures } from "./compare.ts";
 * const cmp = await compareFeatures("epoch10/features.npy", "epoch50/features.npy", {
 *   saveDir: "comparison",
 *   tolerance: 1e-3,
 * });
 * console.log(cmp.first_divergent, cmp.layers.layer1.rel_l2);
 * ```
 */
export async function compareFeatures(
  aPath: string,
  bPath: string,
  options: CompareOptions = {},
): Promise<Comparison> {
  const tolerance = options.tolerance ?? 1e-3;
  if (!(tolerance >= 0) || !Number.isFinite(tolerance)) {
    throw new InspectorError(
      `options.tolerance ${tolerance} is not a non-negative number, e.g. 1e-3`,
    );
  }
  const progress = options.onProgress ?? (() => {});
  if (options.write !== false) {
    await claimOutputs(options.saveDir ?? "comparison", ["comparison.json"], {
      key: { a: resolve(aPath), b: resolve(bPath) },
      records: () => ["comparison.json"],
      keyOf: (r) => {
        const path = (side: unknown): string =>
          resolve(String((side as { path?: unknown } | null)?.path ?? ""));
        return { a: path(r.a), b: path(r.b) };
      },
      overwrite: options.overwrite,
      hint: "pass another options.saveDir to keep both, or options.overwrite to replace it",
    });
  }
  // A broken manifest is ignored with a warning (core/manifest.ts): to onProgress, else stderr.
  using ra = await readFeatures(aPath, { onWarning: options.onProgress });
  using rb = await readFeatures(bPath, { onWarning: options.onProgress });
  const a = runInfo(ra);
  const b = runInfo(rb);
  const { common, onlyA, onlyB } = selectLayers(a.info, b.info, options.layers);
  if (!common.length) {
    throw new InspectorError(
      `no common layers to compare: A holds ${a.info.layers.join(", ")}; B holds ` +
        `${b.info.layers.join(", ")}`,
    );
  }
  const notes: string[] = [];
  const { pairs, pairing } = pairFrames(a, b, options, notes);
  nameRuns(a.info, b.info, pairs, pairing);
  if (options.aName) a.info.name = options.aName;
  if (options.bName) b.info.name = options.bName;
  if (aPath === bPath && (pairing === "records" || pairing === "targets")) {
    notes.push("A and B are the same file: pick two frames with --a_frame B,T --b_frame B,T");
  }
  const layers: Record<string, LayerComparison> = {};
  const maps = new Map<string, LayerMaps>();
  for (const [i, name] of common.entries()) {
    progress(`comparing ${name} (${pairs.length} frame pair${pairs.length > 1 ? "s" : ""})`);
    const { result, maps: m } = await compareLayer(name, i, ra, rb, pairs, tolerance);
    layers[name] = result;
    if (m) maps.set(name, m);
  }
  const first = common.find((l) => layers[l].exceeds_tolerance === true) ?? null;
  const cmp: Comparison = {
    a: a.info,
    b: b.info,
    tolerance,
    pairing,
    frames: pairs,
    layer_order: common,
    layers,
    only_in_a: onlyA,
    only_in_b: onlyB,
    first_divergent: first,
    notes,
    files: [],
  };
  if (options.matrix) {
    const keep = (l: string) =>
      !options.layers?.length || common.includes(l) ||
      onlyA.includes(l) || onlyB.includes(l);
    cmp.cka_matrix = await ckaMatrix(ra, aPath === bPath ? ra : rb, {
      rowLayers: a.info.layers.filter(keep),
      colLayers: b.info.layers.filter(keep),
      batchSize: options.ckaBatchSize,
      onProgress: progress,
    });
  }
  if (options.write === false) return cmp;
  const saveDir = options.saveDir ?? "comparison";
  const files = await renderComparisonFiles(cmp, maps, { onProgress: progress });
  if (cmp.cka_matrix) {
    files.set("cka_matrix.csv", new TextEncoder().encode(ckaMatrixCsv(cmp.cka_matrix)));
    progress("rendering cka_matrix.png");
    files.set(
      "cka_matrix.png",
      await renderVegaPng(
        ckaMatrixSpec(cmp.cka_matrix, { aName: a.info.name, bName: b.info.name }),
        {
          scale: 2,
        },
      ),
    );
  }
  cmp.files = ["comparison.json", ...files.keys()];
  files.set("comparison.json", new TextEncoder().encode(readableJson(cmp) + "\n"));
  const out = await OutputSet.open(saveDir);
  try {
    for (const [name, bytes] of files) await out.writeFile(name, bytes);
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
  return cmp;
}

/** JSON with two-space indents where small arrays and objects stay on one line. */
function readableJson(value: unknown, indent = ""): string {
  const flat = JSON.stringify(value);
  if (flat === undefined) return "null";
  if (typeof value !== "object" || value === null || flat.length + indent.length <= 96) return flat;
  const inner = indent + "  ";
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v !== "object" || v === null)) {
      // Long list of numbers: wrap at ~100 columns.
      const lines: string[] = [];
      let line = "";
      for (const v of value.map((x) => JSON.stringify(x) ?? "null")) {
        if (line && inner.length + line.length + v.length + 2 > 100) {
          lines.push(line);
          line = "";
        }
        line += (line ? ", " : "") + v;
      }
      if (line) lines.push(line);
      return `[\n${lines.map((l) => inner + l).join(",\n")}\n${indent}]`;
    }
    return `[\n${value.map((v) => inner + readableJson(v, inner)).join(",\n")}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) =>
    v !== undefined
  );
  return `{\n${
    entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${readableJson(v, inner)}`).join(",\n")
  }\n${indent}}`;
}
