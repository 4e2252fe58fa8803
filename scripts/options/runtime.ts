/**
 * The runtime group of `inspect`: the backend, its threads, where the statistics run, and the
 * memory one forward pass aims for. `gpuFlag` is shared with `analyze`.
 *
 * @module
 */

import { defineGroup, type Flag, flag, type OptionGroup } from "./group.ts";
import type { InspectOptions } from "../../inspector/run_inspect.ts";
import type { GpuMode } from "../../shaders/reduce.ts";
import { EP_CHOICES } from "../../inspector/backends.ts";

/** The `--gpu` modes. */
export const GPU_MODES = ["auto", "on", "off"] as const satisfies readonly GpuMode[];

/**
 * `--gpu MODE`: statistics on the GPU or not (`inspect` and `analyze`).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { gpuFlag } from "./runtime.ts";
 * assert.equal(gpuFlag.parse("off", "--gpu"), "off");
 * assert.throws(() => gpuFlag.parse("yes", "--gpu"), /--gpu yes: use one of auto, on, off/);
 * ```
 */
export const gpuFlag: Flag<GpuMode | undefined> = flag.choice(GPU_MODES, {
  metavar: "MODE",
  default: "auto",
  help: [`statistics on the GPU: ${GPU_MODES.join(" | ")} (default {default})`],
});

/** What the runtime flags parse to: the runtime part of {@linkcode InspectOptions}. */
export type RuntimeOptions = Pick<InspectOptions, "ep" | "threads" | "gpu" | "memoryBudgetMiB">;

/**
 * The runtime group: `--ep`, `--threads`, `--gpu`, `--memory_budget`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { runtimeGroup } from "./runtime.ts";
 * assert.deepEqual(runtimeGroup.parse({ ep: "wasm", threads: "2" }), {
 *   ep: "wasm",
 *   threads: 2,
 *   gpu: undefined,
 *   memoryBudgetMiB: undefined,
 * });
 * assert.throws(() => runtimeGroup.parse({ ep: "tpu" }), /--ep tpu: use one of auto, webgpu/);
 * ```
 */
export const runtimeGroup: OptionGroup<RuntimeOptions> = defineGroup("runtime", {
  ep: flag.choice(EP_CHOICES, {
    metavar: "EP",
    default: "auto",
    help: [`${EP_CHOICES.join(" | ")} (default {default})`],
  }),
  threads: flag.int({ metavar: "N", min: 1, help: ["CPU threads for wasm/cpu"] }),
  gpu: gpuFlag,
  memory_budget: flag.int({
    metavar: "MIB",
    libraryName: "options.memoryBudgetMiB",
    min: 16,
    default: "1024",
    help: [
      "memory to aim for per forward pass (default {default}); bigger batches are",
      "split where the model allows it (2D backbones: by frame); a run whose input",
      "or smallest pass does not fit is refused before it allocates",
    ],
  }),
}, (v) => ({ ep: v.ep, threads: v.threads, gpu: v.gpu, memoryBudgetMiB: v.memory_budget }));
