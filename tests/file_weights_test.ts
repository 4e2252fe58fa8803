/**
 * Weights read from the model file (`onnx_model.ts` `modelWithFileWeights`, what a lean
 * inspector on the native backend uses): the same numbers, the JavaScript copy dropped, and a
 * clear error when the file changes underneath.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  extendModel,
  loadOnnxModel,
  modelWithFileWeights,
  releaseModelWeights,
} from "../inspector/onnx_model.ts";
import { createSession } from "../inspector/runtime.ts";
import { type Extraction, FeatureMapInspector } from "../inspector/feature_map_inspector.ts";
import { InspectorError } from "../core/errors.ts";
import { FIXTURE_CLIPS, fixtureBatch } from "../fixtures/generate.ts";
import { ROOT, tempDir } from "./helpers.ts";

const MODEL = join(ROOT, "fixtures", "resnet18_video.onnx");
const TAP = "/backbone/layer1/layer1.0/relu_1/Relu_output_0";

function batch(): { data: Float32Array; dims: number[] } {
  const b = fixtureBatch({
    frames: [0, 1, 2, 3],
    size: 32,
    clips: FIXTURE_CLIPS.slice(0, 2).map((c) => c.id),
  });
  return { data: b.data, dims: [...b.shape] };
}

Deno.test("file weights: a session reading the weights from the model file gives the same outputs", async () => {
  const g = await loadOnnxModel(MODEL);
  const output = [{ name: TAP }];
  const lean = modelWithFileWeights(g, { output })!;
  const full = extendModel(g, { output });
  // The weights stay in the file: the lent model is a few KB.
  assert.ok(lean.bytes.length * 10 < full.length, `${lean.bytes.length} vs ${full.length}`);
  await using a = await createSession(full, { ep: "cpu" });
  await using b = await createSession(lean.bytes, { ep: "cpu", externalDataDir: lean.dir });
  const x = batch();
  const [ra, rb] = [await a.run({ frames: x }), await b.run({ frames: x })];
  for (const name of [TAP, "logits"]) {
    assert.deepEqual(rb[name].dims, ra[name].dims);
    assert.deepEqual(rb[name].data, ra[name].data, name);
  }
  // Only native onnxruntime reads files: another backend is refused, naming the option.
  await assert.rejects(
    () => createSession(lean.bytes, { ep: "wasm", externalDataDir: lean.dir }),
    (e) => e instanceof InspectorError && /options\.externalDataDir/.test(e.message),
  );
});

Deno.test("file weights: released weights leave the graph usable only through the file", async () => {
  const g = await loadOnnxModel(MODEL);
  const dropped = releaseModelWeights(g);
  // Every weight of 4 KiB or more (the fixture holds 0.7 MB of float32 weights).
  assert.ok(dropped > 600_000 && dropped < 720_000, String(dropped));
  assert.equal(releaseModelWeights(g), 0);
  assert.throws(() => extendModel(g, {}), /weights of .* were released .*options\.lean/);
  const lean = modelWithFileWeights(g, { output: [{ name: TAP }] })!;
  await using s = await createSession(lean.bytes, { ep: "cpu", externalDataDir: lean.dir });
  const out = await s.run({ frames: batch() });
  assert.deepEqual(out[TAP].dims, [8, 8, 8, 8]);
});

async function extract(
  model: string | Awaited<ReturnType<typeof loadOnnxModel>>,
  options: { lean: boolean; layout?: Record<string, "bt_chw"> },
): Promise<Extraction> {
  await using insp = await FeatureMapInspector.create(model, {
    layers: ["conv1", "layer1", "layer2"],
    ep: "cpu",
    gpu: "off",
    ...options,
  });
  insp.setTarget({ batchIdx: "all", timestep: "1,3" });
  return await insp.extractFeatures(batch());
}

Deno.test("file weights: a lean inspector drops the weights and still falls back to whole tensors", async () => {
  const want = await extract(MODEL, { lean: false });
  const g = await loadOnnxModel(MODEL);
  // A layout override takes the whole-tensor session, created after the weights were dropped.
  const got = await extract(g, { lean: true, layout: { layer1: "bt_chw" } });
  assert.throws(() => extendModel(g, {}), /released/);
  for (let k = 0; k < want.layers.length; k++) {
    const a = got.layers[k], b = want.layers[k];
    assert.equal(a.name, b.name);
    for (const key of ["mean", "std", "min", "max", "sparsity"] as const) {
      const x = a.stats.summary[key], y = b.stats.summary[key];
      assert.ok(Math.abs(x - y) <= 1e-6 * Math.max(1, Math.abs(y)), `${a.name} ${key}: ${x} ${y}`);
    }
    assert.deepEqual(a.frames, b.frames, a.name);
  }
  // On WebAssembly the weights are kept: it cannot read them from the file.
  const w = await loadOnnxModel(MODEL);
  await using insp = await FeatureMapInspector.create(w, {
    layers: ["conv1"],
    ep: "wasm",
    lean: true,
  });
  assert.doesNotThrow(() => extendModel(w, {}));
  assert.equal(insp.backend.ep, "wasm");
});

Deno.test("file weights: a model file changed after it was read is refused in one line", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "model.onnx");
    await Deno.copyFile(MODEL, path);
    const g = await loadOnnxModel(path);
    await Deno.writeFile(path, new Uint8Array(16), { append: true });
    await assert.rejects(
      () => FeatureMapInspector.create(g, { layers: ["conv1"], ep: "cpu", lean: true }),
      (e) =>
        e instanceof InspectorError && !e.message.includes("\n") &&
        e.message.includes(path) && /changed or went away after it was read/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
