/**
 * `compare run1 run2 run3 ...`: per-layer drift over a series of runs (checkpoints). Writes
 * `series.json`, `series.csv` and `series.png` (see {@linkcode seriesDrift} for the numbers).
 *
 * @module
 */

import { InspectorError } from "../core/errors.ts";
import { type FeaturesFile, readFeatures } from "../core/run_folder.ts";
import { OutputSet } from "../core/atomic.ts";
import { claimOutputs } from "../core/run_slot.ts";
import { isGlob, matchesGlob } from "../core/glob.ts";
import { resolve } from "node:path";
import { renderVegaPng } from "../render/vega_png.ts";
import { seriesCsv, type SeriesDrift, seriesDrift } from "./cka_matrix.ts";
import { seriesSpec } from "./cka_charts.ts";

/** Options of {@linkcode compareSeries}. */
export interface SeriesOptions {
  /** Output folder (default `comparison`). */
  saveDir?: string;
  /** Replace a series of other runs in `saveDir`. */
  overwrite?: boolean;
  /** Layers (names or `*` globs; default every layer the runs share). */
  layers?: readonly string[];
  /** Minibatch size (examples) of the CKA estimator (default 256). */
  ckaBatchSize?: number;
  /** Write the files (default true). */
  write?: boolean;
  /** Progress messages. */
  onProgress?: (message: string) => void;
}

/** The series result, as written to `series.json`. */
export interface SeriesComparison extends SeriesDrift {
  /** Display names of the runs (folder or file stem). */
  names: string[];
  /** Files written. */
  files: string[];
}

/**
 * A run argument as the `.npy` path: a run folder means its `features.npy` (else its only
 * `.npy`), a manifest `<stem>.json` the `<stem>.npy` beside it.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { runNpyPath } from "./compare_series.ts";
 * assert.equal(runNpyPath("out/features.json"), "out/features.npy");
 * assert.equal(runNpyPath("out/x.npy"), "out/x.npy");
 * ```
 */
export function runNpyPath(path: string): string {
  if (/\.json$/i.test(path)) return path.replace(/\.json$/i, ".npy");
  let dir = false;
  try {
    dir = Deno.statSync(path).isDirectory;
  } catch {
    // not there: readFeatures names it
  }
  if (!dir) return path;
  const folder = path.replace(/[\\/]+$/, "");
  const npys: string[] = [];
  for (const e of Deno.readDirSync(folder)) {
    if (e.isFile && /\.npy$/i.test(e.name)) npys.push(e.name);
  }
  npys.sort();
  if (npys.includes("features.npy") || npys.length === 0) return `${folder}/features.npy`;
  if (npys.length === 1) return `${folder}/${npys[0]}`;
  throw new InspectorError(
    `run folder ${folder} holds several feature files (${npys.join(", ")}): pass one of them`,
  );
}

function runName(path: string, all: readonly string[]): string {
  const parts = path.split(/[\\/]/).filter((p) => p.length);
  const stem = (parts.pop() ?? path).replace(/\.npy$/i, "");
  const stems = all.map((p) => (p.split(/[\\/]/).pop() ?? p).replace(/\.npy$/i, ""));
  return new Set(stems).size === all.length ? stem : `${parts.pop() ?? "."}/${stem}`;
}

/**
 * Drift of every shared layer over a series of runs (at least 3 for the CLI; 2 work too).
 *
 * @example Usage
 * ```ts ignore
 * import { compareSeries } from "./compare_series.ts";
 * const s = await compareSeries(["e1/features.npy", "e2/features.npy", "e3/features.npy"]);
 * console.log(s.rows.find((r) => r.run === 1 && r.layer === "layer4")?.cka_prev);
 * ```
 */
export async function compareSeries(
  paths: readonly string[],
  options: SeriesOptions = {},
): Promise<SeriesComparison> {
  const npy = paths.map(runNpyPath);
  const saveDir = options.saveDir ?? "comparison";
  if (options.write !== false) {
    await claimOutputs(saveDir, ["series.json"], {
      key: { runs: npy.map((p) => resolve(p)).join("\n") },
      records: () => ["series.json"],
      keyOf: (r) =>
        Array.isArray(r.runs) ? { runs: r.runs.map((p) => resolve(String(p))).join("\n") } : null,
      overwrite: options.overwrite,
      hint: "pass another --save_dir to keep both, or --overwrite to replace it",
    });
  }
  const runs: FeaturesFile[] = [];
  try {
    for (const p of npy) runs.push(await readFeatures(p, { onWarning: options.onProgress }));
    // Network order: the first run's manifest order, then any other fields in file order.
    const fields = runs[0].layers;
    const known = (runs[0].manifest?.layers ?? []).map((l) => l.name).filter((l) =>
      fields.includes(l)
    );
    let layers = [...known, ...fields.filter((l) => !known.includes(l))];
    if (options.layers?.length) {
      const pats = options.layers.flatMap((r) => r.split(",")).map((r) => r.trim()).filter((r) =>
        r.length
      );
      const sel = (p: string, l: string) => isGlob(p) ? matchesGlob(l, p) : l === p;
      for (const p of pats) {
        if (!layers.some((l) => sel(p, l))) {
          throw new InspectorError(
            `--layers '${p}' is not in ${runs[0].path}; it holds: ${layers.join(", ")}`,
          );
        }
      }
      layers = layers.filter((l) => pats.some((p) => sel(p, l)));
    }
    const drift = await seriesDrift(runs, {
      rowLayers: layers,
      batchSize: options.ckaBatchSize,
      onProgress: options.onProgress,
    });
    const names = npy.map((p) => runName(p, npy));
    const out: SeriesComparison = { ...drift, names, files: [] };
    if (options.write === false) return out;
    const files = new Map<string, Uint8Array>();
    files.set("series.csv", new TextEncoder().encode(seriesCsv(drift)));
    options.onProgress?.("rendering series.png");
    files.set("series.png", await renderVegaPng(seriesSpec(drift, { names }), { scale: 2 }));
    out.files = ["series.json", ...files.keys()];
    files.set("series.json", new TextEncoder().encode(JSON.stringify(out, null, 1) + "\n"));
    const set = await OutputSet.open(saveDir);
    try {
      for (const [name, bytes] of files) await set.writeFile(name, bytes);
      await set.commit();
    } catch (err) {
      await set.abort();
      throw err;
    }
    return out;
  } finally {
    for (const r of runs) r.close();
  }
}
