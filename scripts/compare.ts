/**
 * `deno task compare A.npy B.npy [--save_dir comparison] [--layers ...] [--tolerance 1e-3]`
 *
 * Compares two feature runs written by `inspect` layer by layer. Thin CLI over
 * `compare/compare.ts`.
 *
 * @module
 */

import { compareFeatures, type FrameRef, parseFrameRef } from "../compare/compare.ts";
import { formatMetric } from "../compare/compare_charts.ts";
import { InspectorError } from "../core/errors.ts";
import { parseCli, runMain } from "./cli_args.ts";

/** Help text. */
export const COMPARE_HELP = `Usage: deno task compare A.npy B.npy [options]

Compare two feature runs written by inspect (two checkpoints, two timesteps, two backends)
layer by layer: relative L2 error, cosine, Pearson, linear CKA, max |A-B|, and the first layer
(in network order) whose rel_l2 exceeds the tolerance.

Options:
  --save_dir, --save-dir DIR   output folder (default: comparison)
  --layers NAME...             layers to compare: names or * globs, several after one flag
                               or comma-separated (default: every layer of either run)
  --tolerance X                rel_l2 above which a layer diverges (default: 1e-3)
  --a_frame, --a-frame B,T     compare only frame (batch B, timestep T) of A
  --b_frame, --b-frame B,T     ... with frame (B, T) of B (default: same as --a_frame)
                               B and T are the saved batch_idx/timestep values from the
                               manifest (<stem>.json); without one, positions in the file.
                               Two timesteps of one run:
                                 compare run/features.npy run/features.npy --a_frame 0,0 --b_frame 0,4
                               One run, --a_frame only: that frame against every saved
                               timestep of the same sample (per-frame chart over time).
  --a_name, --a-name NAME      display name of run A (default: model file, backend or folder)
  --b_name, --b-name NAME      display name of run B
  --quiet                      print only the summary
  -h, --help                   this help

Writes comparison.json, comparison.png, comparison_<layer>.png and, with several frame pairs,
comparison_temporal.png. Exit code 0 also when layers diverge (read first_divergent).`;

const FLAGS = {
  save_dir: { type: "string" },
  tolerance: { type: "string" },
  a_frame: { type: "string" },
  b_frame: { type: "string" },
  a_name: { type: "string" },
  b_name: { type: "string" },
  layers: { type: "string", multiple: true },
  quiet: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Run the compare command on command-line arguments (without the command name).
 *
 * @example Usage
 * ```ts ignore
 * import { compareCommand } from "./compare.ts";
 * await compareCommand(["runA/features.npy", "runB/features.npy", "--save_dir", "comparison"]);
 * ```
 */
export async function compareCommand(argv: readonly string[]): Promise<void> {
  await main([...argv]);
}

async function main(argv: string[]): Promise<number> {
  // `--layers a b A.npy B.npy`: the layer list stops at the first .npy operand.
  const { values: v, positionals } = parseCli(argv, {
    flags: FLAGS,
    positionals: Infinity,
    endOfList: /\.npy$/i,
  });
  const values = v as {
    save_dir?: string;
    tolerance?: string;
    a_frame?: string;
    b_frame?: string;
    a_name?: string;
    b_name?: string;
    layers?: string[];
    quiet?: boolean;
    help?: boolean;
  };
  const layers = values.layers ?? [];

  if (values.help) {
    console.log(COMPARE_HELP);
    return 0;
  }
  if (positionals.length !== 2) {
    throw new InspectorError(
      `compare takes two feature files, got ${positionals.length}: ` +
        `deno task compare A.npy B.npy (see --help)`,
    );
  }
  let tolerance: number | undefined;
  if (values.tolerance !== undefined) {
    tolerance = Number(values.tolerance);
    if (!Number.isFinite(tolerance) || tolerance < 0 || values.tolerance.trim() === "") {
      throw new InspectorError(
        `--tolerance '${values.tolerance}' is not a non-negative number, e.g. --tolerance 1e-3`,
      );
    }
  }
  const aText = values.a_frame;
  const bText = values.b_frame;
  const aFrame: FrameRef | undefined = aText ? parseFrameRef(aText, "--a_frame") : undefined;
  const bFrame: FrameRef | undefined = bText ? parseFrameRef(bText, "--b_frame") : undefined;
  const saveDir = values.save_dir ?? "comparison";
  const quiet = values.quiet ?? false;
  const cmp = await compareFeatures(positionals[0], positionals[1], {
    saveDir,
    layers: layers.length ? layers : undefined,
    tolerance,
    aFrame,
    bFrame,
    aName: values.a_name,
    bName: values.b_name,
    onProgress: quiet ? undefined : (m) => console.log(m),
  });
  console.log(
    `A: ${cmp.a.name} (${cmp.a.path})\nB: ${cmp.b.name} (${cmp.b.path})\n` +
      `${cmp.frames.length} frame pair(s), paired by ${cmp.pairing}; tolerance ${
        formatMetric(cmp.tolerance)
      }`,
  );
  const w = Math.max(5, ...cmp.layer_order.map((l) => l.length));
  console.log(
    `${"layer".padEnd(w)}  ${
      ["rel_l2", "cosine", "pearson", "cka", "max_abs"].map((h) => h.padStart(10)).join(" ")
    }`,
  );
  for (const l of cmp.layer_order) {
    const r = cmp.layers[l];
    const mark = cmp.first_divergent === l
      ? "  <- first divergent"
      : r.exceeds_tolerance
      ? "  *"
      : "";
    console.log(
      `${l.padEnd(w)}  ${
        [r.rel_l2, r.cosine, r.pearson, r.cka, r.max_abs_diff].map((v) =>
          formatMetric(v).padStart(10)
        )
          .join(" ")
      }${mark}`,
    );
    if (r.comparable !== "full" || r.nonfinite_a || r.nonfinite_b) {
      for (const n of r.notes) console.log(`${"".padEnd(w)}  note: ${n}`);
    }
  }
  if (cmp.only_in_a.length) console.log(`only in A: ${cmp.only_in_a.join(", ")}`);
  if (cmp.only_in_b.length) console.log(`only in B: ${cmp.only_in_b.join(", ")}`);
  for (const n of cmp.notes) console.log(`note: ${n}`);
  console.log(
    cmp.first_divergent
      ? `first divergent layer: ${cmp.first_divergent}`
      : `no layer exceeds rel_l2 ${formatMetric(cmp.tolerance)}`,
  );
  console.log(`wrote ${cmp.files.length} files to ${saveDir}/`);
  return 0;
}

if (import.meta.main) await runMain(() => compareCommand(Deno.args));
