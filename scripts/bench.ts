/**
 * `deno task bench [--json] [--runs N] [--ep cpu,wasm,webgpu] [--size 224] [--big_size 1024]
 * [--whole_runs 3] [--no_inspect] [--no_render] [--no_decode] [--no_dataset] [--no_whole]`
 *
 * Compares, in one process on one generated full-width ResNet-18 video model, the bare forward
 * pass of each backend with the tapped forward pass and the whole `inspect`; see the README's
 * performance section for how to read it.
 *
 * @module
 */

import { InspectorError } from "../core/errors.ts";
import { type BenchOptions, formatBenchTable, runBench } from "../bench/inspect_bench.ts";
import { intFlag, runMain } from "./cli_args.ts";
import {
  commandHelp,
  defineCommand,
  defineGroup,
  flag,
  type OptionGroup,
  parseCommand,
} from "./options/group.ts";
import { BENCH_BACKENDS } from "../bench/inspect_bench.ts";
import { benchRender, formatRenderBench } from "../bench/render_bench.ts";
import { benchDecode, formatDecodeBench } from "../bench/decode_bench.ts";
import { benchWhole, formatWholeTable } from "../bench/whole_bench.ts";
import { benchDataset, formatDatasetBench } from "../bench/dataset_bench.ts";
import { type BackendName, orList } from "../inspector/backends.ts";
import { commonGroup } from "./options/common.ts";

/** What the bench flags parse to: {@linkcode BenchOptions} and where the report goes. */
export type BenchFlagOptions =
  & Pick<
    BenchOptions,
    | "runs"
    | "eps"
    | "size"
    | "batchSize"
    | "maxLen"
    | "threads"
    | "widths"
    | "model"
    | "bigSize"
    | "capSeconds"
    | "kernels"
  >
  & {
    /** `--json`: print the report as JSON instead of the table. */
    json: boolean;
    /** `--save_json FILE`: also write the JSON report there. */
    saveJson?: string;
    /** `--no_render`: skip the renderer/encoder section. */
    noRender: boolean;
    /** `--no_decode`: skip the video decoder section. */
    noDecode: boolean;
    /** `--no_inspect`: skip the in-process inspect section (backends, big run, kernels). */
    noInspect: boolean;
    /** `--no_dataset`: skip the dataset-mode section. */
    noDataset: boolean;
    /** `--no_whole`: skip the whole-commands section. */
    noWhole: boolean;
    /** `--whole_runs N`: measured rounds of the whole-commands section. */
    wholeRuns?: number;
    /** `--no_workflow`: skip the all-frames workflow of the whole-commands section. */
    noWorkflow: boolean;
  };

/**
 * The bench's own group.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { benchGroup } from "./bench.ts";
 * const o = benchGroup.parse({ ep: "cpu,wasm", widths: "8,16" });
 * assert.deepEqual(o.eps, ["cpu", "wasm"]);
 * assert.deepEqual(o.widths, [8, 16]);
 * assert.throws(() => benchGroup.parse({ ep: "auto" }), /--ep auto: the bench measures cpu, wasm or webgpu/);
 * ```
 */
export const benchGroup: OptionGroup<BenchFlagOptions> = defineGroup("bench", {
  json: flag.boolean({ help: ["print the report as JSON instead of the table"] }),
  runs: flag.int({
    metavar: "N",
    default: "5",
    help: ["measured runs per figure, after one warm-up (default {default})"],
  }),
  ep: flag.custom({
    type: "string",
    metavar: "EP[,EP]",
    help: [`backends to measure: ${BENCH_BACKENDS.join(",")} (default: every available one)`],
    parse: (raw, name): BackendName[] | undefined => {
      const eps = raw === undefined
        ? undefined
        : String(raw).split(",").map((s) => s.trim()).filter((s) => s);
      return eps?.map((e) => {
        const hit = BENCH_BACKENDS.find((b) => b === e);
        if (!hit) {
          throw new InspectorError(
            `${name} ${e}: the bench measures ${orList(BENCH_BACKENDS)}`,
          );
        }
        return hit;
      });
    },
  }),
  size: flag.int({ metavar: "N", default: "224", help: ["frame size (default {default})"] }),
  batch_size: flag.int({
    metavar: "N",
    default: "2",
    help: ["clips per batch (default {default})"],
  }),
  max_len: flag.int({ metavar: "N", default: "8", help: ["frames per clip (default {default})"] }),
  threads: flag.int({ metavar: "N", help: ["CPU threads (default: all cores)"] }),
  widths: flag.custom({
    type: "string",
    metavar: "W,W,W,W",
    default: "64,128,256,512",
    help: ["ResNet-18 widths of the generated model (default {default})"],
    parse: (raw, name) =>
      raw === undefined ? undefined : String(raw).split(",").map((w) => intFlag(w, name)!),
  }),
  model: flag.string({
    metavar: "FILE.onnx",
    help: ["measure this model instead of generating one"],
  }),
  big_size: flag.int({
    metavar: "N",
    default: "1024",
    help: ["frame size of the peak-memory inspect run (default {default}; 0 skips it)"],
  }),
  cap_seconds: flag.int({
    metavar: "S",
    default: "60",
    help: ["seconds after which a figure takes no more runs (default {default})"],
  }),
  save_json: flag.string({ metavar: "FILE", help: ["also write the JSON report to FILE"] }),
  no_kernels: flag.boolean({ help: ["do not time the reduction kernels"] }),
  no_render: flag.boolean({
    help: ["do not time the feature-grid renderers and PNG encoders side by side"],
  }),
  no_decode: flag.boolean({ help: ["do not time the video decoder (frames/s)"] }),
  no_inspect: flag.boolean({
    help: ["do not run the in-process inspect section (backends, big run, kernels)"],
  }),
  no_dataset: flag.boolean({
    help: ["do not time dataset mode against the bare forward (bench/dataset_bench.ts)"],
  }),
  no_whole: flag.boolean({
    help: ["do not time whole commands against the PyTorch toolkit (bench/whole_bench.ts)"],
  }),
  whole_runs: flag.int({
    metavar: "N",
    default: "3",
    help: ["rounds of the whole-commands section, medians (default {default})"],
  }),
  no_workflow: flag.boolean({
    help: ["whole commands: skip the all-frames workflow (16 toolkit runs a round)"],
  }),
}, (v) => ({
  json: v.json,
  runs: v.runs,
  eps: v.ep,
  size: v.size,
  batchSize: v.batch_size,
  maxLen: v.max_len,
  threads: v.threads,
  widths: v.widths,
  model: v.model,
  bigSize: v.big_size,
  capSeconds: v.cap_seconds,
  saveJson: v.save_json,
  kernels: !v.no_kernels,
  noRender: v.no_render,
  noDecode: v.no_decode,
  noInspect: v.no_inspect,
  noDataset: v.no_dataset,
  noWhole: v.no_whole,
  wholeRuns: v.whole_runs,
  noWorkflow: v.no_workflow,
}));

/** The bench command: its option groups, from which its parser and help are made. */
export const BENCH_COMMAND = defineCommand({
  name: "bench",
  header: "usage: deno task bench [flags]",
  groups: { bench: benchGroup, common: commonGroup() },
});

/** Help text. */
export const BENCH_HELP: string = commandHelp(BENCH_COMMAND);

// runMain exits explicitly when done: the bench runs the WASM backend in this process (see
// runMain's note on the crash at V8's teardown).
if (import.meta.main) {
  await runMain(async () => {
    const parsed = parseCommand(Deno.args, BENCH_COMMAND);
    if (parsed.help || parsed.version) {
      console.log(BENCH_HELP);
      return;
    }
    const {
      json,
      saveJson,
      noRender,
      noDecode,
      noInspect,
      noDataset,
      noWhole,
      wholeRuns,
      noWorkflow,
      ...options
    } = parsed.options.bench;
    const onInfo = (line: string) => console.error(line);
    const inspect = noInspect ? null : await runBench({ ...options, onInfo });
    const render = noRender ? null : await benchRender();
    const decode = noDecode ? null : await benchDecode();
    const dataset = noDataset ? null : await benchDataset();
    const whole = noWhole ? null : await benchWhole({ runs: wholeRuns, noWorkflow, onInfo });
    const report = { ...inspect, render, decode, dataset, whole };
    if (saveJson) await Deno.writeTextFile(saveJson, JSON.stringify(report, null, 2));
    console.log(
      json ? JSON.stringify(report, null, 2) : [
        ...(inspect ? [formatBenchTable(inspect)] : []),
        ...(render
          ? ["", "renderers, side by side (bench/render_bench.ts)", formatRenderBench(render)]
          : []),
        ...(decode ? ["", formatDecodeBench(decode)] : []),
        ...(dataset ? ["", formatDatasetBench(dataset)] : []),
        ...(whole ? ["", formatWholeTable(whole)] : []),
      ].join("\n"),
    );
  });
}
