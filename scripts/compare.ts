/**
 * `deno task compare A.npy B.npy [--save_dir comparison] [--layers ...] [--tolerance 1e-3]`
 *
 * Compares two feature runs written by `inspect` layer by layer. Thin CLI over
 * `compare/compare.ts`.
 *
 * @module
 */

import {
  compareFeatures,
  type CompareOptions,
  type FrameRef,
  parseFrameRef,
} from "../compare/compare.ts";
import { formatMetric } from "../compare/compare_charts.ts";
import { compareSeries, runNpyPath } from "../compare/compare_series.ts";
import { InspectorError } from "../core/errors.ts";
import { runMain } from "./cli_args.ts";
import {
  commandHelp,
  defineCommand,
  defineGroup,
  type Flag,
  flag,
  type OptionGroup,
  parseCommand,
} from "./options/group.ts";
import { DEFAULT_SAVE_DIRS, reportOutputGroup } from "./options/output.ts";
import { commonGroup } from "./options/common.ts";

/** What compare's own flags parse to: the pairing part of {@linkcode CompareOptions}. */
export type ComparePairOptions = Pick<
  CompareOptions,
  "tolerance" | "aFrame" | "bFrame" | "aName" | "bName" | "matrix"
>;

function frameFlag(help: readonly string[]): Flag<FrameRef | undefined> {
  return flag.custom({
    type: "string",
    metavar: "B,T",
    help,
    parse: (raw, name) => (raw ? parseFrameRef(String(raw), name) : undefined),
  });
}

/**
 * Compare's own group: `--tolerance`, `--a_frame`, `--b_frame`, `--a_name`, `--b_name`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareGroup } from "./compare.ts";
 * assert.equal(compareGroup.parse({ tolerance: "0.01" }).tolerance, 0.01);
 * assert.throws(() => compareGroup.parse({ tolerance: "x" }), /--tolerance 'x' is not a non-negative number/);
 * ```
 */
export const compareGroup: OptionGroup<ComparePairOptions> = defineGroup("compare", {
  tolerance: flag.custom({
    type: "string",
    metavar: "X",
    default: "1e-3",
    help: ["rel_l2 above which a layer diverges (default: {default})"],
    parse: (raw, name) => {
      if (raw === undefined) return undefined;
      const text = String(raw);
      const tolerance = Number(text);
      if (!Number.isFinite(tolerance) || tolerance < 0 || text.trim() === "") {
        throw new InspectorError(
          `${name} '${text}' is not a non-negative number, e.g. ${name} 1e-3`,
        );
      }
      return tolerance;
    },
  }),
  a_frame: frameFlag(["compare only frame (batch B, timestep T) of A"]),
  b_frame: frameFlag([
    "... with frame (B, T) of B (default: same as --a_frame)",
    "B and T are the saved batch_idx/timestep values from the",
    "manifest (<stem>.json); without one, positions in the file.",
    "Two timesteps of one run:",
    "  compare run/features.npy run/features.npy --a_frame 0,0 --b_frame 0,4",
    "One run, --a_frame only: that frame against every saved",
    "timestep of the same sample (per-frame chart over time).",
  ]),
  a_name: flag.string({
    metavar: "NAME",
    help: ["display name of run A (default: model file, backend or folder)"],
  }),
  b_name: flag.string({ metavar: "NAME", help: ["display name of run B"] }),
  matrix: flag.boolean({
    help: [
      "also linear CKA of every layer of A vs every layer of B over",
      "the saved frames (examples): cka_matrix.csv/.png; one run: A vs A",
    ],
  }),
}, (v) => ({
  matrix: v.matrix || undefined,
  tolerance: v.tolerance,
  aFrame: v.a_frame,
  bFrame: v.b_frame,
  aName: v.a_name,
  bName: v.b_name,
}));

/** The compare command: its option groups, from which its parser and help are made. */
export const COMPARE_COMMAND = defineCommand({
  name: "compare",
  header: `Usage: deno task compare A.npy B.npy [options]
       deno task compare A.npy [B.npy] --matrix
       deno task compare run1 run2 run3 ... (series: drift per layer)

Compare two feature runs written by inspect (two checkpoints, two timesteps, two backends)
layer by layer: relative L2 error, cosine, Pearson, linear CKA, max |A-B|, and the first layer
(in network order) whose rel_l2 exceeds the tolerance.`,
  footer:
    `Writes comparison.json, comparison.png, comparison_<layer>.png and, with several frame pairs,
comparison_temporal.png; --matrix adds cka_matrix.csv/.png; three or more runs (folders,
.npy or features.json) write series.json, series.csv and series.png instead.
Exit code 0 also when layers diverge (read first_divergent).`,
  layout: { labelWidth: 27, aliases: true, title: "Options:" },
  // `--layers a b A.npy B.npy`: the layer list stops at the first .npy operand.
  positionals: {
    max: Infinity,
    endOfList: /\.(npy|json)$/i,
    check: (p, values) => {
      if (p.length < 2 && !(p.length === 1 && values.matrix)) {
        throw new InspectorError(
          `compare takes two feature files, got ${p.length}: deno task compare A.npy B.npy, ` +
            `or one with --matrix, or three or more for a series (see --help)`,
        );
      }
      if (p.length > 2 && values.matrix) {
        throw new InspectorError(
          `--matrix takes one or two runs, got ${p.length}: drop --matrix for the ` +
            `series drift, or pass two runs`,
        );
      }
    },
  },
  groups: {
    output: reportOutputGroup({
      saveDir: DEFAULT_SAVE_DIRS.compare,
      saveDirHelp: "output folder (default: {default})",
      layers: {
        metavar: "NAME...",
        default: "every layer of either run",
        help: [
          "layers to compare: names or * globs, several after one flag",
          "or comma-separated (default: {default})",
        ],
      },
    }),
    compare: compareGroup,
    common: commonGroup({ quiet: "print only the summary", helpText: "this help" }),
  },
});

/** Help text. */
export const COMPARE_HELP: string = commandHelp(COMPARE_COMMAND);

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
  const parsed = parseCommand(argv, COMPARE_COMMAND);
  if (parsed.help || parsed.version) {
    console.log(COMPARE_HELP);
    return 0;
  }
  const { positionals, options: { output, compare, common } } = parsed;
  const saveDir = output.saveDir;
  const onProgress = common.quiet ? undefined : (m: string) => console.error(m);
  if (positionals.length === 1 && !compare.matrix) {
    throw new InspectorError(
      `compare takes two feature files, got 1: deno task compare A.npy B.npy, or ` +
        `--matrix for the CKA of A's layers against each other (see --help)`,
    );
  }
  if (positionals.length > 2) {
    if (compare.matrix) {
      throw new InspectorError(
        `--matrix takes one or two runs, got ${positionals.length}: drop --matrix for the ` +
          `series drift, or pass two runs`,
      );
    }
    const s = await compareSeries(positionals, {
      saveDir,
      layers: output.layers?.length ? output.layers : undefined,
      overwrite: output.overwrite,
      onProgress,
    });
    const w = Math.max(5, ...s.layer_order.map((l) => l.length));
    s.names.forEach((n, i) => console.log(`run ${i}: ${n} (${s.runs[i]})`));
    console.log(
      `${"run".padEnd(4)}${"layer".padEnd(w)}  ${
        ["cka_prev", "rel_l2_prev", "cka_last", "rel_l2_last"].map((h) => h.padStart(11)).join(" ")
      }`,
    );
    for (const r of s.rows) {
      console.log(
        `${String(r.run).padEnd(4)}${r.layer.padEnd(w)}  ${
          [r.cka_prev, r.rel_l2_prev, r.cka_last, r.rel_l2_last].map((v) =>
            formatMetric(v).padStart(11)
          ).join(" ")
        }`,
      );
    }
    for (const n of s.notes) console.error(`note: ${n}`);
    console.log(`wrote ${s.files.length} files to ${saveDir}/`);
    return 0;
  }
  const aPath = runNpyPath(positionals[0]);
  const bPath = runNpyPath(positionals[1] ?? positionals[0]);
  const cmp = await compareFeatures(aPath, bPath, {
    saveDir,
    layers: output.layers?.length ? output.layers : undefined,
    overwrite: output.overwrite,
    ...compare,
    onProgress,
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
      for (const n of r.notes) console.error(`${"".padEnd(w)}  note: ${n}`);
    }
  }
  if (cmp.only_in_a.length) console.log(`only in A: ${cmp.only_in_a.join(", ")}`);
  if (cmp.only_in_b.length) console.log(`only in B: ${cmp.only_in_b.join(", ")}`);
  for (const n of cmp.notes) console.error(`note: ${n}`);
  const m = cmp.cka_matrix;
  if (m) {
    const cw = Math.max(10, ...m.cols.map((c) => c.length + 2));
    const rw = Math.max(5, ...m.rows.map((r) => r.length));
    console.log(`linear CKA over ${m.examples} examples (rows A, columns B):`);
    console.log(`${"".padEnd(rw)} ${m.cols.map((c) => c.padStart(cw)).join("")}`);
    m.rows.forEach((r, i) =>
      console.log(
        `${r.padEnd(rw)} ${m.values[i].map((v) => formatMetric(v).padStart(cw)).join("")}`,
      )
    );
    for (const n of m.notes) console.error(`note: ${n}`);
  }
  console.log(
    cmp.first_divergent
      ? `first divergent layer: ${cmp.first_divergent}`
      : `no layer exceeds rel_l2 ${formatMetric(cmp.tolerance)}`,
  );
  console.log(`wrote ${cmp.files.length} files to ${saveDir}/`);
  return 0;
}

if (import.meta.main) await runMain(() => compareCommand(Deno.args));
