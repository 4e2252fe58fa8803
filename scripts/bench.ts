/**
 * `deno task bench [--json] [--runs N] [--ep cpu,wasm,webgpu] [--size 224] [--big_size 1024]`
 *
 * Compares, in one process on one generated full-width ResNet-18 video model, the bare forward
 * pass of each backend with the tapped forward pass and the whole `inspect`; see the README's
 * performance section for how to read it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { InspectorError } from "../inspector/errors.ts";
import { formatBenchTable, runBench } from "../inspector/benchmark.ts";
import { runMain } from "./cli_args.ts";

const USAGE = `usage: deno task bench [--json] [--runs 5] [--ep cpu,wasm,webgpu] [--size 224]
  [--batch_size 2] [--max_len 8] [--threads N] [--widths 64,128,256,512] [--model file.onnx]
  [--big_size 1024 (0 skips)] [--cap_seconds 60] [--save_json report.json]
  [--no_kernels]`;

function int(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    throw new InspectorError(`--${flag} takes a whole number, not '${v}'`);
  }
  return n;
}

// runMain exits explicitly when done: the bench runs the WASM backend in this process (see
// runMain's note on the crash at V8's teardown).
await runMain(async () => {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      json: { type: "boolean", default: false },
      runs: { type: "string" },
      ep: { type: "string" },
      size: { type: "string" },
      batch_size: { type: "string" },
      max_len: { type: "string" },
      threads: { type: "string" },
      widths: { type: "string" },
      model: { type: "string" },
      big_size: { type: "string" },
      cap_seconds: { type: "string" },
      save_json: { type: "string" },
      no_kernels: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const eps = values.ep?.split(",").map((s) => s.trim()).filter((s) => s);
  for (const e of eps ?? []) {
    if (!["cpu", "wasm", "webgpu"].includes(e)) {
      throw new InspectorError(`--ep ${e}: the bench measures cpu, wasm or webgpu`);
    }
  }
  const report = await runBench({
    runs: int(values.runs, "runs"),
    eps: eps as ("cpu" | "wasm" | "webgpu")[] | undefined,
    size: int(values.size, "size"),
    batchSize: int(values.batch_size, "batch_size"),
    maxLen: int(values.max_len, "max_len"),
    threads: int(values.threads, "threads"),
    widths: values.widths?.split(",").map((w) => int(w, "widths")!),
    model: values.model,
    bigSize: int(values.big_size, "big_size"),
    capSeconds: int(values.cap_seconds, "cap_seconds"),
    kernels: !values.no_kernels,
    onInfo: (line) => console.error(line),
  });
  if (values.save_json) await Deno.writeTextFile(values.save_json, JSON.stringify(report, null, 2));
  console.log(values.json ? JSON.stringify(report, null, 2) : formatBenchTable(report));
});
