/**
 * `deno task inspect`: extract feature maps from an ONNX video model. See README.md and
 * `--help`.
 *
 * @module
 */

import { intFlag, parseCli, runMain } from "./cli_args.ts";
import { listLayers, runInspect } from "../inspector/run_inspect.ts";
import { InspectorError } from "../core/errors.ts";
import { EP_CHOICES, type EpChoice } from "../inspector/backends.ts";
import type { GpuMode } from "../shaders/reduce.ts";

/** Help text. */
export const INSPECT_HELP =
  `feature-inspector inspect — extract feature maps from an ONNX video model

Usage: deno task inspect [flags]

  --checkpoint PATH     .onnx model (default: bundled fixture ResNet-18 video model)
  --dset PATH|NAME      clips folder or dataset name (default: bundled fixture clips)
  --input [NAME=]PATH   preprocessed batch .npy, e.g. (B,T,3,H,W) float32, instead of --dset;
                        repeat or use NAME=PATH for models with several inputs
  --batch_size N        clips per batch (default 2)
  --max_len N           frames per clip, T (default 8)
  --size N              frame size (default: the model's fixed size, else 512)
  --workers N           parallel frame decoding workers (default 1)
  --save_dir DIR        output folder, created if missing (default out)
  --batch_idx SPEC      sample(s) to save: 0 | 0,1 | 0-3 | all (default 0)
  --timestep SPEC       frame(s) to save: 2 | 0,4 | 0-7 | all (default 0); one forward pass
  --dense_gaze          use every gaze point instead of the dataset's gaze rate
  --layers L [L ...]    module names, dotted paths, globs (layer1.*) or ONNX tensor names
                        (default: conv1 bn1 relu maxpool layer1 layer2 layer3 layer4)
  --prefix SCOPE        only resolve modules under this scope, e.g. backbone
  --layout KIND         override time layout: bt_chw | b_t_chw | b_c_t_hw | b_chw, or LAYER=KIND
  --list_layers         print every tappable module with its tensor and shape, then exit
  --ep EP               ${EP_CHOICES.join(" | ")} (default auto)
  --threads N           CPU threads for wasm/cpu
  --gpu MODE            statistics on the GPU: auto | on | off (default auto)
  --name STEM           output file stem (default features)
  --dtype TYPE          float32 | float16 for the .npy (default float32)
  --grid_channels N     channels per feature grid PNG (default 16; 0 = no PNGs)
  --memory_budget MIB   memory to aim for per forward pass (default 1024); bigger batches are
                        split where the model allows it (2D backbones: by frame)
  --help, --version

Kebab-case aliases work too (--batch-idx, --save-dir, ...).`;

const FLAGS = {
  checkpoint: { type: "string" },
  dset: { type: "string" },
  input: { type: "string", multiple: true },
  batch_size: { type: "string" },
  max_len: { type: "string" },
  size: { type: "string" },
  workers: { type: "string" },
  save_dir: { type: "string" },
  batch_idx: { type: "string" },
  timestep: { type: "string" },
  dense_gaze: { type: "boolean" },
  layers: { type: "string", multiple: true },
  prefix: { type: "string" },
  layout: { type: "string", multiple: true },
  list_layers: { type: "boolean" },
  ep: { type: "string" },
  threads: { type: "string" },
  gpu: { type: "string" },
  name: { type: "string" },
  dtype: { type: "string" },
  grid_channels: { type: "string" },
  memory_budget: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

function oneOf<T extends string>(v: unknown, flag: string, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) {
    throw new InspectorError(`${flag} ${v}: use one of ${allowed.join(", ")}`);
  }
  return v as T;
}

/**
 * Run the inspect command on command-line arguments (without the command name).
 *
 * @example Usage
 * ```ts ignore
 * import { inspectCommand } from "./inspect.ts";
 * await inspectCommand(["--size", "112", "--timestep", "0-3"]);
 * ```
 */
export async function inspectCommand(args: readonly string[]): Promise<void> {
  {
    const { values: v } = parseCli(args, { flags: FLAGS });
    if (v.help) {
      console.log(INSPECT_HELP);
      return;
    }
    if (v.version) {
      const { TOOL } = await import("../core/manifest.ts");
      console.log(`${TOOL.name} ${TOOL.version}`);
      return;
    }
    const opts = {
      checkpoint: v.checkpoint as string | undefined,
      dset: v.dset as string | undefined,
      input: v.input as string[] | undefined,
      batchSize: intFlag(v.batch_size, "--batch_size", { min: 1 }),
      maxLen: intFlag(v.max_len, "--max_len", { min: 1 }),
      size: intFlag(v.size, "--size", { min: 8 }),
      workers: intFlag(v.workers, "--workers", { min: 1 }),
      saveDir: v.save_dir as string | undefined,
      batchIdx: v.batch_idx as string | undefined,
      timestep: v.timestep as string | undefined,
      denseGaze: Boolean(v.dense_gaze),
      layers: v.layers as string[] | undefined,
      prefix: v.prefix as string | undefined,
      layout: v.layout as string[] | undefined,
      ep: oneOf<EpChoice>(v.ep, "--ep", EP_CHOICES),
      threads: intFlag(v.threads, "--threads", { min: 1 }),
      gpu: oneOf<GpuMode>(v.gpu, "--gpu", ["auto", "on", "off"]),
      name: v.name as string | undefined,
      dtype: oneOf<"float32" | "float16">(v.dtype, "--dtype", ["float32", "float16"]),
      gridChannels: intFlag(v.grid_channels, "--grid_channels", { min: 0 }),
      memoryBudgetMiB: intFlag(v.memory_budget, "--memory_budget", { min: 16 }),
      onInfo: (line: string) => console.log(line),
    };
    if (opts.input && opts.dset) {
      throw new InspectorError("give either --input or --dset, not both");
    }
    if (v.list_layers) {
      const rows = await listLayers(opts);
      const w = Math.max(6, ...rows.map((r) => r.name.length));
      const tw = Math.max(6, ...rows.map((r) => r.tensor.length));
      console.log(`${"layer".padEnd(w)}  ${"tensor".padEnd(tw)}  ${"op".padEnd(18)}  shape`);
      for (const r of rows) {
        console.log(
          `${r.name.padEnd(w)}  ${r.tensor.padEnd(tw)}  ${r.opType.padEnd(18)}  [${
            r.dims.join(", ")
          }]${r.note ? `  (${r.note})` : ""}`,
        );
      }
      return;
    }
    await runInspect(opts);
  }
}

if (import.meta.main) await runMain(() => inspectCommand(Deno.args));
