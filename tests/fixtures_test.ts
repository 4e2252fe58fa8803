/**
 * Tests of the fixture generator and the committed fixtures: byte-for-byte regeneration, the
 * models against the generator's own CPU implementation in onnxruntime-web, folded vs kept
 * BatchNorm, 3D time strides, a perturbed checkpoint, readable first-layer maps, and the clips.
 */

import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert";
import * as ort from "npm:onnxruntime-web@1.30.0";
import onnxproto from "npm:onnx-proto@8.0.1";
import pngjs from "npm:pngjs@7.0.0";
import { Buffer } from "node:buffer";
import {
  buildResNetVideo,
  FIXTURE_CLIPS,
  FIXTURE_MODELS,
  fixtureBatch,
  planR3dVideo,
  planResNetVideo,
  runPlan,
  writeFixtures,
} from "../fixtures/generate.ts";

const { onnx } = onnxproto;
const { PNG } = pngjs;
ort.env.wasm.numThreads = 1;

const FIXTURES = new URL("../fixtures/", import.meta.url);
const fixturePath = (rel: string): string => new URL(rel, FIXTURES).pathname;

/** Copy of `model` whose graph also outputs the given intermediate tensors. */
function withOutputs(model: Uint8Array, names: readonly string[]): Uint8Array {
  const m = onnx.ModelProto.decode(model);
  for (const name of names) {
    assert(m.graph!.node!.some((n) => n.output!.includes(name)), `no tensor ${name} in model`);
    m.graph!.output!.push({
      name,
      type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } },
    });
  }
  return onnx.ModelProto.encode(m).finish();
}

async function run(
  model: Uint8Array,
  frames: Float32Array,
  shape: readonly number[],
  taps: readonly string[] = [],
): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(withOutputs(model, taps), {
    executionProviders: ["wasm"],
  });
  try {
    return await session.run({ frames: new ort.Tensor("float32", frames, shape) });
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assertEquals(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) out.push(...await listFiles(`${dir}/${e.name}`, `${prefix}${e.name}/`));
    else out.push(`${prefix}${e.name}`);
  }
  return out;
}

const small = fixtureBatch({ frames: [2, 9], size: 64, clips: ["c02_shapes"] });

Deno.test("fixtures: regenerating into a temp dir gives the committed files byte for byte", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fixtures_test_" });
  try {
    const written = await writeFixtures(dir);
    assert(written.length >= 3 + 1 + 3 * 13, `only ${written.length} files written`);
    let total = 0;
    for (const rel of written) {
      const fresh = await Deno.readFile(`${dir}/${rel}`);
      const committed = await Deno.readFile(fixturePath(rel));
      assertEquals(fresh.length, committed.length, `${rel}: size differs; run deno task fixtures`);
      assert(
        fresh.every((v, i) => v === committed[i]),
        `${rel}: bytes differ; run deno task fixtures`,
      );
      total += committed.length;
    }
    assert(total < 2_000_000, `fixtures take ${total} bytes, more than 2 MB`);
    // No stale generated files: every committed clip file is one the generator writes.
    const committedClips = (await listFiles(fixturePath("clips"))).map((f) => `clips/${f}`);
    assertEquals(committedClips.sort(), written.filter((f) => f.startsWith("clips/")).sort());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fixtures: models have the exporter's names, opset 17 and dynamic input dims", async () => {
  const m = onnx.ModelProto.decode(await Deno.readFile(fixturePath(FIXTURE_MODELS.resnet)));
  assertEquals(m.opsetImport![0].version?.toString(), "17");
  const dims = m.graph!.input![0].type!.tensorType!.shape!.dim!;
  assertEquals(dims.map((d) => d.dimParam || Number(d.dimValue)), [
    "batch",
    "time",
    3,
    "height",
    "width",
  ]);
  const names = m.graph!.node!.map((n) => n.name);
  for (
    const n of [
      "/backbone/conv1/Conv",
      "/backbone/relu/Relu",
      "/backbone/maxpool/MaxPool",
      "/backbone/layer1/layer1.0/Add",
      "/backbone/layer1/layer1.1/relu_1/Relu",
      "/backbone/layer2/layer2.0/downsample/downsample.0/Conv",
      "/backbone/layer4/layer4.1/relu_1/Relu",
      "/head/Gemm",
    ]
  ) assert(names.includes(n), `missing node ${n}`);
  assert(!m.graph!.node!.some((n) => n.opType === "BatchNormalization"));
  const bn = onnx.ModelProto.decode(await Deno.readFile(fixturePath(FIXTURE_MODELS.resnetBn)));
  const bnNames = bn.graph!.node!.filter((n) => n.opType === "BatchNormalization").map((n) =>
    n.name
  );
  assertEquals(bnNames.length, 20);
  assert(bnNames.includes("/backbone/bn1/BatchNormalization"));
  assert(bnNames.includes("/backbone/layer2/layer2.0/downsample/downsample.1/BatchNormalization"));
  assert(bn.graph!.initializer!.some((t) => t.name === "backbone.layer3.1.bn2.running_var"));
});

Deno.test("fixtures: each model runs in onnxruntime-web and matches the CPU reference", async () => {
  const resnet = planResNetVideo();
  const cases = [
    [FIXTURE_MODELS.resnet, resnet],
    [FIXTURE_MODELS.resnetBn, resnet],
    [FIXTURE_MODELS.r3d, planR3dVideo()],
  ] as const;
  const logits: Record<string, Float32Array> = {};
  for (const [file, plan] of cases) {
    const out = await run(await Deno.readFile(fixturePath(file)), small.data, small.shape);
    assertEquals(out.logits.dims, [1, 10]);
    const got = out.logits.data as Float32Array;
    const ref = runPlan(plan, small.data, small.shape).logits;
    assert(maxAbsDiff(got, ref) <= 1e-4, `${file}: ORT vs CPU ${maxAbsDiff(got, ref)}`);
    assert(got.some((v) => Math.abs(v) > 1e-2), `${file}: logits are all ~0`);
    logits[file] = got;
  }
  const d = maxAbsDiff(logits[FIXTURE_MODELS.resnet], logits[FIXTURE_MODELS.resnetBn]);
  assert(d <= 1e-4, `folded vs BatchNorm-kept logits differ by ${d}`);
});

Deno.test("fixtures: r3d layer outputs are (B, C, T', H, W) with T' halved by layer2..4", async () => {
  const batch = fixtureBatch({ frames: [0, 1, 2, 3, 4, 5, 6, 7], size: 32, clips: ["c01_bars"] });
  const taps = [1, 2, 3, 4].map((l) => `/backbone/layer${l}/layer${l}.0/relu_1/Relu_output_0`);
  const stem = "/backbone/stem/stem.2/Relu_output_0";
  const out = await run(
    await Deno.readFile(fixturePath(FIXTURE_MODELS.r3d)),
    batch.data,
    batch.shape,
    [stem, ...taps],
  );
  assertEquals(out[stem].dims, [1, 8, 8, 16, 16]);
  assertEquals(taps.map((t) => out[t].dims), [
    [1, 8, 8, 16, 16],
    [1, 8, 4, 8, 8],
    [1, 16, 2, 4, 4],
    [1, 16, 1, 2, 2],
  ]);
  // Same numbers as the CPU reference (layer3 output).
  const ref = runPlan(planR3dVideo(), batch.data, batch.shape).taps.get("layer3.0.relu_1")!;
  assert(maxAbsDiff(out[taps[2]].data as Float32Array, ref.data) < 1e-4);
});

Deno.test("fixtures: a model perturbed in layer3 keeps layer2 and changes layer3", async () => {
  const layer2 = "/backbone/layer2/layer2.1/relu_1/Relu_output_0";
  const layer3 = "/backbone/layer3/layer3.1/relu_1/Relu_output_0";
  const base = await run(
    await Deno.readFile(fixturePath(FIXTURE_MODELS.resnet)),
    small.data,
    small.shape,
    [layer2, layer3],
  );
  const changed = await run(buildResNetVideo({ perturb: "layer3" }), small.data, small.shape, [
    layer2,
    layer3,
  ]);
  assertEquals(
    maxAbsDiff(changed[layer2].data as Float32Array, base[layer2].data as Float32Array),
    0,
  );
  const r = relL2(changed[layer3].data as Float32Array, base[layer3].data as Float32Array);
  assert(r > 0.05 && r < 2, `layer3 relative L2 difference ${r} not in (0.05, 2)`);
  assertThrows(() => buildResNetVideo({ perturb: "layer9" }), /no module "layer9"/);
});

function decodePngFrame(path: string, mean: number[], std: number[]): Float32Array {
  const png = PNG.sync.read(Buffer.from(Deno.readFileSync(path)));
  const n = png.width * png.height;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) out[c * n + i] = (png.data[i * 4 + c] / 255 - mean[c]) / std[c];
  }
  return out;
}

Deno.test("fixtures: conv1 maps are sparse oriented-edge responses, not noise", async () => {
  const dataset = JSON.parse(await Deno.readTextFile(fixturePath("clips/dataset.json")));
  assertEquals(dataset.name, "fixture");
  const frame = decodePngFrame(
    fixturePath("clips/c01_bars/frame_0003.png"),
    dataset.mean,
    dataset.std,
  );
  const model = await Deno.readFile(fixturePath(FIXTURE_MODELS.resnet));
  const relu = "/backbone/relu/Relu_output_0";
  const out = await run(model, frame, [1, 1, 3, 112, 112], [relu]);
  const act = out[relu].data as Float32Array;
  let zeros = 0, sum = 0;
  for (const v of act) {
    if (v === 0) zeros++;
    sum += v;
  }
  const sparsity = zeros / act.length, mean = sum / act.length;
  assert(sparsity > 0.3 && sparsity < 0.9, `relu sparsity ${sparsity}`);
  assert(mean > 0.05 && mean < 2, `relu mean ${mean}`);

  // An image that is dark on the left and bright on the right has one vertical edge: channel 0
  // (vertical-edge detector) must fire along it, channel 1 (horizontal-edge detector) must not.
  const s = 64, img = new Float32Array(3 * s * s);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) img[c * s * s + y * s + x] = x < s / 2 ? -1.5 : 1.5;
    }
  }
  const conv = "/backbone/conv1/Conv_output_0";
  const edge = (await run(model, img, [1, 1, 3, s, s], [conv]))[conv];
  const [, , h, w] = edge.dims as number[];
  const e = edge.data as Float32Array;
  const colAbs = (ch: number, x: number): number => {
    let a = 0;
    for (let y = 4; y < h - 4; y++) a += Math.abs(e[(ch * h + y) * w + x]);
    return a / (h - 8);
  };
  // Filter responses relative to each channel's flat-region value (its BN shift).
  const flat = (ch: number): number => e[(ch * h + h / 2) * w + 4];
  const at = (ch: number) => Math.abs(colAbs(ch, w / 2) - Math.abs(flat(ch)));
  assert(at(0) > 1, `vertical-edge channel response ${at(0)}`);
  assert(at(0) > 10 * at(1), `channel 0 ${at(0)} vs channel 1 ${at(1)}: not orientation selective`);
});

Deno.test("fixtures: clips have sorted frames and a 2-per-frame gaze track on the moving bar", async () => {
  for (const clip of FIXTURE_CLIPS) {
    const files = (await listFiles(fixturePath(`clips/${clip.id}`))).sort();
    const ext = clip.format === "png" ? "png" : "jpg";
    assertEquals(files.filter((f) => f.endsWith(`.${ext}`)).length, clip.frames);
    assertEquals(files[0], `frame_0000.${ext}`);
    const rows = (await Deno.readTextFile(fixturePath(`clips/${clip.id}/gaze.csv`))).trim().split(
      "\n",
    );
    assertEquals(rows[0], "frame,x,y");
    assertEquals(rows.length - 1, 2 * clip.frames);
    for (const r of rows.slice(1)) {
      const [f, x, y] = r.split(",").map(Number);
      assert(Number.isInteger(f) && f >= 0 && f < clip.frames);
      assert(x >= 0 && x <= 1 && y >= 0 && y <= 1, `gaze out of range: ${r}`);
    }
  }
  // In c01_bars the observer follows the white bar: the gaze lands on near-white pixels.
  const rows = (await Deno.readTextFile(fixturePath("clips/c01_bars/gaze.csv"))).trim().split("\n");
  let onBar = 0;
  for (const r of rows.slice(1).filter((_, i) => i % 2 === 0)) {
    const [f, x, y] = r.split(",").map(Number);
    const file = fixturePath(`clips/c01_bars/frame_${String(f).padStart(4, "0")}.png`);
    const png = PNG.sync.read(Buffer.from(Deno.readFileSync(file)));
    let best = 0;
    for (let dy = -3; dy <= 3; dy++) {
      for (let dx = -3; dx <= 3; dx++) {
        const px = Math.min(png.width - 1, Math.max(0, Math.round(x * png.width) + dx));
        const py = Math.min(png.height - 1, Math.max(0, Math.round(y * png.height) + dy));
        const o = (py * png.width + px) * 4;
        best = Math.max(best, Math.min(png.data[o], png.data[o + 1], png.data[o + 2]));
      }
    }
    if (best > 230) onBar++;
  }
  assert(onBar >= 11, `gaze on the bar in only ${onBar} of 12 frames`);
});
