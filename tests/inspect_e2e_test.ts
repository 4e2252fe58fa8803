/**
 * End-to-end tests of `inspect`: the CLI against PyTorch forward-hook references, NumPy reading
 * the output, one forward pass for many frames, and every error case of DESIGN.md.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  HAVE_SHARED,
  haveNumpy,
  maxAbsDiff,
  python,
  ROOT,
  runScript,
  SHARED,
  skip,
  tempDir,
} from "./helpers.ts";
import { encodePlainNpy, readPlainNpy, StructuredNpyReader } from "../core/npy.ts";
import { loadOnnxModel, tapModel } from "../inspector/onnx_model.ts";
import { createSession } from "../inspector/runtime.ts";
import type { Manifest } from "../core/manifest.ts";
import { quietWaylandProbe } from "../shaders/gpu_context.ts";

const INSPECT = "scripts/inspect.ts";
const FIXTURE = join(ROOT, "fixtures", "resnet18_video.onnx");

function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** inspect with the WASM EP; files are named `features.*` whatever frames are saved. */
async function inspect(args: string[], perms?: string[]) {
  const name = args.includes("--name") ? [] : ["--name", "features"];
  return await runScript(INSPECT, ["--ep", "wasm", ...name, ...args], { permissions: perms });
}

for (const model of ["resnet18w16_video", "r3d_tiny_video"]) {
  Deno.test(`inspect: reproduces PyTorch forward-hook references (${model})`, async () => {
    if (!HAVE_SHARED) return skip("../shared is absent");
    const dir = join(SHARED, "torch", model);
    const ref = JSON.parse(await Deno.readTextFile(join(dir, "ref.json")));
    const layers = Object.keys(ref.layers);
    const out = tempDir();
    const r = await inspect([
      "--checkpoint",
      join(dir, "model.onnx"),
      "--input",
      `frames=${join(dir, "input.npy")}`,
      "--batch_idx",
      String(ref.batch_idx),
      "--timestep",
      String(ref.timestep),
      "--layers",
      ...layers,
      "--save_dir",
      out,
      "--grid_channels",
      "4",
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const manifest = JSON.parse(await Deno.readTextFile(join(out, "features.json"))) as Manifest;
    using npy = await StructuredNpyReader.open(join(out, "features.npy"));
    assert.deepEqual(npy.fieldNames, layers);
    for (const name of layers) {
      const entry = manifest.layers.find((l) => l.name === name)!;
      const want = await readPlainNpy(join(dir, ref.layers[name].ref));
      const got = await npy.readField(name, 0);
      assert.deepEqual(entry.shape, ref.layers[name].shape, name);
      assert.deepEqual(entry.tensor_shape, ref.layers[name].module_output_shape, name);
      if (model === "r3d_tiny_video") {
        assert.equal(entry.layout_kind, "b_c_t_hw");
        assert.equal(entry.time_map[ref.timestep], ref.layers[name].time_index, name);
      } else assert.equal(entry.layout_kind, "bt_chw");
      if (name === "conv1" && model === "resnet18w16_video") {
        // The pre-BN values do not exist in the exported graph: flagged, not compared.
        assert.deepEqual(entry.folded, ["bn1"]);
        assert.match(r.stdout, /conv1.*folded/);
        continue;
      }
      const err = maxAbsDiff(got, want.data);
      assert.ok(err <= 1e-4, `${model}/${name}: max abs error ${err}`);
    }
    // The model's own outputs are untouched by tapping: check the logits in the manifest run.
    assert.ok(
      manifest.layers.every((l) => l.per_frame.length === 2 && l.per_frame[0].length === 8),
    );
  });
}

Deno.test("inspect: tapping does not change the model's own outputs", async () => {
  const g = await loadOnnxModel(FIXTURE);
  const dims = [2, 3, 3, 48, 48];
  const data = Float32Array.from(
    { length: dims.reduce((a, b) => a * b) },
    (_, i) => Math.sin(i * 0.01),
  );
  await using plain = await createSession(await Deno.readFile(FIXTURE), { ep: "wasm", threads: 1 });
  const a = await plain.run({ frames: { data, dims } });
  const tensors = g.nodes.filter((n) => n.opType === "Relu").map((n) => n.outputs[0]);
  await using tapped = await createSession(tapModel(g, tensors), { ep: "wasm", threads: 1 });
  const b = await tapped.run({ frames: { data, dims } });
  assert.equal(Object.keys(b).length, 1 + tensors.length);
  const la = await a.logits.download(), lb = await b.logits.download();
  assert.equal(maxAbsDiff(la, lb), 0);
});

Deno.test("inspect: all frames from one pass equal the full tapped tensor; NumPy reads it", async () => {
  const out = tempDir();
  const r = await inspect([
    "--size",
    "48",
    "--max_len",
    "4",
    "--batch_idx",
    "all",
    "--timestep",
    "0-3",
    "--layers",
    "conv1",
    "layer2",
    "--save_dir",
    out,
    "--dtype",
    "float16",
    "--grid_channels",
    "0",
  ]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const m = JSON.parse(await Deno.readTextFile(join(out, "features.json"))) as Manifest;
  assert.deepEqual(m.targets, { batch_idx: [0, 1], timestep: [0, 1, 2, 3] });
  assert.equal(m.npy.dtype, "float16");
  assert.deepEqual(listDir(out), ["features.json", "features.npy"]);
  // Same batch through a direct tapped session: every saved frame must match.
  const g = await loadOnnxModel(FIXTURE);
  const tensor = m.layers[1].tensor;
  const { loadClips } = await import("../inspector/clips.ts");
  const clips = await loadClips("fixture", { batchSize: 2, maxLen: 4, size: 48 });
  await using s = await createSession(tapModel(g, [tensor]), { ep: "wasm", threads: 1 });
  const full = await (await s.run({ frames: { data: clips.data, dims: [...clips.shape] } }))[tensor]
    .download();
  const per = m.layers[1].shape.reduce((a, b) => a * b, 1);
  using npy = await StructuredNpyReader.open(join(out, "features.npy"));
  for (let b = 0; b < 2; b++) {
    for (let t = 0; t < 4; t++) {
      const got = await npy.readField("layer2", b * 4 + t);
      const want = full.subarray((b * 4 + t) * per, (b * 4 + t + 1) * per);
      const tol = 2e-3 * Math.max(1, ...Array.from(want, Math.abs));
      assert.ok(maxAbsDiff(got, want) <= tol, `b${b} t${t}`);
    }
  }
  if (!haveNumpy()) return skip("python3 with numpy not available: NumPy check skipped");
  const py = await python(
    `import numpy as np, json, sys
a = np.load(sys.argv[1])
print(json.dumps({"names": list(a.dtype.names), "shape": list(a.shape),
  "sub": [list(a[n][0, 0].shape) for n in a.dtype.names], "dt": a.dtype["layer2"].base.str,
  "v": float(a["layer2"][1, 3].astype(np.float64).sum())}))`,
    [join(out, "features.npy")],
  ) as { names: string[]; shape: number[]; sub: number[][]; dt: string; v: number };
  assert.deepEqual(py.names, ["conv1", "layer2"]);
  assert.deepEqual(py.shape, [2, 4]);
  assert.deepEqual(py.sub, [m.layers[0].shape, m.layers[1].shape]);
  assert.equal(py.dt, "<f2");
  const ours = (await npy.readField("layer2", 7)).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(py.v - ours) <= 1e-3 * Math.max(1, Math.abs(ours)));
});

Deno.test("inspect: default layers on fixture clips write npy, manifest and grids", async () => {
  const out = tempDir();
  const r = await inspect(["--size", "64", "--timestep", "2", "--save_dir", out]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const files = listDir(out);
  for (const l of ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]) {
    assert.ok(files.includes(`${l}_b0_t2.png`), `${l} grid missing: ${files}`);
  }
  const m = JSON.parse(await Deno.readTextFile(join(out, "features.json"))) as Manifest;
  assert.equal(m.format_version, 1);
  assert.equal(m.model.sha256.length, 64);
  assert.equal(m.backend.ep, "wasm");
  assert.ok(Array.isArray((m.data.saved_frames as unknown[][])[0]));
  const conv1 = m.layers.find((l) => l.name === "conv1")!;
  assert.deepEqual(conv1.folded, ["bn1"]);
  assert.ok(conv1.stats.std! > 0);
  assert.equal(conv1.channels.mean.length, conv1.shape[0]);
  assert.ok(!files.some((f) => f.endsWith(".tmp")));
});

Deno.test("inspect: --list_layers prints modules with shapes", async () => {
  const r = await inspect(["--list_layers", "--size", "32", "--max_len", "2"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /layer1\.0\s+\/backbone\/layer1\/layer1\.0\/relu_1\/Relu_output_0\s+Relu\s+\[2, /,
  );
  assert.match(r.stdout, /conv1 .*BN folded in: bn1/);
});

// ---- errors: one clear line, non-zero exit, nothing left behind ----

async function expectError(args: string[], pattern: RegExp, perms?: string[]) {
  const parent = tempDir();
  const out = join(parent, "out");
  const r = await inspect([...args, "--save_dir", out], perms);
  assert.notEqual(r.code, 0, `expected failure for ${args.join(" ")}`);
  const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(lines.length, 1, `one error line expected, got: ${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.deepEqual(listDir(out), [], `partial output left: ${listDir(out)}`);
}

Deno.test("inspect errors: missing, corrupt, .pth and external-data models", async () => {
  const d = tempDir();
  await expectError(["--checkpoint", join(d, "nope.onnx")], /not found: pass --checkpoint/);
  await Deno.writeFile(join(d, "bad.onnx"), new TextEncoder().encode("this is not a model at all"));
  await expectError(["--checkpoint", join(d, "bad.onnx")], /not a valid ONNX model/);
  await Deno.writeFile(join(d, "m.pth"), new Uint8Array([0x50, 0x4b, 3, 4]));
  await expectError(["--checkpoint", join(d, "m.pth")], /torch\.onnx\.export/);
  // external data: move one initializer out of the model into a file that is then missing
  const { default: onnxproto } = await import("npm:onnx-proto@8.0.1");
  // deno-lint-ignore no-explicit-any
  const { onnx } = onnxproto as any;
  const m = onnx.ModelProto.decode(await Deno.readFile(FIXTURE));
  const init = m.graph.initializer[0];
  init.dataLocation = 1;
  init.externalData = [{ key: "location", value: "weights.bin" }];
  init.rawData = new Uint8Array();
  init.floatData = [];
  await Deno.writeFile(join(d, "ext.onnx"), onnx.ModelProto.encode(m).finish());
  await expectError(["--checkpoint", join(d, "ext.onnx")], /weights\.bin.*missing/);
});

Deno.test("inspect errors: shapes, --size and target ranges", async () => {
  const d = tempDir();
  await Deno.writeFile(
    join(d, "x.npy"),
    encodePlainNpy(new Float32Array(2 * 3 * 32 * 32), [2, 3, 32, 32]),
  );
  await expectError(["--input", join(d, "x.npy")], /expects \(batch, time, 3, H, W\)|shape/);
  await expectError(
    ["--size", "32", "--max_len", "4", "--batch_idx", "5"],
    /--batch_idx 5 is out of range/,
  );
  await expectError(
    ["--size", "32", "--max_len", "4", "--timestep", "4"],
    /--timestep 4 is out of range/,
  );
  if (!HAVE_SHARED) return skip("../shared absent: --size check on a fixed-size model skipped");
  await expectError(
    ["--checkpoint", join(SHARED, "torch", "resnet18w16_video", "model.onnx"), "--size", "64"],
    /--size 64 does not fit the model: its input takes 112x112/,
  );
});

Deno.test("inspect errors: clip folders", async () => {
  const d = tempDir();
  await Deno.mkdir(join(d, "empty"));
  await expectError(["--dset", join(d, "empty"), "--size", "32"], /empty|no clips/i);
  await Deno.mkdir(join(d, "bad", "clip0"), { recursive: true });
  await Deno.writeFile(
    join(d, "bad", "clip0", "frame_0000.png"),
    new TextEncoder().encode("garbage"),
  );
  await expectError([
    "--dset",
    join(d, "bad"),
    "--size",
    "32",
    "--batch_size",
    "1",
    "--max_len",
    "1",
  ], /frame_0000\.png/);
  await expectError(["--size", "32", "--max_len", "400"], /--max_len/);
  await expectError(
    ["--dset", join(d, "missing"), "--size", "32"],
    /missing|not found|does not exist/i,
  );
});

Deno.test("inspect errors: unwritable --save_dir and a missing permission", async () => {
  const d = tempDir();
  await Deno.writeTextFile(join(d, "file"), "x");
  const r = await inspect(["--size", "32", "--max_len", "2", "--save_dir", join(d, "file")]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^error: --save_dir .* not a folder/m);
  const out = join(d, "denied");
  const r2 = await inspect(["--size", "32", "--max_len", "2", "--save_dir", out], [
    "--allow-read",
    "--allow-env",
  ]);
  assert.notEqual(r2.code, 0);
  const line = r2.stderr.trim().split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(line.length, 1, r2.stderr);
  assert.match(line[0], /--allow-write/);
  assert.deepEqual(listDir(out), []);
});

Deno.test("inspect: non-finite activations warn, are counted, and the run goes on", async () => {
  const d = tempDir();
  const dims = [1, 2, 3, 32, 32];
  const data = new Float32Array(dims.reduce((a, b) => a * b)).fill(0.5);
  data[5] = NaN;
  data[3 * 32 * 32 + 7] = Infinity;
  await Deno.writeFile(join(d, "nan.npy"), encodePlainNpy(data, dims));
  const out = join(d, "out");
  const r = await inspect([
    "--input",
    join(d, "nan.npy"),
    "--layers",
    "conv1",
    "--save_dir",
    out,
    "--grid_channels",
    "2",
  ]);
  assert.equal(r.code, 0, r.stderr);
  // Warnings go to stderr (tests/console_test.ts), results to stdout.
  assert.match(r.stderr, /warning: layer conv1 has \d+ non-finite values/);
  const m = JSON.parse(await Deno.readTextFile(join(out, "features.json"))) as Manifest;
  assert.ok(m.layers[0].stats.nonfinite > 0);
  assert.ok(m.warnings.length > 0);
});

Deno.test("inspect: WebGPU EP keeps taps on the GPU, reads back only statistics and saved frames", async () => {
  quietWaylandProbe();
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) return skip("no WebGPU adapter");
  const outs: Record<string, string> = {};
  for (const ep of ["webgpu", "wasm"]) {
    outs[ep] = tempDir();
    const r = await runScript(INSPECT, [
      "--name",
      "features",
      "--ep",
      ep,
      "--size",
      "48",
      "--max_len",
      "4",
      "--timestep",
      "1,3",
      "--layers",
      "conv1",
      "layer3",
      "--grid_channels",
      "0",
      "--save_dir",
      outs[ep],
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
  }
  const m = JSON.parse(await Deno.readTextFile(join(outs.webgpu, "features.json"))) as Manifest;
  assert.equal(m.backend.ep, "webgpu");
  const red = m.reductions as Record<string, number | string>;
  assert.equal(red.whereDeviceTensors, "webgpu");
  assert.ok((red.bytes_read_back as number) < (red.bytes_full_readback_would_be as number) / 2);
  using a = await StructuredNpyReader.open(join(outs.webgpu, "features.npy"));
  using b = await StructuredNpyReader.open(join(outs.wasm, "features.npy"));
  for (const name of ["conv1", "layer3"]) {
    for (let r = 0; r < 2; r++) {
      assert.ok(maxAbsDiff(await a.readField(name, r), await b.readField(name, r)) <= 1e-4, name);
    }
  }
  const mw = JSON.parse(await Deno.readTextFile(join(outs.wasm, "features.json"))) as Manifest;
  const sa = m.layers[1].per_frame[1][3].mean!, sb = mw.layers[1].per_frame[1][3].mean!;
  assert.ok(Math.abs(sa - sb) <= 1e-4 * Math.max(1, Math.abs(sb)));
});

Deno.test("inspect: a batch split to bound memory gives the same frames and statistics", async () => {
  const { FeatureMapInspector } = await import("../inspector/feature_map_inspector.ts");
  const { loadClips } = await import("../inspector/clips.ts");
  const clips = await loadClips("fixture", { batchSize: 2, maxLen: 4, size: 64 });
  const batch = { data: clips.data, dims: [...clips.shape] };
  const results = [];
  for (
    const [model, budget] of [[FIXTURE, undefined], [FIXTURE, 64 * 1024], [
      join(ROOT, "fixtures", "r3d_video.onnx"),
      undefined,
    ], [join(ROOT, "fixtures", "r3d_video.onnx"), 64 * 1024]] as const
  ) {
    await using insp = await FeatureMapInspector.create(model, {
      layers: model === FIXTURE ? ["conv1", "layer2"] : ["stem", "layer2"],
      ep: "wasm",
      threads: 1,
      budgetBytes: budget,
    });
    insp.setTarget({ batchIdx: "all", timestep: "1,3" });
    results.push(await insp.extractFeatures(batch));
  }
  for (const [whole, split] of [[results[0], results[1]], [results[2], results[3]]]) {
    assert.equal(whole.passes, 1);
    assert.ok(split.passes > 1, `expected a split, got ${split.passes} pass(es)`);
    for (let k = 0; k < whole.layers.length; k++) {
      const a = whole.layers[k], b = split.layers[k];
      for (let bi = 0; bi < 2; bi++) {
        for (let ti = 0; ti < 2; ti++) {
          assert.ok(maxAbsDiff(a.frames[bi][ti], b.frames[bi][ti]) <= 1e-5);
        }
      }
      for (let bb = 0; bb < 2; bb++) {
        for (let t = 0; t < 4; t++) {
          const x = a.stats.perFrame[bb][t], y = b.stats.perFrame[bb][t];
          assert.ok(
            Math.abs(x.mean - y.mean) <= 1e-5 * Math.max(1, Math.abs(x.mean)),
            `${a.name} b${bb} t${t}`,
          );
          assert.equal(x.sparsity, y.sparsity);
        }
      }
      assert.ok(Math.abs(a.stats.summary.std - b.stats.summary.std) <= 1e-5 * a.stats.summary.std);
    }
  }
});

Deno.test("inspect: a real quantized image model on real photos (clips folded into its batch)", async () => {
  if (!HAVE_SHARED) return skip("../shared is absent");
  const real = join(SHARED, "real", "mobilenetv2_int8");
  const out = tempDir();
  const r = await inspect([
    "--checkpoint",
    join(real, "model.onnx"),
    "--dset",
    join(real, "images"),
    "--batch_size",
    "1",
    "--max_len",
    "7",
    "--timestep",
    "all",
    "--layers",
    "features.3",
    "features.18",
    "--grid_channels",
    "4",
    "--save_dir",
    out,
  ]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const m = JSON.parse(await Deno.readTextFile(join(out, "features.json"))) as Manifest;
  assert.deepEqual(m.npy.shape, [1, 7]);
  assert.equal(m.layers[1].layout_kind, "bt_chw");
  assert.deepEqual(m.layers[1].shape, [1280, 7, 7]);
  assert.equal(m.layers[1].per_frame[0].length, 7);
  assert.equal(listDir(out).filter((f) => f.endsWith(".png")).length, 14);
  // Frames of different photos differ: the per-frame means are not all equal.
  const means = m.layers[1].per_frame[0].map((s) => s.mean);
  assert.ok(new Set(means).size > 1);
});

Deno.test("inspect: --list_layers on a graph without module scopes lists its tensors", async () => {
  if (!HAVE_SHARED) return skip("../shared is absent");
  const r = await inspect([
    "--list_layers",
    "--checkpoint",
    join(SHARED, "real", "mnist", "mnist.onnx"),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Pooling160_Output_0\s+Pooling160_Output_0\s+MaxPool\s+\[1, 16, 4, 4\]/);
});
