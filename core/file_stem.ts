/**
 * The one rule that turns a layer name into the stem of the files drawn for it: inspect's
 * `<stem>_b<b>_t<t>.png`, analyze's `<stem>_distribution.png` (and `_channel_stats`,
 * `_spatial_patterns`), compare's `comparison_<stem>.png`.
 *
 * Rule: every run of characters outside `A-Z a-z 0-9 . _ -` becomes one `_`; leading `.` and `_`
 * are dropped (no hidden files, no `_` left by a leading `/`); a name with nothing left is
 * `layer`. Module names (`conv1`, `layer1`, `layer2.1`) stay as they are, and ONNX tensor paths
 * lose their leading slash: `/backbone/layer1/Relu_output_0` -> `backbone_layer1_Relu_output_0`.
 *
 * Earlier the three commands had their own rules, equal on such names; on exotic ones this rule
 * is analyze's: inspect used to keep a leading `_` or `.` (`_x` -> `_x`, now `x`) and wrote an
 * empty stem for an empty name (now `layer`); compare used to drop trailing `_` too (`out:` ->
 * `out`, now `out_`).
 *
 * @module
 */

import { InspectorError } from "./errors.ts";

/**
 * File-name stem of a layer name (see the module doc for the rule).
 *
 * @example Usage
 * ```ts
 * import { layerFileStem } from "./file_stem.ts";
 * import assert from "node:assert/strict";
 * assert.equal(layerFileStem("layer2.1"), "layer2.1");
 * assert.equal(layerFileStem("/backbone/layer1/Relu"), "backbone_layer1_Relu");
 * assert.equal(layerFileStem("onnx::Conv_12"), "onnx_Conv_12");
 * assert.equal(layerFileStem("///"), "layer");
 * ```
 */
export function layerFileStem(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, "") || "layer";
}

/**
 * The file stems of several layers, unique among them: names that map to one stem (`a/b` and
 * `a_b`) get `a_b`, `a_b_2`, ... in the order given. The one rule of every command's per-layer
 * file names.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { uniqueFileStems } from "./file_stem.ts";
 * assert.deepEqual(uniqueFileStems(["a/b", "a_b", "conv1"]), ["a_b", "a_b_2", "conv1"]);
 * ```
 */
export function uniqueFileStems(names: readonly string[]): string[] {
  const used = new Set<string>();
  return names.map((name) => {
    const base = layerFileStem(name);
    let stem = base;
    for (let k = 2; used.has(stem); k++) stem = `${base}_${k}`;
    used.add(stem);
    return stem;
  });
}

/**
 * Check that `stem` is a plain file stem (the `options.name` of a run: `<stem>.npy`,
 * `<stem>.json`): not empty, no `/` or `\`, no `..`, no NUL or other control character, no
 * leading `.`, so that the files it names stay inside the save folder. Returns it unchanged.
 *
 * @param what how messages name the value (default `options.name`)
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkFileStem } from "./file_stem.ts";
 * assert.equal(checkFileStem("features_t4"), "features_t4");
 * assert.throws(() => checkFileStem("../x"), /options.name '..\/x' is not a plain file name/);
 * assert.throws(() => checkFileStem(".hidden"), /not a plain file name/);
 * ```
 */
export function checkFileStem(stem: string, what = "options.name"): string {
  // deno-lint-ignore no-control-regex
  const bad = stem === "" || /[/\\\x00-\x1f\x7f]/.test(stem) || stem.includes("..") ||
    stem.startsWith(".");
  if (bad) {
    throw new InspectorError(
      `${what} ${JSON.stringify(stem).replace(/^"|"$/g, "'")} is not a plain file name: use a ` +
        `stem without '/', '\\', '..', control characters or a leading '.' (e.g. features_run2)`,
    );
  }
  return stem;
}
