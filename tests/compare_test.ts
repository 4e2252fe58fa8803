/**
 * `compare` end to end: two real model runs (the fixture ResNet and its twin whose layer3
 * weights differ) run with onnxruntime-web (wasm), tapped at conv1 and layer1..layer4, written as
 * the structured `.npy` that inspect writes; the comparison must name layer3 as the first
 * divergent layer and its numbers must match NumPy on the same files. Also identical runs, two
 * timesteps of one run, shape mismatches, float16 vs float32, the errors, and the CLI.
 */
import assert from "node:assert/strict";
import * as ort from "npm:onnxruntime-web@1.30.0";
import onnxproto from "npm:onnx-proto@8.0.1";
import { compareFeatures, type Comparison, parseFrameRef } from "../compare/compare.ts";
import { encodePlainNpy, StructuredNpyWriter } from "../core/npy.ts";
import { InspectorError } from "../core/errors.ts";
import { buildResNetVideo, fixtureBatch } from "../fixtures/generate.ts";

const { onnx } = onnxproto;
ort.env.wasm.numThreads = 1;

const ROOT = new URL("..", import.meta.url).pathname;
const LAYERS = ["conv1", "layer1", "layer2", "layer3", "layer4"];
const TIMESTEPS = [0, 3];

/** Add the outputs of modules `layers` (last node of each `/backbone/<layer>/` scope) as graph outputs. */
function tapLayers(
  bytes: Uint8Array,
  layers: readonly string[],
): { bytes: Uint8Array; taps: string[] } {
  const model = onnx.ModelProto.decode(bytes);
  const nodes = model.graph!.node!;
  const taps = layers.map((layer) => {
    const scope = `/backbone/${layer}/`;
    const inside = nodes.filter((n) => (n.name ?? "").startsWith(scope));
    assert.ok(inside.length, `no node in scope ${scope}`);
    return inside[inside.length - 1].output![0];
  });
  model.graph!.output!.push(...taps.map((name) => onnx.ValueInfoProto.create({ name })));
  return { bytes: onnx.ModelProto.encode(model).finish(), taps };
}

interface Run {
  fields: { name: string; shape: number[]; data: Float32Array }[];
  batch: number;
  time: number;
}

async function runModel(
  bytes: Uint8Array,
  input: { data: Float32Array; shape: number[] },
): Promise<Run> {
  const { bytes: tapped, taps } = tapLayers(bytes, LAYERS);
  const session = await ort.InferenceSession.create(tapped, { executionProviders: ["wasm"] });
  try {
    const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", input.data, input.shape) };
    const out = await session.run(feeds);
    const [B, T] = input.shape;
    const fields = LAYERS.map((name, i) => {
      const t = out[taps[i]];
      assert.equal(t.dims[0], B * T, `${name} is (B*T, C, H, W)`);
      return { name, shape: t.dims.slice(1) as number[], data: t.data as Float32Array };
    });
    return { fields, batch: B, time: T };
  } finally {
    await session.release();
  }
}

/** Write a run as inspect does: records (b, t), optionally with a manifest beside it. */
async function writeRun(
  path: string,
  run: Run,
  options: { manifest?: boolean; scalar?: "f4" | "f2"; model?: string; ep?: string } = {},
): Promise<void> {
  const w = await StructuredNpyWriter.create(path, {
    shape: [run.batch, run.time],
    fields: run.fields.map((f) => ({
      name: f.name,
      scalar: options.scalar ?? "f4",
      shape: f.shape,
    })),
  });
  for (const f of run.fields) {
    const per = f.shape.reduce((a, b) => a * b, 1);
    for (let r = 0; r < run.batch * run.time; r++) {
      await w.writeField(f.name, r, f.data.subarray(r * per, (r + 1) * per));
    }
  }
  await w.commit();
  if (options.manifest) {
    await Deno.writeTextFile(
      path.replace(/\.npy$/, ".json"),
      JSON.stringify({
        format: "feature-inspector/manifest",
        model: { path: options.model ?? "model.onnx", sha256: "0".repeat(64) },
        backend: { ep: options.ep ?? "wasm" },
        targets: {
          batch_idx: Array.from({ length: run.batch }, (_, i) => i),
          timestep: TIMESTEPS.slice(0, run.time),
        },
        layers: run.fields.map((f) => ({ name: f.name, shape: f.shape })),
      }),
    );
  }
}

let cached: { base: Run; perturbed: Run } | null = null;

/** The fixture model and its layer3-perturbed twin on the same fixture clips (frames 0 and 3). */
async function modelRuns(): Promise<{ base: Run; perturbed: Run }> {
  if (cached) return cached;
  const input = fixtureBatch({ frames: TIMESTEPS, size: 64 });
  // Both from the generator, so that only layer3's weights differ even while fixtures change.
  const baseBytes = buildResNetVideo();
  const perturbedBytes = buildResNetVideo({ perturb: "layer3" });
  const base = await runModel(baseBytes, { data: input.data, shape: input.shape });
  const perturbed = await runModel(perturbedBytes, { data: input.data, shape: input.shape });
  cached = { base, perturbed };
  return cached;
}

async function hasNumpy(): Promise<boolean> {
  try {
    return (await new Deno.Command("python3", { args: ["-c", "import numpy"], stderr: "null" })
      .output()).success;
  } catch {
    return false;
  }
}

/** NumPy's view of a comparison: overall metrics over concatenated frames, mean per-frame CKA. */
const NUMPY_COMPARE = `
import json, sys
import numpy as np
a = np.load(sys.argv[1]); b = np.load(sys.argv[2])
pairs = json.loads(sys.argv[3])
wanted = json.loads(sys.argv[4])
out = {}
def cka(x, y):
    X = x.reshape(x.shape[0], -1).T.astype(np.float64); Y = y.reshape(y.shape[0], -1).T.astype(np.float64)
    X = X - X.mean(0); Y = Y - Y.mean(0)
    return float(np.linalg.norm(Y.T @ X) ** 2 / (np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y)))
for name in wanted:
    fa = [a[name].reshape(-1, *a.dtype[name].shape)[i].astype(np.float64) for i, _ in pairs]
    fb = [b[name].reshape(-1, *b.dtype[name].shape)[j].astype(np.float64) for _, j in pairs]
    r = {'cka_frames': [cka(x, y) for x, y in zip(fa, fb)] if fa[0].shape[1:] == fb[0].shape[1:] else None}
    if fa[0].shape == fb[0].shape:
        x = np.concatenate([f.ravel() for f in fa]); y = np.concatenate([f.ravel() for f in fb])
        r['rel_l2'] = float(np.linalg.norm(x - y) / np.linalg.norm(x))
        r['cosine'] = float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))
        r['pearson'] = float(np.corrcoef(x, y)[0, 1])
        r['max_abs_diff'] = float(np.abs(x - y).max())
        r['mean_abs_diff'] = float(np.abs(x - y).mean())
        r['rel_l2_frames'] = [float(np.linalg.norm(p - q) / np.linalg.norm(p)) for p, q in zip(fa, fb)]
    out[name] = r
print(json.dumps(out))
`;

function near(actual: number | null, expected: number, what: string, rel = 1e-5): void {
  assert.ok(actual !== null, `${what}: null, numpy ${expected}`);
  assert.ok(
    Math.abs(actual - expected) <= rel * Math.max(Math.abs(expected), 1e-30),
    `${what}: ${actual} vs numpy ${expected}`,
  );
}

async function checkAgainstNumpy(cmp: Comparison, aPath: string, bPath: string): Promise<void> {
  if (!(await hasNumpy())) {
    console.warn("SKIP: python3 with numpy not found; comparison numbers not cross-checked");
    return;
  }
  const pairs = cmp.frames.map((p) => [p.a.record, p.b.record]);
  const out = await new Deno.Command("python3", {
    args: [
      "-c",
      NUMPY_COMPARE,
      aPath,
      bPath,
      JSON.stringify(pairs),
      JSON.stringify(cmp.layer_order),
    ],
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const ref = JSON.parse(new TextDecoder().decode(out.stdout));
  for (const layer of cmp.layer_order) {
    const r = cmp.layers[layer], n = ref[layer];
    if (n.cka_frames) {
      n.cka_frames.forEach((v: number, i: number) =>
        near(r.per_frame.cka[i], v, `${layer} cka[${i}]`)
      );
      const mean = n.cka_frames.reduce((s: number, v: number) => s + v, 0) / n.cka_frames.length;
      near(r.cka, mean, `${layer} cka (mean over frames)`);
    }
    if (n.rel_l2 === undefined) continue;
    if (n.rel_l2 === 0) {
      assert.equal(r.rel_l2, 0, `${layer} rel_l2`);
      assert.equal(r.max_abs_diff, 0, `${layer} max_abs_diff`);
      continue;
    }
    for (const k of ["rel_l2", "cosine", "pearson", "max_abs_diff", "mean_abs_diff"] as const) {
      near(r[k], n[k], `${layer} ${k}`);
    }
    n.rel_l2_frames.forEach((v: number, i: number) =>
      near(r.per_frame.rel_l2[i], v, `${layer} rel_l2[${i}]`)
    );
  }
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "compare_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function pngSize(bytes: Uint8Array): [number, number] {
  assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG");
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  return [dv.getUint32(16), dv.getUint32(20)];
}

Deno.test("perturbed layer3: first_divergent is layer3, numbers match NumPy, files written", async () => {
  const { base, perturbed } = await modelRuns();
  await withTempDir(async (dir) => {
    await writeRun(`${dir}/base.npy`, base, { manifest: true, model: "resnet18_video.onnx" });
    await writeRun(`${dir}/pert.npy`, perturbed, {
      manifest: true,
      model: "resnet18_video_layer3.onnx",
    });
    const cmp = await compareFeatures(`${dir}/base.npy`, `${dir}/pert.npy`, {
      saveDir: `${dir}/cmp`,
    });
    assert.equal(cmp.first_divergent, "layer3");
    assert.deepEqual(cmp.layer_order, LAYERS);
    assert.equal(cmp.frames.length, base.batch * base.time);
    assert.equal(cmp.pairing, "targets");
    for (const l of ["conv1", "layer1", "layer2"]) {
      assert.equal(cmp.layers[l].rel_l2, 0, `${l} is untouched`);
      assert.equal(cmp.layers[l].exceeds_tolerance, false);
      assert.equal(cmp.layers[l].cka, 1);
    }
    for (const l of ["layer3", "layer4"]) {
      assert.ok(cmp.layers[l].rel_l2! > 1e-2, `${l} differs: ${cmp.layers[l].rel_l2}`);
      assert.equal(cmp.layers[l].exceeds_tolerance, true);
    }
    assert.equal(cmp.a.name, "resnet18_video.onnx");
    assert.equal(cmp.b.name, "resnet18_video_layer3.onnx");
    await checkAgainstNumpy(cmp, `${dir}/base.npy`, `${dir}/pert.npy`);

    // Files: the JSON has the documented shape, every PNG is a real picture.
    const json = JSON.parse(await Deno.readTextFile(`${dir}/cmp/comparison.json`));
    assert.equal(json.first_divergent, "layer3");
    assert.deepEqual(json.only_in_a, []);
    assert.deepEqual(json.only_in_b, []);
    for (const k of ["rel_l2", "cosine", "pearson", "cka", "max_abs_diff", "shape_a", "shape_b"]) {
      assert.ok(k in json.layers.layer3, `comparison.json layers.layer3.${k}`);
    }
    assert.equal(json.layers.layer3.per_frame.rel_l2.length, cmp.frames.length);
    const names = [...Deno.readDirSync(`${dir}/cmp`)].map((e) => e.name).sort();
    assert.deepEqual(
      names,
      [
        "comparison.json",
        "comparison.png",
        ...LAYERS.map((l) => `comparison_${l}.png`),
        "comparison_temporal.png",
      ].sort(),
    );
    for (const n of names.filter((n) => n.endsWith(".png"))) {
      const [w, h] = pngSize(await Deno.readFile(`${dir}/cmp/${n}`));
      assert.ok(w > 400 && h > 200, `${n} is ${w}x${h}`);
    }
    // The tolerance decides: with a huge one nothing diverges.
    const loose = await compareFeatures(`${dir}/base.npy`, `${dir}/pert.npy`, {
      tolerance: 10,
      write: false,
    });
    assert.equal(loose.first_divergent, null);
  });
});

Deno.test("identical runs: rel_l2 0, cosine 1, cka 1, first_divergent null (float16 vs float32 readable)", async () => {
  const { base } = await modelRuns();
  await withTempDir(async (dir) => {
    await writeRun(`${dir}/a.npy`, base);
    await writeRun(`${dir}/b.npy`, base);
    const cmp = await compareFeatures(`${dir}/a.npy`, `${dir}/b.npy`, { write: false });
    assert.equal(cmp.first_divergent, null);
    assert.equal(cmp.pairing, "records");
    for (const l of LAYERS) {
      const r = cmp.layers[l];
      assert.equal(r.rel_l2, 0);
      assert.equal(r.max_abs_diff, 0);
      assert.ok(Math.abs(r.cosine! - 1) < 1e-12, `${l} cosine ${r.cosine}`);
      assert.ok(Math.abs(r.pearson! - 1) < 1e-12, `${l} pearson ${r.pearson}`);
      assert.equal(r.cka, 1, `${l} cka`);
    }
    assert.equal(cmp.a.name, "a");
    assert.equal(cmp.b.name, "b");

    // float16 copy: readable, small drift reported, still within a 1e-2 tolerance.
    await writeRun(`${dir}/h.npy`, base, { scalar: "f2" });
    const half = await compareFeatures(`${dir}/a.npy`, `${dir}/h.npy`, {
      write: false,
      tolerance: 1e-2,
    });
    assert.equal(half.layers.layer2.dtype_b, "f2");
    assert.ok(half.layers.layer2.notes.some((n) => n.includes("dtypes differ")));
    for (const l of LAYERS) {
      const r = half.layers[l].rel_l2!;
      assert.ok(r > 0 && r < 1e-3, `${l} float16 rel_l2 ${r}`);
    }
    assert.equal(half.first_divergent, null);
    await checkAgainstNumpy(half, `${dir}/a.npy`, `${dir}/h.npy`);
  });
});

Deno.test("two timesteps of one run: --a_frame 0,0 --b_frame 0,3", async () => {
  const { base } = await modelRuns();
  await withTempDir(async (dir) => {
    await writeRun(`${dir}/run.npy`, base, { manifest: true });
    const p = `${dir}/run.npy`;
    const cmp = await compareFeatures(p, p, {
      aFrame: parseFrameRef("0,0"),
      bFrame: parseFrameRef("0,3", "--b_frame"),
      saveDir: `${dir}/cmp`,
      layers: ["conv1", "layer4"],
    });
    assert.equal(cmp.pairing, "explicit");
    assert.deepEqual(cmp.frames, [{
      a: { record: 0, batch_idx: 0, timestep: 0 },
      b: { record: 1, batch_idx: 0, timestep: 3 },
    }]);
    assert.ok(cmp.layers.conv1.rel_l2! > 0.01, "frames 0 and 3 differ");
    assert.match(cmp.a.name, /\(b0, t0\)$/);
    assert.match(cmp.b.name, /\(b0, t3\)$/);
    await checkAgainstNumpy(cmp, p, p);
    // One frame pair: no temporal chart.
    assert.deepEqual(cmp.files.sort(), [
      "comparison.json",
      "comparison.png",
      "comparison_conv1.png",
      "comparison_layer4.png",
    ]);
    // Timestep values come from the manifest: 1 is not a saved timestep.
    await assert.rejects(
      compareFeatures(p, p, {
        aFrame: { batch: 0, timestep: 0 },
        bFrame: { batch: 0, timestep: 1 },
        write: false,
      }),
      /has no timestep 1; saved: 0, 3/,
    );
    // One run, --a_frame only: that frame against every timestep of the sample.
    const sweep = await compareFeatures(p, p, { aFrame: { batch: 1, timestep: 3 }, write: false });
    assert.equal(sweep.pairing, "sweep");
    assert.deepEqual(sweep.frames.map((f) => [f.a.record, f.b.record]), [[3, 2], [3, 3]]);
    assert.deepEqual(sweep.layers.layer2.per_frame.rel_l2.map((v) => v! > 0), [true, false]);
    await checkAgainstNumpy(sweep, p, p);
    // Without the manifest they are positions in the (batch, time) grid.
    await Deno.remove(`${dir}/run.json`);
    const pos = await compareFeatures(p, p, {
      aFrame: { batch: 2, timestep: 0 },
      bFrame: { batch: 2, timestep: 1 },
      write: false,
    });
    assert.deepEqual(pos.frames[0].b, { record: 5, batch_idx: 2, timestep: 1 });
    await checkAgainstNumpy(pos, p, p);
  });
});

/** Small synthetic structured file. */
async function writeSynthetic(
  path: string,
  grid: [number, number],
  fields: {
    name: string;
    shape: number[];
    scalar?: "f4" | "f2";
    fill?: (i: number, r: number) => number;
  }[],
): Promise<void> {
  const w = await StructuredNpyWriter.create(path, {
    shape: grid,
    fields: fields.map((f) => ({ name: f.name, scalar: f.scalar ?? "f4", shape: f.shape })),
  });
  for (const f of fields) {
    const n = f.shape.reduce((a, b) => a * b, 1);
    for (let r = 0; r < grid[0] * grid[1]; r++) {
      await w.writeField(
        f.name,
        r,
        Float32Array.from(
          { length: n },
          (_, i) => f.fill ? f.fill(i, r) : Math.sin(i * 0.37 + r) + (i % 7) * 0.1,
        ),
      );
    }
  }
  await w.commit();
}

Deno.test("shape mismatches, layers in one run only, non-finite values, --layers", async () => {
  await withTempDir(async (dir) => {
    const mix = (i: number, r: number) => Math.cos(i * 0.11 + r) * ((i % 5) + 1);
    await writeSynthetic(`${dir}/a.npy`, [1, 2], [
      { name: "stem", shape: [4, 6, 6] },
      { name: "wide", shape: [4, 5, 5] },
      { name: "small", shape: [4, 6, 6] },
      { name: "gone", shape: [2, 2, 2] },
      { name: "zero", shape: [2, 3, 3], fill: () => 0 },
    ]);
    await writeSynthetic(`${dir}/b.npy`, [1, 2], [
      {
        name: "stem",
        shape: [4, 6, 6],
        fill: (i, r) => (i === 3 && r === 1 ? NaN : Math.sin(i * 0.37 + r) + (i % 7) * 0.1),
      },
      { name: "wide", shape: [8, 5, 5], fill: mix },
      { name: "small", shape: [4, 3, 3] },
      { name: "new", shape: [2, 2, 2] },
      { name: "zero", shape: [2, 3, 3], fill: () => 0 },
    ]);
    const cmp = await compareFeatures(`${dir}/a.npy`, `${dir}/b.npy`, { saveDir: `${dir}/cmp` });
    assert.deepEqual(cmp.only_in_a, ["gone"]);
    assert.deepEqual(cmp.only_in_b, ["new"]);
    assert.deepEqual(cmp.layer_order, ["stem", "wide", "small", "zero"]);
    // NaN in B where A is finite: counted, metrics on finite pairs, and it counts as divergence.
    const stem = cmp.layers.stem;
    assert.equal(stem.nonfinite_b, 1);
    assert.equal(stem.nonfinite_mismatch, 1);
    assert.equal(stem.rel_l2, 0);
    assert.equal(stem.exceeds_tolerance, true);
    assert.equal(cmp.first_divergent, "stem");
    assert.ok(stem.notes.some((n) => n.includes("non-finite")));
    // Different channel counts: CKA only.
    const wide = cmp.layers.wide;
    assert.equal(wide.comparable, "cka_only");
    assert.equal(wide.rel_l2, null);
    assert.ok(wide.cka !== null && wide.cka > 0 && wide.cka <= 1);
    assert.deepEqual([wide.shape_a, wide.shape_b], [[4, 5, 5], [8, 5, 5]]);
    // Different spatial sizes: not comparable, said so.
    const small = cmp.layers.small;
    assert.equal(small.comparable, "none");
    assert.equal(small.cka, null);
    assert.ok(small.notes.some((n) => n.includes("not comparable")));
    // All zeros on both sides: rel_l2 undefined, not divergent.
    assert.equal(cmp.layers.zero.rel_l2, null);
    assert.equal(cmp.layers.zero.exceeds_tolerance, false);
    assert.ok(cmp.layers.zero.notes.some((n) => n.includes("||A|| = 0")));
    await checkAgainstNumpy(
      { ...cmp, layer_order: ["wide", "small"] },
      `${dir}/a.npy`,
      `${dir}/b.npy`,
    );
    const written = [...Deno.readDirSync(`${dir}/cmp`)].map((e) => e.name);
    assert.ok(written.includes("comparison_small.png") && written.includes("comparison_wide.png"));

    // --layers: names and globs; a name in neither run is an error.
    const sel = await compareFeatures(`${dir}/a.npy`, `${dir}/b.npy`, {
      layers: ["s*"],
      write: false,
    });
    assert.deepEqual(sel.layer_order, ["stem", "small"]);
    await assert.rejects(
      compareFeatures(`${dir}/a.npy`, `${dir}/b.npy`, { layers: ["layer9"], write: false }),
      /options\.layers 'layer9' is in neither run/,
    );
    await assert.rejects(
      compareFeatures(`${dir}/a.npy`, `${dir}/b.npy`, { layers: ["gone"], write: false }),
      /no common layers/,
    );
  });
});

Deno.test("errors are one clear line and leave nothing behind", async () => {
  await withTempDir(async (dir) => {
    await writeSynthetic(`${dir}/a.npy`, [1, 2], [{ name: "x", shape: [2, 3, 3] }]);
    await writeSynthetic(`${dir}/c.npy`, [2, 3], [{ name: "x", shape: [2, 3, 3] }]);
    await writeSynthetic(`${dir}/d.npy`, [1, 1], [{ name: "y", shape: [2, 3, 3] }]);
    await Deno.writeFile(`${dir}/plain.npy`, encodePlainNpy(new Float32Array(4), [4]));
    await Deno.writeTextFile(`${dir}/text.npy`, "hello");
    const cases: [() => Promise<unknown>, RegExp][] = [
      [() => compareFeatures(`${dir}/missing.npy`, `${dir}/a.npy`), /missing\.npy not found/],
      [
        () => compareFeatures(`${dir}/a.npy`, `${dir}/plain.npy`),
        /plain f4 array, not the structured/,
      ],
      [() => compareFeatures(`${dir}/text.npy`, `${dir}/a.npy`), /not a NumPy \.npy file/],
      [
        () => compareFeatures(`${dir}/a.npy`, `${dir}/d.npy`, { saveDir: `${dir}/out` }),
        /no common layers/,
      ],
      [
        () => compareFeatures(`${dir}/a.npy`, `${dir}/c.npy`, { saveDir: `${dir}/out` }),
        /different frame grids \(A 1x2, B 2x3\).*options\.aFrame B,T options\.bFrame B,T/,
      ],
      [
        () =>
          compareFeatures(`${dir}/a.npy`, `${dir}/c.npy`, { aFrame: { batch: 1, timestep: 0 } }),
        /run A .* has no batch index 1/,
      ],
      [
        () => compareFeatures(`${dir}/a.npy`, `${dir}/a.npy`, { tolerance: -1 }),
        /options\.tolerance -1/,
      ],
    ];
    for (const [p, re] of cases) {
      await assert.rejects(p(), (err: unknown) => {
        assert.ok(err instanceof InspectorError, String(err));
        assert.match(err.message, re);
        assert.ok(!err.message.includes("\n"), "one line");
        return true;
      });
    }
    assert.throws(() => parseFrameRef("0-4"), /options\.aFrame '0-4' is not a frame/);
    assert.ok(!(await Deno.stat(`${dir}/out`).catch(() => null)), "no output folder on error");
    // Mismatched grids work with explicit frames.
    const ok = await compareFeatures(`${dir}/a.npy`, `${dir}/c.npy`, {
      aFrame: { batch: 0, timestep: 1 },
      bFrame: { batch: 1, timestep: 2 },
      write: false,
    });
    assert.deepEqual(ok.frames[0].b, { record: 5, batch_idx: 1, timestep: 2 });
  });
});

Deno.test("CLI: --help, a real run, and an error as one line with a non-zero exit", async () => {
  const { base, perturbed } = await modelRuns();
  await withTempDir(async (dir) => {
    await writeRun(`${dir}/base.npy`, base);
    await writeRun(`${dir}/pert.npy`, perturbed);
    const cli = (...args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          `${ROOT}scripts/compare.ts`,
          ...args,
        ],
        cwd: dir,
      }).output();
    const help = await cli("--help");
    assert.equal(help.code, 0);
    assert.match(new TextDecoder().decode(help.stdout), /--a_frame/);
    const run = await cli(
      "base.npy",
      "pert.npy",
      "--save-dir",
      "out",
      "--layers",
      "layer2",
      "layer3",
      "--quiet",
    );
    const text = new TextDecoder().decode(run.stdout);
    assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
    assert.match(text, /first divergent layer: layer3/);
    const json = JSON.parse(await Deno.readTextFile(`${dir}/out/comparison.json`));
    assert.deepEqual(Object.keys(json.layers), ["layer2", "layer3"]);
    const bad = await cli("base.npy", "nope.npy");
    const err = new TextDecoder().decode(bad.stderr).trim();
    assert.notEqual(bad.code, 0);
    assert.match(err, /^error: \/.*\/nope\.npy not found/);
    assert.equal(err.split("\n").length, 1);
    const flag = await cli("base.npy", "pert.npy", "--bogus");
    assert.notEqual(flag.code, 0);
    assert.match(new TextDecoder().decode(flag.stderr), /^error: .*bogus.*\(see --help\)/);
  });
});
