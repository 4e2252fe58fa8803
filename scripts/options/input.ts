/**
 * The input group of `inspect`: where the frames come from, how many, at what size, and which
 * (clip, frame) pairs are saved.
 *
 * @module
 */

import { defineGroup, flag, type OptionGroup } from "./group.ts";
import type { InspectOptions } from "../../inspector/run_inspect.ts";
import { InspectorError } from "../../core/errors.ts";
import { parseFrameSize, parseResize } from "../../inspector/preprocess.ts";

/** `N` stays a number (today's square size), `HxW` a string. */
function parseSizeFlag(text: string, flagName: string): number | string {
  // A plain number keeps the usual whole-number wording; each side of a frame is at least 8.
  if (
    /^\s*-?\d+(\.\d*)?\s*$/.test(text) && !(Number.isInteger(Number(text)) && Number(text) >= 8)
  ) {
    throw new InspectorError(`${flagName} ${text.trim()}: expected a whole number >= 8`);
  }
  const s = parseFrameSize(text, { option: flagName });
  if (s.height < 8 || s.width < 8) {
    throw new InspectorError(`${flagName} ${text.trim()}: each side must be at least 8 pixels`);
  }
  return s.height === s.width && /^\s*\d+\s*$/.test(text) ? s.height : `${s.height}x${s.width}`;
}

/** What the input flags parse to: the input part of {@linkcode InspectOptions}. */
export type InputOptions = Pick<
  InspectOptions,
  | "dset"
  | "input"
  | "batchSize"
  | "maxLen"
  | "size"
  | "resize"
  | "crop"
  | "channelOrder"
  | "scale"
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
 * assert.equal(inputGroup.parse({ size: "240x320" }).size, "240x320");
 * assert.equal(inputGroup.parse({ size: "224" }).size, 224);
 * assert.equal(inputGroup.parse({ input: ["aux=a.npy"], dset: "clips" }).dset, "clips");
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
  size: flag.string({
    metavar: "N|HxW",
    default: "the model's fixed size, else 512",
    help: ["frame size, square N or height x width e.g. 240x320 (default: {default})"],
  }),
  resize: flag.string({
    metavar: "short:N|long:N|HxW",
    help: [
      "resize rule before the crop: short:256 keeps the aspect (torchvision Resize(256));",
      "default: an exact resize to --size (non-square frames are squashed)",
    ],
  }),
  crop: flag.string({
    metavar: "N|HxW",
    help: ["centre crop after --resize (default: --size when --resize keeps the aspect)"],
  }),
  channel_order: flag.string({
    metavar: "rgb|bgr",
    default: "rgb",
    help: ["channel order the model expects (default {default})"],
  }),
  scale: flag.string({
    metavar: "S",
    default: "1",
    help: ["pixels map to 0..S before the dataset mean/std, e.g. 255 (default {default})"],
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
  if (v.input && v.dset && v.input.every((i) => !/^[^=/\\]+=/.test(i))) {
    throw new InspectorError("give either --input or --dset, not both");
  }
  const size = v.size === undefined ? undefined : parseSizeFlag(v.size, "--size");
  if (size !== undefined && typeof size === "number" && size < 8) {
    throw new InspectorError(`--size ${size} is below 8: pass --size 8 or more`);
  }
  if (v.resize !== undefined) parseResize(v.resize, { option: "--resize" });
  if (v.crop !== undefined) parseFrameSize(v.crop, { option: "--crop" });
  const order = v.channel_order ?? "rgb";
  if (order !== "rgb" && order !== "bgr") {
    throw new InspectorError(`--channel_order ${order}: give rgb or bgr`);
  }
  const scale = v.scale === undefined ? undefined : Number(v.scale);
  if (scale !== undefined && !(scale > 0)) {
    throw new InspectorError(`--scale ${v.scale} is not a positive number: give e.g. 255 or 1`);
  }
  return {
    dset: v.dset,
    input: v.input,
    batchSize: v.batch_size,
    maxLen: v.max_len,
    fps: v.fps,
    size,
    resize: v.resize,
    crop: v.crop,
    channelOrder: v.channel_order === undefined ? undefined : order,
    scale,
    workers: v.workers,
    batchIdx: v.batch_idx,
    timestep: v.timestep,
    denseGaze: v.dense_gaze,
  };
});
