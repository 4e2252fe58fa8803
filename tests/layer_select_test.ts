/**
 * Layer selection on unscoped graphs: what `--list_layers` lists (tappable outputs, no shape
 * arithmetic; everything with `all`), operator selectors (`op:Relu`, `Relu[-1]`, `Conv[0]`),
 * calls of a module applied twice (`layer1.0.relu` is the last call, `#k` picks one), the default
 * set when none of the default layer names exists, and tapped values against NumPy.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { loadOnnxModel, tapModel } from "../inspector/onnx_model.ts";
import { resolveLayers } from "../inspector/layers.ts";
import { listLayers } from "../inspector/run_inspect.ts";
import { FeatureMapInspector } from "../inspector/feature_map_inspector.ts";
import { createSession } from "../inspector/runtime.ts";
import { encodePlainNpy, readPlainNpy } from "../core/npy.ts";
import { InspectorError } from "../core/errors.ts";
import { FIXTURE_MODELS, UNSCOPED_FIXTURE_TENSORS as T } from "../fixtures/generate.ts";
import { HAVE_SHARED, maxAbsDiff, ROOT, SHARED, skip } from "./helpers.ts";

const NUMBERED = join(ROOT, "fixtures", FIXTURE_MODELS.unscoped);
const ONE_SCOPED = join(ROOT, "fixtures", FIXTURE_MODELS.oneScoped);
const RESNET = join(ROOT, "fixtures", FIXTURE_MODELS.resnet);

Deno.test("list_layers: unscoped graph lists tappable outputs with Op[k], no shape clutter", async () => {
  const rows = await listLayers({ checkpoint: NUMBERED, size: 16, ep: "wasm" });
  assert.deepEqual(rows.map((r) => r.name), [
    "10",
    "11",
    "12",
    "13",
    "14",
    "15",
    "16",
    "17",
    "18",
    "19",
    "20",
    "21",
    "22",
    "27",
    "output",
    "probs",
  ]);
  const by = Object.fromEntries(rows.map((r) => [r.name, r]));
  assert.equal(by["22"].select, "Relu[3]");
  assert.equal(by["22"].node, "Relu_12");
  assert.equal(by["21"].select, "Concat[0]"); // the Concat of shapes is not counted
  assert.deepEqual(by["16"].dims, [1, 8, 8, 8]);
  assert.deepEqual(by["22"].dims, [1, 32, 4, 4]);
  assert.ok(rows.every((r) => r.module === ""));
  const all = await listLayers({ checkpoint: NUMBERED, size: 16, ep: "wasm", all: true });
  assert.equal(all.length, 21); // every node's output
  const shapeRows = all.filter((r) => ["23", "24", "25", "26", "28"].includes(r.name));
  assert.deepEqual(shapeRows.map((r) => r.opType), [
    "Shape",
    "Gather",
    "Unsqueeze",
    "Concat",
    "Reshape",
  ]);
  assert.deepEqual(all.find((r) => r.name === "26")!.dims, [2]);
});

Deno.test("list_layers: one scoped node is a module row, the rest are listed by tensor", async () => {
  const rows = await listLayers({ checkpoint: ONE_SCOPED, size: 16, ep: "wasm" });
  const modules = rows.filter((r) => r.module);
  assert.deepEqual(modules.map((r) => [r.name, r.module]), [["stem", "stem"], [
    "conv",
    "stem.conv",
  ]]);
  assert.deepEqual(rows.filter((r) => !r.module).map((r) => `${r.name} ${r.opType} ${r.select}`), [
    "/Relu_output_0 Relu Relu[0]",
    "/Conv_output_0 Conv Conv[1]",
    "/Relu_1_output_0 Relu Relu[1]",
    "/Add_output_0 Add Add[0]",
    "/MaxPool_output_0 MaxPool MaxPool[0]",
    "/Conv_1_output_0 Conv Conv[2]",
    "/Relu_2_output_0 Relu Relu[2]",
    "/GlobalAveragePool_output_0 GlobalAveragePool GlobalAveragePool[0]",
    "logits Gemm Gemm[0]",
  ]);
  assert.deepEqual(rows.find((r) => r.name === "/MaxPool_output_0")!.dims, [1, 8, 4, 4]);
});

Deno.test("layers: op:TYPE, TYPE[i] and TYPE[-1] select by operator in graph order", async () => {
  const g = await loadOnnxModel(NUMBERED);
  const all = resolveLayers(g, ["op:Relu"]);
  assert.deepEqual(all.unresolved, []);
  assert.deepEqual(all.layers.map((l) => l.tensor), [...T.numberedRelus]);
  assert.deepEqual(all.layers.map((l) => l.name), ["Relu[0]", "Relu[1]", "Relu[2]", "Relu[3]"]);
  assert.ok(all.layers.every((l) => l.kind === "op" && l.opType === "Relu"));
  const r = resolveLayers(g, ["Relu[-1]", "Conv[0]", "conv[-1]", "Concat[-1]", "op:Add[0]"]);
  assert.deepEqual(r.unresolved, []);
  assert.deepEqual(r.layers.map((l) => [l.name, l.tensor, l.node]), [
    ["Relu[-1]", "22", "Relu_12"],
    ["Conv[0]", "10", "Conv_0"],
    ["conv[-1]", "19", "Conv_9"],
    ["Concat[-1]", "21", "Concat_11"],
    ["op:Add[0]", "15", "Add_5"],
  ]);
  const bad = resolveLayers(g, ["Relu[4]", "op:LSTM", "Relu[-5]"]);
  assert.equal(bad.layers.length, 0);
  assert.match(
    bad.unresolved[0].reason,
    /out of range: the graph has 4 Relu nodes \(use -4\.\.3\)/,
  );
  assert.match(bad.unresolved[1].reason, /no LSTM node/);
  assert.match(bad.unresolved[2].reason, /out of range/);
  // Scoped graphs too; a glob with a character class keeps its meaning.
  const s = await loadOnnxModel(RESNET);
  const rs = resolveLayers(s, ["Relu[0]", "layer[12]"]);
  assert.deepEqual(rs.unresolved, []);
  assert.deepEqual(rs.layers.map((l) => l.tensor), [
    "/backbone/relu/Relu_output_0",
    "/backbone/layer1/layer1.1/relu_1/Relu_output_0",
    "/backbone/layer2/layer2.1/relu_1/Relu_output_0",
  ]);
});

Deno.test("layers: a module applied twice resolves to its last call; #k picks one", async () => {
  const g = await loadOnnxModel(RESNET);
  const r = resolveLayers(g, [
    "layer1.0.relu",
    "layer1.0.relu#0",
    "layer1.0.relu#-1",
    "layer1.0.relu_1",
    "relu",
  ]);
  assert.deepEqual(r.unresolved, []);
  const [last, first, minus1, suffixed, stem] = r.layers;
  assert.equal(last.tensor, "/backbone/layer1/layer1.0/relu_1/Relu_output_0");
  assert.equal(last.calls, 2);
  assert.equal(last.call, 1);
  assert.match(last.notes[0], /applied 2 times in forward: this is call 1 .*the last/);
  assert.equal(first.tensor, "/backbone/layer1/layer1.0/relu/Relu_output_0");
  assert.equal(first.call, 0);
  assert.equal(minus1.tensor, last.tensor);
  assert.equal(suffixed.tensor, last.tensor);
  assert.equal(stem.tensor, "/backbone/relu/Relu_output_0");
  assert.equal(stem.calls, undefined); // called once: no call fields
  const bad = resolveLayers(g, ["layer1.0.relu#2"]);
  assert.match(bad.unresolved[0].reason, /call 2 is out of range: .* applied 2 time\(s\)/);
});

Deno.test("layers: last call equals the forward-hook reference (../shared/torch)", async () => {
  if (!HAVE_SHARED) return skip("../shared is absent");
  const dir = join(SHARED, "torch", "resnet18w16_video");
  const g = await loadOnnxModel(join(dir, "model.onnx"));
  // A forward hook on layer1.1.relu sees its last call: the block's output, layer1's output.
  const r = resolveLayers(g, ["layer1.1.relu", "layer1.1.relu#0"]);
  assert.equal(r.layers[0].tensor, "/backbone/layer1/layer1.1/relu_1/Relu_output_0");
  assert.equal(r.layers[0].calls, 2);
  const ref = JSON.parse(await Deno.readTextFile(join(dir, "ref.json")));
  const input = await readPlainNpy(join(dir, "input.npy"));
  const want = await readPlainNpy(join(dir, "ref_layer1.npy"));
  const taps = r.layers.map((l) => l.tensor);
  await using s = await createSession(tapModel(g, taps), { ep: "wasm" });
  const out = await s.run({ frames: { data: input.data, dims: input.shape } });
  const frame = ref.batch_idx * input.shape[1] + ref.timestep;
  const n = want.data.length;
  const got = out[taps[0]].data!.subarray(frame * n, (frame + 1) * n);
  const d = maxAbsDiff(got, want.data);
  assert.ok(d < 1e-4, `last call of layer1.1.relu vs hook reference: max |diff| ${d}`);
  // The first call is a different tensor (the block's inner ReLU).
  const first = out[taps[1]].data!.subarray(frame * n, (frame + 1) * n);
  assert.ok(maxAbsDiff(first, want.data) > 1e-2);
  for (const o of Object.values(out)) o.dispose();
});

Deno.test("inspector: no default layer name resolves -> last output of each stage", async () => {
  for (const [model, want] of [[NUMBERED, T.numberedStages], [ONE_SCOPED, T.oneScopedStages]]) {
    const lines: string[] = [];
    await using insp = await FeatureMapInspector.create(model as string, {
      ep: "wasm",
      onInfo: (l) => lines.push(l),
    });
    assert.deepEqual(insp.layers.map((l) => l.tensor), [...want]);
    assert.deepEqual(insp.unresolved, []);
    const notes = lines.filter((l) => /^(note|warning):/.test(l));
    assert.equal(notes.length, 1, lines.join("\n"));
    assert.match(notes[0], /^note: none of the default layers .* tapping the last output of each/);
  }
  // Explicit names that do not exist still fail.
  await assert.rejects(
    FeatureMapInspector.create(NUMBERED, { ep: "wasm", layers: ["nope"], onInfo: () => {} }),
    (e: Error) => e instanceof InspectorError && /none of the requested layers/.test(e.message),
  );
});

Deno.test("layers: a tensor selected by op type equals a NumPy reference", async () => {
  const g = await loadOnnxModel(NUMBERED);
  const [add] = resolveLayers(g, ["Add[0]"]).layers;
  const dims = [1, 3, 6, 7];
  const x = Float32Array.from({ length: 3 * 6 * 7 }, (_, i) => Math.sin(i * 0.37) * 1.5);
  await using s = await createSession(tapModel(g, [add.tensor]), { ep: "wasm" });
  const out = await s.run({ input: { data: x, dims } });
  const got = out[add.tensor];
  assert.deepEqual(got.dims, [1, 8, 6, 7]);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(join(dir, "x.npy"), encodePlainNpy(x, dims));
    // /usr/bin/python3 has onnx (weights); the arithmetic is plain NumPy.
    const code = `
import sys, json, numpy as np
try:
    import onnx
    from onnx import numpy_helper
except ImportError:
    print(json.dumps(None)); sys.exit(0)
m = onnx.load(sys.argv[1])
W = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in m.graph.initializer}
x = np.load(sys.argv[2]).astype(np.float64)
def conv(x, w, b):
    n, c, h, wd = x.shape
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], h, wd))
    for i in range(3):
        for j in range(3):
            out += np.einsum('nchw,oc->nohw', p[:, :, i:i + h, j:j + wd], w[:, :, i, j])
    return out + b[None, :, None, None]
r = lambda v: np.maximum(v, 0)
a = r(conv(x, W['Conv_0.weight'], W['Conv_0.bias']))
c = conv(a, W['Conv_2.weight'], W['Conv_2.bias'])
e = lambda k: W['bn.' + k][None, :, None, None]
bn = (c - e('mean')) / np.sqrt(e('var') + 1e-5) * e('scale') + e('bias')
print(json.dumps((a + r(bn)).ravel().tolist()))
`;
    const p = await new Deno.Command("/usr/bin/python3", {
      args: ["-c", code, NUMBERED, join(dir, "x.npy")],
      stderr: "piped",
    }).output().catch(() => null);
    if (!p || !p.success) return skip("/usr/bin/python3 with numpy is not available");
    const ref = JSON.parse(new TextDecoder().decode(p.stdout)) as number[] | null;
    if (!ref) return skip("/usr/bin/python3 has no onnx module to read the weights");
    const d = maxAbsDiff(got.data!, ref);
    assert.ok(d < 1e-4, `Add[0] vs NumPy: max |diff| ${d}`);
    assert.ok(ref.some((v) => v > 0.1));
  } finally {
    await Deno.remove(dir, { recursive: true });
    for (const o of Object.values(out)) o.dispose();
  }
});

Deno.test("manifest: a module applied twice records calls and the call tapped", async () => {
  await using insp = await FeatureMapInspector.create(RESNET, {
    ep: "wasm",
    layers: ["layer1.0.relu", "layer1.0.relu#0"],
    onInfo: () => {},
  });
  const x = Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.cos(i * 0.01));
  await insp.extractFeatures({ data: x, dims: [1, 2, 3, 32, 32] });
  const m = insp.manifest();
  const by = Object.fromEntries(m.layers.map((l) => [l.name, l]));
  assert.equal(by["layer1.0.relu"].calls, 2);
  assert.equal(by["layer1.0.relu"].call, 1);
  assert.equal(by["layer1.0.relu"].tensor, "/backbone/layer1/layer1.0/relu_1/Relu_output_0");
  assert.equal(by["layer1.0.relu#0"].call, 0);
  assert.equal(by["layer1.0.relu#0"].tensor, "/backbone/layer1/layer1.0/relu/Relu_output_0");
  assert.notEqual(by["layer1.0.relu"].stats.mean, by["layer1.0.relu#0"].stats.mean);
});
