/**
 * `deno task inspect`: extract feature maps from an ONNX video model. See README.md and
 * `--help`.
 *
 * @module
 */

import { printLine, runMain } from "./cli_args.ts";
import { InspectorError } from "../core/errors.ts";
import { profileAdd } from "../core/profile.ts";
import { type InspectOptions, listLayers, runInspect } from "../inspector/run_inspect.ts";
import { commandHelp, defineCommand, parseCommand } from "./options/group.ts";
import { modelGroup } from "./options/model.ts";
import { inputGroup } from "./options/input.ts";
import { runtimeGroup } from "./options/runtime.ts";
import { outputGroup } from "./options/output.ts";
import { commonGroup } from "./options/common.ts";
import { datasetGroup } from "./options/dataset.ts";
import { type DatasetProgress, runDataset } from "../inspector/dataset_run.ts";

/** The inspect command: its option groups, from which its parser and help are made. */
export const INSPECT_COMMAND = defineCommand({
  name: "inspect",
  header: `feature-inspector inspect — extract feature maps from an ONNX video model

Usage: deno task inspect [flags]`,
  footer: "Kebab-case aliases work too (--batch-idx, --save-dir, ...).",
  groups: {
    model: modelGroup,
    input: inputGroup,
    runtime: runtimeGroup,
    output: outputGroup,
    dataset: datasetGroup,
    common: commonGroup({ version: true }),
  },
});

/** Help text. */
export const INSPECT_HELP: string = commandHelp(INSPECT_COMMAND);

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
    const parsed = parseCommand(args, INSPECT_COMMAND);
    if (parsed.help) {
      console.log(INSPECT_HELP);
      return;
    }
    if (parsed.version) {
      const { TOOL } = await import("../core/manifest.ts");
      console.log(`${TOOL.name} ${TOOL.version}`);
      return;
    }
    const { model: { listLayers: list, ...model }, input, runtime, output, dataset } =
      parsed.options;
    const opts: InspectOptions = {
      ...model,
      ...input,
      ...runtime,
      ...output,
      onInfo: printLine,
    };
    if (list) {
      const rows = await listLayers(opts);
      const w = Math.max(6, ...rows.map((r) => r.name.length));
      const tw = Math.max(6, ...rows.map((r) => r.tensor.length));
      const line = (r: (typeof rows)[number]): string =>
        `${r.name.padEnd(w)}  ${r.tensor.padEnd(tw)}  ${r.opType.padEnd(18)}  [${
          r.dims.join(", ")
        }]${r.select && !r.module ? `  ${r.select}` : ""}${r.note ? `  (${r.note})` : ""}`;
      const scoped = rows.filter((r) => r.module);
      const unscoped = rows.filter((r) => !r.module);
      console.log(`${"layer".padEnd(w)}  ${"tensor".padEnd(tw)}  ${"op".padEnd(18)}  shape`);
      for (const r of scoped) console.log(line(r));
      if (scoped.length && unscoped.length) {
        console.log(`unscoped tensors (--layers NAME or its Op[k] selector):`);
      }
      for (const r of unscoped) console.log(line(r));
      return;
    }
    if (dataset.allClips) {
      const r = await runDataset({
        ...opts,
        shard: dataset.shard,
        resume: dataset.resume,
        onProgress: progressPrinter(),
      });
      printLine(`dataset statistics: ${r.stats}`);
      if (r.frames) printLine(`saved frames: ${r.frames} (deno task analyze ${r.frames})`);
      return;
    }
    if (dataset.shard !== undefined || dataset.resume) {
      throw new InspectorError("--shard and --resume work with --all_clips: add --all_clips");
    }
    const r = await runInspect(opts);
    // Phase durations for FEATURE_INSPECTOR_PROFILE (core/profile.ts), as the manifest has them.
    for (const [k, v] of Object.entries(r.timings)) profileAdd(`inspect.${k}`, v);
  }
}

/** A progress bar on a terminal, a plain line per batch otherwise. */
function progressPrinter(): (p: DatasetProgress) => void {
  const tty = Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  return (p) => {
    const eta = Number.isFinite(p.etaSeconds) ? `${Math.round(p.etaSeconds)} s` : "?";
    const text = `${p.done}/${p.total} clips, ${p.clipsPerSecond.toFixed(1)} clips/s, ETA ${eta}`;
    if (!tty) {
      console.error(`progress: ${text}`);
      return;
    }
    const width = 30, full = Math.round((width * p.done) / Math.max(p.total, 1));
    const bar = `[${"#".repeat(full)}${".".repeat(width - full)}]`;
    Deno.stderr.writeSync(enc.encode(`\r${bar} ${text}${p.done >= p.total ? "\n" : ""}`));
  };
}

if (import.meta.main) await runMain(() => inspectCommand(Deno.args));
