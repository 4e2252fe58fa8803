/**
 * The input group of `inspect`: where the frames come from, how many, at what size, and which
 * (clip, frame) pairs are saved.
 *
 * @module
 */

import { defineGroup, flag, type OptionGroup } from "./group.ts";
import type { InspectOptions } from "../../inspector/run_inspect.ts";
import { InspectorError } from "../../core/errors.ts";

/** What the input flags parse to: the input part of {@linkcode InspectOptions}. */
export type InputOptions = Pick<
  InspectOptions,
  | "dset"
  | "input"
  | "batchSize"
  | "maxLen"
  | "size"
  | "workers"
  | "batchIdx"
  | "timestep"
  | "denseGaze"
>;

/**
 * The input group; `--input` and `--dset` together are an error.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { inputGroup } from "./input.ts";
 * assert.equal(inputGroup.parse({ batch_size: "4" }).batchSize, 4);
 * assert.throws(() => inputGroup.parse({ batch_size: "0" }), /--batch_size 0/);
 * assert.throws(() => inputGroup.parse({ input: ["x.npy"], dset: "clips" }), /not both/);
 * ```
 */
export const inputGroup: OptionGroup<InputOptions> = defineGroup("input", {
  dset: flag.string({
    metavar: "PATH|NAME",
    help: ["clips folder or dataset name (default: bundled fixture clips)"],
  }),
  input: flag.list({
    metavar: "[NAME=]PATH",
    help: [
      "preprocessed batch .npy, e.g. (B,T,3,H,W) float32, instead of --dset;",
      "repeat or use NAME=PATH for models with several inputs",
    ],
  }),
  batch_size: flag.int({
    metavar: "N",
    min: 1,
    default: "2",
    help: ["clips per batch (default {default})"],
  }),
  max_len: flag.int({
    metavar: "N",
    min: 1,
    default: "8",
    help: ["frames per clip, T (default {default})"],
  }),
  fps: flag.custom({
    type: "string",
    metavar: "F",
    help: ["sample --max_len frames at F per second from the start (video clips only)"],
    parse: (raw, name) => {
      if (raw === undefined) return undefined;
      const v = Number(raw);
      if (!(v > 0) || !Number.isFinite(v)) {
        throw new InspectorError(`${name} ${raw}: pass a positive number of frames per second`);
      }
      return v;
    },
  }),
  size: flag.int({
    metavar: "N",
    min: 8,
    default: "the model's fixed size, else 512",
    help: ["frame size (default: {default})"],
  }),
  workers: flag.int({
    metavar: "N",
    min: 1,
    default: "1",
    help: ["parallel frame decoding workers (default {default})"],
  }),
  batch_idx: flag.string({
    metavar: "SPEC",
    default: "0",
    help: ["sample(s) to save: 0 | 0,1 | 0-3 | all (default {default})"],
  }),
  timestep: flag.string({
    metavar: "SPEC",
    default: "0",
    help: ["frame(s) to save: 2 | 0,4 | 0-7 | all (default {default}); one forward pass"],
  }),
  dense_gaze: flag.boolean({
    help: ["use every gaze point instead of the dataset's gaze rate"],
  }),
}, (v) => {
  if (v.input && v.dset) throw new InspectorError("give either --input or --dset, not both");
  return {
    dset: v.dset,
    input: v.input,
    batchSize: v.batch_size,
    maxLen: v.max_len,
    fps: v.fps,
    size: v.size,
    workers: v.workers,
    batchIdx: v.batch_idx,
    timestep: v.timestep,
    denseGaze: v.dense_gaze,
  };
});
