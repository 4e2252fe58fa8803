/**
 * The one run reader (core/run_folder.ts, core/manifest.ts): a missing, broken or foreign manifest
 * means the same in the library, `analyze` and `compare`; and the one glob (core/glob.ts) selects
 * the same layers in `compare --layers` as in `inspect --layers`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { StructuredNpyWriter } from "../core/npy.ts";
import { readFeatures } from "../core/run_folder.ts";
import { globToRegExp } from "../core/glob.ts";
import { layerFileStem } from "../core/file_stem.ts";
import { analyzeFeatures } from "../analysis/analyze.ts";
import { compareFeatures } from "../compare/compare.ts";
import { tempDir } from "./helpers.ts";

async function writeRun(path: string, names: string[]): Promise<void> {
  const w = await StructuredNpyWriter.create(path, {
    shape: [1, 2],
    fields: names.map((name) => ({ name, scalar: "f4" as const, shape: [2, 3, 3] })),
  });
  for (const name of names) {
    for (let r = 0; r < 2; r++) {
      await w.writeField(name, r, Float32Array.from({ length: 18 }, (_, i) => Math.sin(i + r)));
    }
  }
  await w.commit();
}

Deno.test("run reader: missing, broken and foreign manifests mean the same everywhere", async () => {
  const dir = tempDir();
  const npy = join(dir, "run.npy");
  await writeRun(npy, ["layer1", "layer1.0", "layer1.0.conv1", "backbone.layer1.1"]);
  const warnings: string[] = [];
  const onWarning = (m: string) => warnings.push(m);

  // Missing: the .npy alone, positions as labels, no warning.
  using alone = await readFeatures(npy, { onWarning });
  assert.equal(alone.manifest, null);
  assert.deepEqual(alone.targets, { batchIdx: [0], timestep: [0, 1] });
  assert.equal(warnings.length, 0);

  // Foreign: used for the fields it has (targets here), nothing else assumed.
  await Deno.writeTextFile(
    join(dir, "run.json"),
    JSON.stringify({ targets: { timestep: [4, 7] } }),
  );
  using foreign = await readFeatures(npy, { onWarning });
  assert.equal(foreign.manifestPath, join(dir, "run.json"));
  assert.deepEqual(foreign.targets, { batchIdx: [0], timestep: [4, 7] });
  assert.equal(foreign.targetsFromManifest, false);
  assert.equal(warnings.length, 0);

  // Broken: ignored with one warning line, by the library, analyze and compare alike.
  await Deno.writeTextFile(join(dir, "run.json"), "{ not json");
  using broken = await readFeatures(npy, { onWarning });
  assert.equal(broken.manifest, null);
  assert.equal(broken.manifestPath, null);
  const summary = await analyzeFeatures(npy, {
    saveDir: join(dir, "ana"),
    layers: ["layer1"],
    gpu: "off",
    onProgress: onWarning,
  });
  assert.equal(summary.manifest, null);
  const cmp = await compareFeatures(npy, npy, { write: false, onProgress: onWarning });
  assert.equal(cmp.a.manifest, null);
  const ignored = warnings.filter((w) => w.startsWith("ignoring manifest"));
  assert.equal(ignored.length, 4, warnings.join("\n"));
  for (const w of ignored) {
    assert.match(w, /^ignoring manifest .*run\.json: not valid JSON .*fix or delete it$/);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("glob: compare --layers selects as inspect does", async () => {
  const dir = tempDir();
  const names = ["layer1", "layer1.0", "layer1.0.conv1", "backbone.layer1.1", "layer10.0"];
  await writeRun(join(dir, "a.npy"), names);
  const pick = async (p: string) =>
    (await compareFeatures(join(dir, "a.npy"), join(dir, "a.npy"), { layers: [p], write: false }))
      .layer_order;
  assert.deepEqual(await pick("layer1.*"), ["layer1.0", "backbone.layer1.1"]);
  assert.deepEqual(names.filter((n) => globToRegExp("layer1.*").test(n)), [
    "layer1.0",
    "backbone.layer1.1",
  ]);
  assert.deepEqual(await pick("layer1.**"), ["layer1.0", "layer1.0.conv1", "backbone.layer1.1"]);
  assert.deepEqual(await pick("layer1"), ["layer1"], "a plain name is that layer only");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("file stem: the names users have keep their file names", () => {
  const cases: [string, string][] = [
    ["conv1", "conv1"],
    ["layer1", "layer1"],
    ["layer2.1", "layer2.1"],
    ["backbone.layer3", "backbone.layer3"],
    [
      "/backbone/layer1/layer1.0/relu_1/Relu_output_0",
      "backbone_layer1_layer1.0_relu_1_Relu_output_0",
    ],
    ["/backbone/maxpool/MaxPool", "backbone_maxpool_MaxPool"],
    ["onnx::Conv_12", "onnx_Conv_12"],
  ];
  for (const [name, stem] of cases) assert.equal(layerFileStem(name), stem, name);
});
