/**
 * Layer-by-layer linear CKA across runs, over the examples axis: every saved frame (record
 * `b * n_timestep + t`) is one example, each layer's activations of a frame flattened to one row,
 * so a layer is a `(B*T) x features` matrix. CKA is the minibatch unbiased-HSIC estimator of
 * `stats/cka.ts` (minibatches of at most `batchSize` examples, merged with `mergeCka`).
 *
 * - {@linkcode ckaMatrix}: every layer of A against every layer of B (Kornblith et al. 2019).
 * - {@linkcode seriesDrift}: per-layer drift over a series of runs (checkpoints): CKA and rel L2
 *   of each run to the previous run and to the last run.
 *
 * @module
 */

import { InspectorError } from "../core/errors.ts";
import type { FeaturesFile } from "../core/run_folder.ts";
import {
  type CkaAccumulator,
  ckaValue,
  emptyCka,
  hsicUnbiased,
  linearGram,
  mergeCka,
} from "../stats/cka.ts";

/** Default minibatch size (examples) of the CKA estimator. */
export const CKA_BATCH_SIZE = 256;

/** The CKA of every layer of A (rows) against every layer of B (columns). */
export interface CkaMatrix {
  /** Path of run A. */
  a: string;
  /** Path of run B. */
  b: string;
  /** Examples (saved frames, B*T) per layer. */
  examples: number;
  /** Minibatches the examples were split into. */
  minibatches: number;
  /** A's layers in network order (rows). */
  rows: string[];
  /** B's layers in network order (columns). */
  cols: string[];
  /** `values[i][j]` = CKA(A.rows[i], B.cols[j]); null when undefined (constant or NaN/Inf). */
  values: (number | null)[][];
  /** Notes (undefined entries). */
  notes: string[];
}

/** Per-layer drift of one run of a series. */
export interface SeriesRow {
  /** Run position in the series (0-based). */
  run: number;
  /** Layer. */
  layer: string;
  /** CKA to the previous run (null for the first run). */
  cka_prev: number | null;
  /** `||X - X_prev|| / ||X_prev||` (null for the first run). */
  rel_l2_prev: number | null;
  /** CKA to the last run. */
  cka_last: number | null;
  /** `||X - X_last|| / ||X_last||`. */
  rel_l2_last: number | null;
}

/** Layers of a series compared run to run. */
export interface SeriesDrift {
  /** Paths of the runs, in series order. */
  runs: string[];
  /** Examples (saved frames) per layer. */
  examples: number;
  /** Layers held by every run (any shape), in the first run's network order. */
  layer_order: string[];
  /** One row per run and layer (run-major). */
  rows: SeriesRow[];
  /** Notes (skipped layers, undefined values). */
  notes: string[];
}

/** Split `n` examples into near-equal minibatches of at most `size` (each at least 4). */
function minibatches(n: number, size: number, what: string): [number, number][] {
  if (n < 4) {
    throw new InspectorError(
      `${what} holds ${n} saved frame(s); CKA over examples needs at least 4 (B*T): ` +
        `inspect more samples or timesteps (--batch_idx / --timesteps)`,
    );
  }
  const count = Math.ceil(n / Math.max(8, size));
  const out: [number, number][] = [];
  for (let i = 0; i < count; i++) {
    out.push([Math.floor((i * n) / count), Math.floor(((i + 1) * n) / count)]);
  }
  return out;
}

/** Zero-diagonal Grams of one layer, one per minibatch, and its self-HSIC per minibatch. */
interface LayerGrams {
  grams: Float64Array[];
  self: number[];
  finite: boolean;
}

function layerGrams(data: Float32Array, n: number, batches: [number, number][]): LayerGrams {
  const d = data.length / n;
  let finite = true;
  for (const v of data) {
    if (!Number.isFinite(v)) {
      finite = false;
      break;
    }
  }
  const grams = batches.map(([s, e]) => linearGram(data.subarray(s * d, e * d), { n: e - s, d }));
  const self = grams.map((k, i) => hsicUnbiased(k, k, batches[i][1] - batches[i][0]));
  return { grams, self, finite };
}

function ckaOf(x: LayerGrams, y: LayerGrams, batches: [number, number][]): number | null {
  if (!x.finite || !y.finite) return null;
  let acc: CkaAccumulator = emptyCka();
  for (let i = 0; i < batches.length; i++) {
    const n = batches[i][1] - batches[i][0];
    const xy = x.grams[i] === y.grams[i] ? x.self[i] : hsicUnbiased(x.grams[i], y.grams[i], n);
    acc = mergeCka(acc, { xy, xx: x.self[i], yy: y.self[i], batches: 1 });
  }
  const v = ckaValue(acc);
  return v === null || !Number.isFinite(v) ? null : v;
}

/** Options of {@linkcode ckaMatrix} and {@linkcode seriesDrift}. */
export interface CkaOptions {
  /** Layers of A (rows) in network order (default all). */
  rowLayers?: readonly string[];
  /** Layers of B (columns) in network order (default all). */
  colLayers?: readonly string[];
  /** Minibatch size of the CKA estimator (default {@linkcode CKA_BATCH_SIZE}, at least 8). */
  batchSize?: number;
  /** Progress messages. */
  onProgress?: (message: string) => void;
}

/**
 * Linear CKA of every layer of run `a` against every layer of run `b` over the examples axis
 * (saved frames). `a` and `b` may be the same file (A against itself; diagonal 1).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { StructuredNpyWriter } from "../core/npy.ts";
 * import { readFeatures } from "../core/run_folder.ts";
 * import { ckaMatrix } from "./cka_matrix.ts";
 * const path = `${Deno.makeTempDirSync()}/features.npy`;
 * const w = await StructuredNpyWriter.create(path, {
 *   shape: [2, 3], fields: [{ name: "l", scalar: "f4", shape: [4] }],
 * });
 * for (let r = 0; r < 6; r++) await w.writeField("l", r, new Float32Array([r, r * r, 1, -r]));
 * await w.commit();
 * using f = await readFeatures(path);
 * const m = await ckaMatrix(f, f);
 * assert.ok(Math.abs(m.values[0][0]! - 1) < 1e-12);
 * ```
 */
export async function ckaMatrix(
  a: FeaturesFile,
  b: FeaturesFile,
  options: CkaOptions = {},
): Promise<CkaMatrix> {
  const n = a.recordCount;
  if (b.recordCount !== n) {
    throw new InspectorError(
      `options.matrix pairs saved frames as examples: A (${a.path}) holds ${n}, B (${b.path}) holds ` +
        `${b.recordCount}; inspect both with the same batch_idx and timestep`,
    );
  }
  const batches = minibatches(n, options.batchSize ?? CKA_BATCH_SIZE, a.path);
  const progress = options.onProgress ?? (() => {});
  const rows = [...(options.rowLayers ?? a.layers)];
  const cols = [...(options.colLayers ?? b.layers)];
  const same = a === b || a.path === b.path;
  const gramsA = new Map<string, LayerGrams>();
  for (const l of rows) {
    progress(`cka matrix: Grams of A ${l}`);
    gramsA.set(l, layerGrams(await a.readAll(l), n, batches));
  }
  const gramsB = new Map<string, LayerGrams>();
  for (const l of cols) {
    const known = same ? gramsA.get(l) : undefined;
    if (known) gramsB.set(l, known);
    else {
      progress(`cka matrix: Grams of B ${l}`);
      gramsB.set(l, layerGrams(await (same ? a : b).readAll(l), n, batches));
    }
  }
  const notes: string[] = [];
  const values = rows.map((r) => cols.map((c) => ckaOf(gramsA.get(r)!, gramsB.get(c)!, batches)));
  for (const [side, g] of [["A", gramsA], ["B", gramsB]] as const) {
    for (const [l, v] of g) {
      if (!v.finite) notes.push(`${side} ${l} holds NaN/Inf: its CKA entries are null`);
      else if (v.self.reduce((s, x) => s + x, 0) <= 0) {
        notes.push(`${side} ${l} is constant over the examples: its CKA entries are null`);
      }
    }
  }
  return {
    a: a.path,
    b: b.path,
    examples: n,
    minibatches: batches.length,
    rows,
    cols,
    values,
    notes: [...new Set(notes)],
  };
}

function relL2(x: Float32Array, ref: Float32Array): number | null {
  let num = 0, den = 0;
  for (let i = 0; i < x.length; i++) {
    const d = x[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  const v = Math.sqrt(num) / Math.sqrt(den);
  return den > 0 && Number.isFinite(v) ? v : null;
}

/**
 * Per-layer drift over a series of runs (e.g. checkpoints): CKA (examples axis) and rel L2 of
 * each run to the previous one and to the last one, for the layers every run holds (others are
 * skipped with a note; rel L2 is null between runs where the layer's shape differs). Every run
 * must hold the same number of saved frames.
 *
 * @example Usage
 * ```ts ignore
 * import { readFeatures } from "../core/run_folder.ts";
 * import { seriesDrift } from "./cka_matrix.ts";
 * const runs = await Promise.all(["e1", "e2", "e3"].map((e) => readFeatures(`${e}/features.npy`)));
 * const drift = await seriesDrift(runs);
 * console.log(drift.rows.filter((r) => r.run === 1));
 * ```
 */
export async function seriesDrift(
  runs: readonly FeaturesFile[],
  options: Pick<CkaOptions, "rowLayers" | "batchSize" | "onProgress"> = {},
): Promise<SeriesDrift> {
  if (runs.length < 2) {
    throw new InspectorError(`a series needs at least 2 runs, got ${runs.length}: pass more files`);
  }
  const n = runs[0].recordCount;
  for (const r of runs) {
    if (r.recordCount !== n) {
      throw new InspectorError(
        `the series pairs saved frames: ${runs[0].path} holds ${n}, ${r.path} holds ` +
          `${r.recordCount}; inspect every run with the same batch_idx and timestep`,
      );
    }
  }
  const batches = minibatches(n, options.batchSize ?? CKA_BATCH_SIZE, runs[0].path);
  const progress = options.onProgress ?? (() => {});
  const notes: string[] = [];
  const layerOrder: string[] = [];
  const rows: SeriesRow[] = [];
  const perLayer = new Map<string, SeriesRow[]>();
  for (const layer of options.rowLayers ?? runs[0].layers) {
    const missing = runs.find((r) => !r.layers.includes(layer));
    if (missing) {
      notes.push(`${layer} skipped: not in ${missing.path}`);
      continue;
    }
    const shapes = runs.map((r) => r.field(layer).shape.join("x"));
    const other = shapes.findIndex((sh) => sh !== shapes[0]);
    if (other > 0) {
      notes.push(
        `${layer}: shape ${shapes[0]} in ${runs[0].path} vs ${shapes[other]} in ` +
          `${runs[other].path}; rel L2 is null between runs of different shapes (CKA still holds)`,
      );
    }
    progress(`series: ${layer}`);
    layerOrder.push(layer);
    const data: Float32Array[] = [];
    for (const r of runs) data.push(await r.readAll(layer));
    const grams = data.map((x) => layerGrams(x, n, batches));
    const last = runs.length - 1;
    perLayer.set(
      layer,
      runs.map((_, i) => ({
        run: i,
        layer,
        cka_prev: i > 0 ? ckaOf(grams[i], grams[i - 1], batches) : null,
        rel_l2_prev: i > 0 && shapes[i] === shapes[i - 1] ? relL2(data[i], data[i - 1]) : null,
        cka_last: ckaOf(grams[i], grams[last], batches),
        rel_l2_last: shapes[i] === shapes[last] ? relL2(data[i], data[last]) : null,
      })),
    );
  }
  if (!layerOrder.length) {
    throw new InspectorError(
      `no layer is held by every run of the series (${notes.join("; ")}): pick runs of one ` +
        `model, or options.layers that all of them hold`,
    );
  }
  for (let i = 0; i < runs.length; i++) {
    for (const l of layerOrder) rows.push(perLayer.get(l)![i]);
  }
  return { runs: runs.map((r) => r.path), examples: n, layer_order: layerOrder, rows, notes };
}

function csvCell(v: number | string | null): string {
  if (v === null) return "";
  if (typeof v === "number") return String(v);
  return /[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

/**
 * The matrix as CSV: header `layer,<B layers...>`, one row per A layer (network order).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { ckaMatrixCsv } from "./cka_matrix.ts";
 * const csv = ckaMatrixCsv({
 *   a: "a.npy", b: "b.npy", examples: 4, minibatches: 1, rows: ["x"], cols: ["y"],
 *   values: [[0.5]], notes: [],
 * });
 * assert.equal(csv, "layer,y\nx,0.5\n");
 * ```
 */
export function ckaMatrixCsv(m: CkaMatrix): string {
  const lines = [["layer", ...m.cols].map(csvCell).join(",")];
  m.rows.forEach((r, i) => lines.push([r, ...m.values[i]].map(csvCell).join(",")));
  return lines.join("\n") + "\n";
}

/**
 * The series as CSV: `run,path,layer,cka_prev,rel_l2_prev,cka_last,rel_l2_last` (empty = null).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { seriesCsv } from "./cka_matrix.ts";
 * const csv = seriesCsv({ runs: ["a.npy"], examples: 4, layer_order: [], rows: [], notes: [] });
 * assert.equal(csv, "run,path,layer,cka_prev,rel_l2_prev,cka_last,rel_l2_last\n");
 * ```
 */
export function seriesCsv(s: SeriesDrift): string {
  const lines = ["run,path,layer,cka_prev,rel_l2_prev,cka_last,rel_l2_last"];
  for (const r of s.rows) {
    lines.push(
      [r.run, s.runs[r.run], r.layer, r.cka_prev, r.rel_l2_prev, r.cka_last, r.rel_l2_last]
        .map(csvCell).join(","),
    );
  }
  return lines.join("\n") + "\n";
}
