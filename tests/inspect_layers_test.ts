import assert from "node:assert/strict";
import { join } from "node:path";
import { loadOnnxModel, scopeToModulePath } from "../inspector/onnx_model.ts";
import { closestNames, listModules, resolveLayers } from "../inspector/layers.ts";
import {
  detectLayout,
  extractFrame,
  parseIndexSpec,
  rowLayout,
  tensorFrameOf,
  timeChannelSwaps,
} from "../inspector/layout.ts";
import { InspectorError } from "../core/errors.ts";
import { HAVE_SHARED, ROOT, SHARED, skip } from "./helpers.ts";

const FOLDED = join(ROOT, "fixtures", "resnet18_video.onnx");
const KEPT = join(ROOT, "fixtures", "resnet18_video_bn.onnx");
const R3D = join(ROOT, "fixtures", "r3d_video.onnx");

Deno.test("layers: scope segments fold into dotted module paths", () => {
  assert.equal(
    scopeToModulePath(["backbone", "layer1", "layer1.0", "conv1"]),
    "backbone.layer1.0.conv1",
  );
  assert.equal(scopeToModulePath(["features", "features.0", "features.0.0"]), "features.0.0");
  assert.equal(scopeToModulePath([]), "");
});

Deno.test("layers: folded BatchNorm — bn1 aliases the fused Conv, conv1 is flagged", async () => {
  const g = await loadOnnxModel(FOLDED);
  const { layers, unresolved } = resolveLayers(g, [
    "conv1",
    "bn1",
    "relu",
    "maxpool",
    "layer1",
    "layer4",
  ]);
  assert.deepEqual(unresolved, []);
  const by = Object.fromEntries(layers.map((l) => [l.name, l]));
  assert.equal(by.conv1.tensor, "/backbone/conv1/Conv_output_0");
  assert.deepEqual(by.conv1.folded, ["bn1"]);
  assert.equal(by.bn1.tensor, by.conv1.tensor);
  assert.equal(by.bn1.kind, "folded_bn");
  assert.equal(by.bn1.aliasOf, "backbone.conv1");
  assert.equal(by.relu.tensor, "/backbone/relu/Relu_output_0");
  assert.equal(by.layer1.tensor, "/backbone/layer1/layer1.1/relu_1/Relu_output_0");
});

Deno.test("layers: a graph that keeps BatchNormalization resolves bn1 normally", async () => {
  const g = await loadOnnxModel(KEPT);
  const { layers, unresolved } = resolveLayers(g, ["conv1", "bn1"]);
  assert.deepEqual(unresolved, []);
  assert.equal(layers[0].folded, undefined);
  assert.equal(layers[0].opType, "Conv");
  assert.equal(layers[1].kind, "module");
  assert.equal(layers[1].opType, "BatchNormalization");
  assert.notEqual(layers[0].tensor, layers[1].tensor);
});

Deno.test("layers: dotted paths, globs, raw tensor and node names, prefix", async () => {
  const g = await loadOnnxModel(FOLDED);
  const r = resolveLayers(g, [
    "layer2.1",
    "backbone.layer3",
    "model.backbone.layer4",
    "layer1.*",
    "/backbone/relu/Relu_output_0",
    "/backbone/maxpool/MaxPool",
  ], { prefix: "backbone" });
  assert.deepEqual(r.unresolved, []);
  const names = r.layers.map((l) => l.name);
  assert.deepEqual(names, [
    "layer2.1",
    "backbone.layer3",
    "model.backbone.layer4",
    "layer1.0",
    "layer1.1",
    "/backbone/relu/Relu_output_0",
    "/backbone/maxpool/MaxPool",
  ]);
  assert.equal(r.layers[0].tensor, "/backbone/layer2/layer2.1/relu_1/Relu_output_0");
  assert.equal(r.layers[3].tensor, "/backbone/layer1/layer1.0/relu_1/Relu_output_0");
  assert.equal(r.layers[6].tensor, "/backbone/maxpool/MaxPool_output_0");
  assert.equal(r.layers[5].kind, "tensor");
  assert.equal(r.layers[6].kind, "node");
});

Deno.test("layers: unknown names come back with the closest candidates", async () => {
  const g = await loadOnnxModel(FOLDED);
  const r = resolveLayers(g, ["layr3", "nothing_like_it_at_all_xyz", "layer1"]);
  assert.equal(r.layers.length, 1);
  assert.equal(r.unresolved.length, 2);
  assert.equal(r.unresolved[0].candidates[0], "layer3");
  assert.deepEqual(closestNames("layr1", ["layer1", "conv1"]), ["layer1"]);
});

Deno.test("layers: 3D CNN — folded stem BN, ambiguity reported", async () => {
  const g = await loadOnnxModel(R3D);
  const mods = listModules(g).map((m) => m.shortName);
  assert.ok(mods.includes("layer1") && mods.includes("layer4"));
  const r = resolveLayers(g, ["layer1", "layer2", "conv1"]);
  assert.equal(r.layers.length, 2);
  assert.match(r.unresolved[0].reason, /ambiguous/);
  const swaps = timeChannelSwaps(g);
  assert.equal(swaps.get(r.layers[0].tensor), true);
});

Deno.test("layers: real PyTorch exports (../shared/torch)", async () => {
  if (!HAVE_SHARED) return skip("../shared is absent");
  const g = await loadOnnxModel(join(SHARED, "torch", "resnet18w16_video", "model.onnx"));
  const r = resolveLayers(g, ["conv1", "bn1", "layer1"]);
  assert.deepEqual(r.layers[0].folded, ["bn1"]);
  assert.equal(r.layers[1].tensor, "/backbone/conv1/Conv_output_0");
  assert.equal(r.layers[2].tensor, "/backbone/layer1/layer1.1/relu_1/Relu_output_0");
  const q = await loadOnnxModel(join(SHARED, "real", "mobilenetv2_int8", "model.onnx"));
  const m = resolveLayers(q, ["features.3", "features.0"]);
  assert.deepEqual(m.unresolved, []);
  assert.match(m.layers[0].tensor, /^\/features\/features\.3\//);
});

Deno.test("layout: the four layouts, time maps and frame extraction", () => {
  const bt = detectLayout([16, 4, 3, 3], { batch: 2, time: 8, swapped: false, name: "a" });
  assert.equal(bt.kind, "bt_chw");
  assert.deepEqual(bt.frameShape, [4, 3, 3]);
  const b5 = detectLayout([2, 8, 4, 3, 3], { batch: 2, time: 8, swapped: false, name: "b" });
  assert.equal(b5.kind, "b_t_chw");
  const c3 = detectLayout([2, 4, 2, 3, 3], { batch: 2, time: 8, swapped: true, name: "c" });
  assert.equal(c3.kind, "b_c_t_hw");
  assert.deepEqual(c3.timeMap, [0, 0, 0, 0, 1, 1, 1, 1]);
  const nt = detectLayout([2, 4, 3, 3], { batch: 2, time: 8, swapped: false, name: "d" });
  assert.equal(nt.kind, "b_chw");
  assert.throws(
    () => detectLayout([5, 4, 3, 3], { batch: 2, time: 8, swapped: false, name: "e" }),
    (e: Error) => e instanceof InspectorError && /options\.layout e=/.test(e.message),
  );
  // (B=2, C=3, T'=2, H=1, W=2): value = 1000b + 100c + 10t' + w
  const data = new Float32Array(2 * 3 * 2 * 2);
  for (let b = 0; b < 2; b++) {
    for (let c = 0; c < 3; c++) {
      for (let t = 0; t < 2; t++) {
        for (let w = 0; w < 2; w++) {
          data[((b * 3 + c) * 2 + t) * 2 + w] = 1000 * b + 100 * c + 10 * t + w;
        }
      }
    }
  }
  const l = detectLayout([2, 3, 2, 1, 2], { batch: 2, time: 4, swapped: true, name: "x" });
  assert.deepEqual(Array.from(extractFrame(data, l, 1, 3)), [1010, 1011, 1110, 1111, 1210, 1211]);
  const rl = rowLayout(l);
  assert.equal(rl.rows, 12);
  assert.equal(rl.width, 2);
  const f = tensorFrameOf(l, 1, 3);
  assert.equal(data[rl.index.rowOf(f, 2) * rl.width], 1210);
});

Deno.test("layout: index specs", () => {
  assert.deepEqual(parseIndexSpec("2", { count: 8, flag: "--timestep" }), [2]);
  assert.deepEqual(parseIndexSpec("0,4", { count: 8, flag: "--timestep" }), [0, 4]);
  assert.deepEqual(parseIndexSpec("0-7", { count: 8, flag: "--timestep" }).length, 8);
  assert.deepEqual(parseIndexSpec("all", { count: 2, flag: "--batch_idx" }), [0, 1]);
  assert.throws(() => parseIndexSpec("8", { count: 8, flag: "--timestep" }), /out of range/);
  assert.throws(() => parseIndexSpec("x", { count: 8, flag: "--timestep" }), /use a number/);
});

Deno.test("layout: frame ranges for partial GPU readback match extractFrame", async () => {
  const { frameRanges } = await import("../inspector/gpu_readback.ts");
  const data = Float32Array.from({ length: 2 * 3 * 4 * 2 }, (_, i) => i);
  for (
    const [dims, swapped] of [[[2, 3, 4, 1, 2], true], [[8, 3, 1, 2], false], [
      [2, 4, 3, 1, 2],
      false,
    ]] as const
  ) {
    const l = detectLayout(dims, { batch: 2, time: 4, swapped, name: "x" });
    for (let b = 0; b < 2; b++) {
      for (let t = 0; t < 4; t++) {
        const got = frameRanges(l, b, t).flatMap(([s, n]) => Array.from(data.subarray(s, s + n)));
        assert.deepEqual(got, Array.from(extractFrame(data, l, b, t)), `${l.kind} b${b} t${t}`);
      }
    }
  }
});
