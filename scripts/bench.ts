/**
 * `deno task bench [--json] [--runs N] [--ep cpu,wasm,webgpu] [--size 224] [--big_size 1024]`
 *
 * Compares, in one process on one generated full-width ResNet-18 video model, the bare forward
 * pass of each backend with the tapped forward pass and the whole `inspect`; see the README's
 * performance section for how to read it.
 *
 * @module
 */

import { InspectorError } from "../core/errors.ts";
import { BENCH_BACKENDS, formatBenchTable, runBench } from "../bench/inspect_bench.ts";
import { intFlag, parseCli, runMain } from "./cli_args.ts";
import { isBackendName, orList } from "../inspector/backends.ts";

const USAGE = `usage: deno task bench [--json] [--runs 5] [--ep ${
  BENCH_BACKENDS.join(",")
}] [--size 224]
  [--batch_size 2] [--max_len 8] [--threads N] [--widths 64,128,256,512] [--model file.onnx]
  [--big_size 1024 (0 skips)] [--cap_seconds 60] [--save_json report.json]
  [--no_kernels]`;

const FLAGS = {
  json: { type: "boolean" },
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
  no_kernels: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

// runMain exits explicitly when done: the bench runs the WASM backend in this process (see
// runMain's note on the crash at V8's teardown).
await runMain(async () => {
  const { values } = parseCli(Deno.args, { flags: FLAGS });
  const str = (k: keyof typeof FLAGS) => values[k] as string | undefined;
  const int = (k: keyof typeof FLAGS) => intFlag(values[k], `--${k}`);
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const eps = str("ep")?.split(",").map((s) => s.trim()).filter((s) => s);
  for (const e of eps ?? []) {
    if (!isBackendName(e)) {
      throw new InspectorError(`--ep ${e}: the bench measures ${orList(BENCH_BACKENDS)}`);
    }
  }
  const report = await runBench({
    runs: int("runs"),
    eps: eps?.filter(isBackendName),
    size: int("size"),
    batchSize: int("batch_size"),
    maxLen: int("max_len"),
    threads: int("threads"),
    widths: str("widths")?.split(",").map((w) => intFlag(w, "--widths")!),
    model: str("model"),
    bigSize: int("big_size"),
    capSeconds: int("cap_seconds"),
    kernels: !values.no_kernels,
    onInfo: (line) => console.error(line),
  });
  const saveJson = str("save_json");
  if (saveJson) await Deno.writeTextFile(saveJson, JSON.stringify(report, null, 2));
  console.log(values.json ? JSON.stringify(report, null, 2) : formatBenchTable(report));
});
