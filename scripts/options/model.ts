/**
 * The model group of `inspect`: which model, and which of its layers to tap.
 *
 * @module
 */

import { defineGroup, flag, type OptionGroup } from "./group.ts";
import type { InspectOptions } from "../../inspector/run_inspect.ts";
import { DEFAULT_LAYERS } from "../../inspector/feature_map_inspector.ts";

/** What the model flags parse to: the model part of {@linkcode InspectOptions}. */
export type ModelOptions =
  & Pick<InspectOptions, "checkpoint" | "layers" | "prefix" | "layout" | "all">
  & {
    /** `--list_layers`: print the tappable modules instead of running. */
    listLayers: boolean;
  };

/**
 * The model group: `--checkpoint`, `--layers`, `--prefix`, `--layout`, `--list_layers`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { modelGroup } from "./model.ts";
 * const o = modelGroup.parse({ checkpoint: "m.onnx", layers: ["layer1", "layer2"] });
 * assert.deepEqual(o.layers, ["layer1", "layer2"]);
 * assert.equal(o.listLayers, false);
 * ```
 */
export const modelGroup: OptionGroup<ModelOptions> = defineGroup("model", {
  checkpoint: flag.string({
    metavar: "PATH",
    help: [".onnx model (default: bundled fixture ResNet-18 video model)"],
  }),
  layers: flag.list({
    metavar: "L [L ...]",
    default: DEFAULT_LAYERS.join(" "),
    help: [
      "module names, dotted paths, globs (layer1.*), ONNX tensor names, op:Relu, Conv[0],",
      "Relu[-1] (by operator type), layer1.0.relu#0 (a call of a module applied twice)",
      "(default: {default})",
    ],
  }),
  prefix: flag.string({
    metavar: "SCOPE",
    help: ["only resolve modules under this scope, e.g. backbone"],
  }),
  layout: flag.list({
    metavar: "KIND",
    help: [
      "override time layout: bt_chw | b_t_chw | b_c_t_hw | b_chw, channel-last bt_hwc | b_t_hwc |",
      "b_hwc, or LAYER=KIND",
    ],
  }),
  list_layers: flag.boolean({
    libraryName: "listLayers()",
    help: ["print every tappable module/tensor with its op, shape and Op[k] selector, then exit"],
  }),
  all: flag.boolean({
    help: ["with --list_layers: list every node output, shape arithmetic included"],
  }),
}, (v) => ({
  checkpoint: v.checkpoint,
  layers: v.layers,
  prefix: v.prefix,
  layout: v.layout,
  listLayers: v.list_layers,
  all: v.all,
}));
