/**
 * The manifest written beside the features `.npy` (`<name>.json`): what was run, on what, how,
 * and the statistics of every layer. Its shape is part of the contract (DESIGN.md, "Outputs").
 *
 * @module
 */

import { specialFileKind } from "./regular_file.ts";

/** Version of the manifest format; bump on incompatible changes. */
export const MANIFEST_FORMAT_VERSION = 1;

/** Tool name and version written into manifests. */
export const TOOL = { name: "feature-inspector", version: "0.1.0" } as const;

/**
 * Summary statistics as written to the manifest (no `count`, non-finite numbers as null); the
 * conversion is `stats/manifest_summary.ts`, driven by `stats/descriptors.ts`.
 */
export interface ManifestSummary {
  /** Mean of the finite values. */
  mean: number | null;
  /** Population standard deviation of the finite values. */
  std: number | null;
  /** Minimum finite value. */
  min: number | null;
  /** Maximum finite value. */
  max: number | null;
  /** Fraction of exact zeros. */
  sparsity: number;
  /** Count of NaN/Inf values. */
  nonfinite: number;
}

/** Per-channel statistics as written to the manifest. */
export interface ManifestChannels {
  /** Mean per channel. */
  mean: (number | null)[];
  /** Standard deviation per channel. */
  std: (number | null)[];
  /** Maximum per channel. */
  max: (number | null)[];
  /** Fraction of exact zeros per channel. */
  sparsity: number[];
}

/** One layer's entry. */
export interface ManifestLayer {
  /** Field name in the `.npy`. */
  name: string;
  /** What the user asked for. */
  request: string;
  /** Tapped ONNX tensor. */
  tensor: string;
  /** Producing node. */
  node: string;
  /** Producing operator. */
  op_type: string;
  /** Dotted module path, or null for raw tensors. */
  module: string | null;
  /** How the name resolved (`module`, `tensor`, `node`, `folded_bn`). */
  resolved_as: string;
  /** Layout label, e.g. `(B*T, C, H, W)`. */
  layout: string;
  /** Layout kind, e.g. `bt_chw`. */
  layout_kind: string;
  /** Why this layout was chosen. */
  layout_evidence: string;
  /** Whole tensor shape. */
  tensor_shape: number[];
  /** Per-frame shape (the field's sub-array shape). */
  shape: number[];
  /** Input frame t -> the tensor's time index. */
  time_map: number[];
  /** BatchNorm modules folded into this Conv. */
  folded?: string[];
  /** For a folded BatchNorm: the module carrying its values. */
  alias_of?: string;
  /** A module applied several times in `forward`: how many calls the graph has. */
  calls?: number;
  /** The call tapped (0-based; the last unless `name#k` asked for another). */
  call?: number;
  /** Notes for people. */
  notes: string[];
  /** Position of the producing node in the graph's topological order. */
  node_index: number;
  /** Summary over the saved frames. */
  stats: ManifestSummary;
  /** Per-channel statistics over the saved frames. */
  channels: ManifestChannels;
  /** Summary of every (batch, frame) of the whole batch, indexed `[b][t]`. */
  per_frame: ManifestSummary[][];
}

/** The whole manifest. */
export interface Manifest {
  /** Always `"feature-inspector/manifest"`. */
  format: string;
  /** {@linkcode MANIFEST_FORMAT_VERSION}. */
  format_version: number;
  /** Tool name and version. */
  tool: { name: string; version: string };
  /** ISO time of the run. */
  created: string;
  /** The model. */
  model: {
    path: string;
    sha256: string;
    producer: string;
    opset: number;
    inputs: { name: string; dims: (number | string)[] | null; elem_type: string }[];
    outputs: string[];
  };
  /** What went in. */
  data: Record<string, unknown>;
  /** Backend the forward pass ran on. */
  backend: Record<string, unknown>;
  /** Where the reductions ran. */
  reductions: Record<string, unknown>;
  /** Milliseconds per phase. */
  timings_ms: Record<string, number>;
  /** The saved (batch, frame) targets. */
  targets: { batch_idx: number[]; timestep: number[] };
  /** The `.npy` file. */
  npy: { file: string; dtype: string; shape: number[]; fields: string[] };
  /** Per layer, in network (topological) order. */
  layers: ManifestLayer[];
  /** Names that resolved to nothing, with candidates. */
  unresolved: { request: string; reason: string; candidates: string[] }[];
  /** Warnings (non-finite values, ...). */
  warnings: string[];
  /** Other files written. */
  files: string[];
}

/** Everything of a {@linkcode Manifest} but what {@linkcode buildManifest} fills in. */
export type ManifestParts = Omit<Manifest, "format" | "format_version" | "tool" | "created">;

/**
 * The manifest of a run: `parts` with the format, its version, the tool and the time.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildManifest, MANIFEST_FORMAT_VERSION } from "./manifest.ts";
 * const m = buildManifest({
 *   model: { path: "m.onnx", sha256: "0", producer: "", opset: 17, inputs: [], outputs: [] },
 *   data: {}, backend: {}, reductions: {}, timings_ms: {},
 *   targets: { batch_idx: [0], timestep: [0] },
 *   npy: { file: "features.npy", dtype: "float32", shape: [1, 1], fields: [] },
 *   layers: [], unresolved: [], warnings: [], files: [],
 * }, { created: new Date(0) });
 * assert.equal(m.format, "feature-inspector/manifest");
 * assert.equal(m.format_version, MANIFEST_FORMAT_VERSION);
 * assert.equal(m.created, "1970-01-01T00:00:00.000Z");
 * ```
 */
export function buildManifest(parts: ManifestParts, options: { created?: Date } = {}): Manifest {
  return {
    format: "feature-inspector/manifest",
    format_version: MANIFEST_FORMAT_VERSION,
    tool: { ...TOOL },
    created: (options.created ?? new Date()).toISOString(),
    ...parts,
  };
}

/** Options of {@linkcode readManifest}. */
export interface ReadManifestOptions {
  /** Where the one-line warning about a broken manifest goes (default `console.warn`). */
  onWarning?: (message: string) => void;
}

/**
 * Read a manifest written by `inspect`. The one behaviour of every reader of runs
 * (`readFeatures`, and so `analyze` and `compare`), since the `.npy` alone is a complete run:
 *
 * - **missing** file: `null`, silently;
 * - **broken** file (unreadable, not JSON, or JSON that is not an object): `null` and one warning,
 *   `ignoring manifest <path>: <why>; fix or delete it`, through `options.onWarning`; the run is
 *   then read as a `.npy` alone (positions instead of saved batch indices and timesteps);
 * - **foreign** file (a JSON object that is not, or not wholly, an inspect manifest): returned as
 *   it is. Readers check every field they use and treat a missing or ill-typed one as absent.
 *
 * (Before, `analyze` warned and went on, `compare` stopped with an error and this function
 * returned `null` silently; no test asserted either.)
 *
 * @example Usage
 * ```ts
 * import { readManifest } from "./manifest.ts";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * assert.equal(await readManifest(`${dir}/features.json`), null); // missing
 * await Deno.writeTextFile(`${dir}/features.json`, "{ not json");
 * const warnings: string[] = [];
 * assert.equal(await readManifest(`${dir}/features.json`, { onWarning: (m) => warnings.push(m) }), null);
 * assert.match(warnings[0], /^ignoring manifest .*features\.json: not valid JSON/);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readManifest(
  path: string,
  options: ReadManifestOptions = {},
): Promise<Manifest | null> {
  const warn = options.onWarning ?? ((m: string) => console.warn(m));
  const firstLine = (err: unknown): string => String((err as Error)?.message ?? err).split("\n")[0];
  let text: string;
  try {
    const kind = specialFileKind(await Deno.stat(path)); // a FIFO would block the read
    if (kind !== null) {
      warn(
        `ignoring manifest ${path}: it is not a regular file (${kind}); replace it with the ` +
          `.json inspect wrote or delete it`,
      );
      return null;
    }
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    warn(`ignoring manifest ${path}: cannot read it (${firstLine(err)}); fix or delete it`);
    return null;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    warn(`ignoring manifest ${path}: not valid JSON (${firstLine(err)}); fix or delete it`);
    return null;
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    warn(`ignoring manifest ${path}: not a JSON object; fix or delete it`);
    return null;
  }
  return json as Manifest;
}
