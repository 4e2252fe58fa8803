import assert from "node:assert";
import { join } from "node:path";
import { analyzeFeatures } from "../analysis/analyze.ts";
import type { AnalysisSummary } from "../analysis/analyze.ts";
import { decodeImage } from "../inspector/image_io.ts";
import { quietWaylandProbe } from "../shaders/gpu_context.ts";
import { encodePlainNpy, readPlainNpy, StructuredNpyWriter } from "../core/npy.ts";
import { HAVE_SHARED, haveNumpy, python, runScript, SHARED, skip, tempDir } from "./helpers.ts";
import { R3D_LAYERS, RESNET_LAYERS, type SyntheticLayer, writeSynthetic } from "./analyze_data.ts";

/** NumPy's statistics of every field of a structured .npy, computed independently. */
const NUMPY_REFERENCE = `
import json, sys
import numpy as np
a = np.load(sys.argv[1])
out = {}
def f(x):
    x = float(x)
    return x if np.isfinite(x) else None
names = sys.argv[2].split(",") if len(sys.argv) > 2 else a.dtype.names
for name in names:
    v = a[name].astype(np.float64)
    C = v.shape[2] if v.ndim > 2 else 1
    v = v.reshape(-1, C, int(np.prod(v.shape[3:])) if v.ndim > 3 else 1)  # (R, C, positions)
    fin = np.isfinite(v)
    x = v[fin]
    ch = []
    for c in range(C):
        vc = v[:, c, :]
        xc = vc[np.isfinite(vc)]
        ch.append([f(xc.mean()) if xc.size else None, f(xc.std()) if xc.size else None,
                   f(xc.max()) if xc.size else None, float((vc == 0).mean())])
    hist = np.histogram(x, bins=60, range=(x.min(), x.max()))[0].tolist()
    fshape = a.dtype[name].shape
    H = fshape[-2] if len(fshape) >= 3 else 1
    W = fshape[-1] if len(fshape) >= 2 else 1
    m = v.reshape(v.shape[0], C, -1, H * W).transpose(0, 1, 2, 3).reshape(-1, H * W)
    m = np.where(np.isfinite(m), m, np.nan)
    out[name] = {
        "shape": list(fshape),
        "mean": f(x.mean()), "std": f(x.std()), "min": f(x.min()), "max": f(x.max()),
        "sparsity": float((v == 0).mean()), "nonfinite": int((~fin).sum()), "count": int(v.size),
        "quantiles": dict(zip(["p1", "p5", "p25", "p50", "p75", "p95", "p99"],
                              [float(q) for q in np.percentile(x, [1, 5, 25, 50, 75, 95, 99])])),
        "channels": {"mean": [c[0] for c in ch], "std": [c[1] for c in ch],
                     "max": [c[2] for c in ch], "sparsity": [c[3] for c in ch]},
        "dead": [c for c in range(C) if (v[:, c, :] == 0).all()],
        "hist": hist,
        "spatial_mean": np.nanmean(m, axis=0).tolist(),
        "spatial_max": np.nanmax(m, axis=0).tolist(),
        "spatial_std": np.nanstd(m, axis=0).tolist(),
        "per_frame_mean": [f(np.nanmean(np.where(np.isfinite(r), r, np.nan))) for r in v],
    }
print(json.dumps(out))
`;

type Ref = Record<string, {
  shape: number[];
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
  sparsity: number;
  nonfinite: number;
  count: number;
  quantiles: Record<string, number>;
  channels: Record<"mean" | "std" | "max" | "sparsity", (number | null)[]>;
  dead: number[];
  hist: number[];
  spatial_mean: number[];
  spatial_max: number[];
  spatial_std: number[];
  per_frame_mean: (number | null)[];
}>;

/** |a - b| <= rel * max(|b|, scale) — relative 1e-5, with near-zero values judged against the layer's scale. */
function close(a: number | null, b: number | null, what: string, scale: number, rel = 1e-5): void {
  if (b === null || a === null) {
    assert.strictEqual(a, b, `${what}: ${a} vs NumPy ${b}`);
    return;
  }
  const tol = rel * Math.max(Math.abs(b), scale);
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs NumPy ${b} (tolerance ${tol})`);
}

function closeAll(
  a: readonly (number | null)[],
  b: readonly (number | null)[],
  what: string,
  scale: number,
): void {
  assert.strictEqual(a.length, b.length, `${what}: length`);
  a.forEach((x, i) => close(x, b[i], `${what}[${i}]`, scale));
}

async function checkAgainstNumpy(
  npy: string,
  summary: AnalysisSummary,
  fields?: string[],
): Promise<void> {
  const ref = await python(NUMPY_REFERENCE, [npy, ...(fields ? [fields.join(",")] : [])]) as Ref;
  assert.deepStrictEqual(Object.keys(summary.layers).sort(), Object.keys(ref).sort());
  for (const [name, r] of Object.entries(ref)) {
    const s = summary.layers[name];
    const scale = Math.max(Math.abs(r.min ?? 0), Math.abs(r.max ?? 0)) * 1e-2;
    assert.deepStrictEqual(s.shape, r.shape, `${name}: shape`);
    assert.strictEqual(s.count, r.count, `${name}: count`);
    assert.strictEqual(s.nonfinite, r.nonfinite, `${name}: nonfinite`);
    for (const k of ["mean", "std", "min", "max", "sparsity"] as const) {
      close(s[k], r[k], `${name}.${k}`, scale);
    }
    // Quantiles are exact (sorted values, linear interpolation): hold them to 1e-6.
    for (const [k, v] of Object.entries(r.quantiles)) {
      close(s.quantiles[k as keyof typeof s.quantiles], v, `${name}.quantiles.${k}`, scale, 1e-6);
    }
    for (const k of ["mean", "std", "max", "sparsity"] as const) {
      closeAll(s.channels[k], r.channels[k], `${name}.channels.${k}`, scale);
    }
    assert.deepStrictEqual(s.dead_channels, r.dead, `${name}: dead channels`);
    assert.deepStrictEqual(
      (s.plots.histogram as { counts: number[] }).counts,
      r.hist,
      `${name}: histogram counts`,
    );
    const sp = s.plots.spatial as Record<string, (number | null)[]>;
    closeAll(sp.mean, r.spatial_mean, `${name}.spatial.mean`, scale);
    closeAll(sp.max, r.spatial_max, `${name}.spatial.max`, scale);
    closeAll(sp.std, r.spatial_std, `${name}.spatial.std`, scale);
    closeAll(
      (s.plots.per_frame as { mean: number | null }[]).map((p) => p.mean),
      r.per_frame_mean,
      `${name}.per_frame.mean`,
      scale,
    );
  }
}

/** Every PNG decodes, has sensible dimensions and is not blank. */
async function checkPngs(dir: string, summary: AnalysisSummary): Promise<void> {
  const pngs = summary.files.filter((f) => f.endsWith(".png"));
  const n = Object.keys(summary.layers).length;
  assert.ok(pngs.length >= 3 * n + 1, `expected >= ${3 * n + 1} PNGs, got ${pngs.length}`);
  for (const f of pngs) {
    const img = decodeImage(await Deno.readFile(join(dir, f)), { name: f });
    assert.ok(img.width >= 600 && img.width <= 6000, `${f}: width ${img.width}`);
    assert.ok(img.height >= 250 && img.height <= 6000, `${f}: height ${img.height}`);
    // Not blank: luminance variance and a real share of non-white pixels.
    let sum = 0, sq = 0, ink = 0;
    const px = img.width * img.height;
    for (let i = 0; i < px; i++) {
      const l = 0.299 * img.data[4 * i] + 0.587 * img.data[4 * i + 1] + 0.114 * img.data[4 * i + 2];
      sum += l;
      sq += l * l;
      if (l < 200) ink++;
    }
    const variance = sq / px - (sum / px) ** 2;
    assert.ok(variance > 100, `${f}: looks blank (luminance variance ${variance.toFixed(1)})`);
    assert.ok(ink / px > 0.01, `${f}: only ${(100 * ink / px).toFixed(2)} % of pixels are drawn`);
  }
}

async function listDir(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

const SMALL_RESNET: SyntheticLayer[] = [
  { ...RESNET_LAYERS[0], shape: [8, 28, 28] }, // conv1 (folded bn1): dense, no zeros
  RESNET_LAYERS[2], // layer1: ReLU, dead channel 3
  { name: "layer3", shape: [32, 7, 7], kind: "relu", scale: 2.5, nonfinite: 2 },
  RESNET_LAYERS[5], // layer4: (128, 4, 4)
];

Deno.test("analyze: folded-BN ResNet-like file — summary.json matches NumPy, PNGs, flags, html", async () => {
  const dir = tempDir();
  try {
    const npy = await writeSynthetic(join(dir, "features.npy"), {
      records: [1, 3],
      layers: SMALL_RESNET,
    });
    const save = join(dir, "report");
    const summary = await analyzeFeatures(npy, { saveDir: save });
    const onDisk = JSON.parse(
      await Deno.readTextFile(join(save, "summary.json")),
    ) as AnalysisSummary;
    assert.deepStrictEqual(
      onDisk.layers.layer1.channels.sparsity,
      summary.layers.layer1.channels.sparsity,
    );
    assert.deepStrictEqual(await listDir(save), [...summary.files].sort());
    assert.ok(summary.files.includes("temporal.png"), "3 saved frames must give temporal.png");
    if (haveNumpy()) await checkAgainstNumpy(npy, onDisk);
    else skip("python3 with numpy not found: summary numbers not checked against NumPy");
    await checkPngs(save, summary);

    const codes = (l: string) => summary.layers[l].flags.map((f) => f.code);
    assert.deepStrictEqual(codes("conv1"), ["low_mean", "too_dense"]);
    assert.deepStrictEqual(codes("layer1"), ["dead_channels"]);
    assert.ok(codes("layer3").includes("nonfinite"));
    assert.match(summary.layers.layer1.flags[0].message, /1 of 16 channels .* 3\./);

    const html = await Deno.readTextFile(join(save, "index.html"));
    assert.ok(
      html.indexOf("Health flags") < html.indexOf("layer1_distribution.png"),
      "flags on top",
    );
    for (const f of summary.files.filter((f) => f.endsWith(".png"))) {
      assert.ok(html.includes(`src="${f}"`), `index.html lacks ${f}`);
    }
    assert.ok(!/(src|href)="(\/|[a-z]+:)/.test(html), "links must be relative");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("analyze: 3D-CNN-like file with a manifest (gaze, whole-sequence stats) and --layers", async () => {
  const dir = tempDir();
  try {
    const layers = R3D_LAYERS.filter((l) => ["stem", "layer3", "layer4"].includes(l.name));
    const npy = await writeSynthetic(join(dir, "run.npy"), { records: [2, 1], layers, seed: 3 });
    const perFrame = (m: number) =>
      [0, 1].map((b) =>
        Array.from({ length: 8 }, (_, t) => ({ mean: m + 0.1 * t + b, sparsity: 0.5 - 0.02 * t }))
      );
    await Deno.writeTextFile(
      join(dir, "run.json"),
      JSON.stringify({
        targets: { batch_idx: [0, 1], timestep: [5] },
        layers: layers.map((l, i) => ({
          name: l.name,
          layout: "(B, C, T', H, W)",
          tensor: `/backbone/${l.name}/Relu_output_0`,
          per_frame: perFrame(i),
        })),
        data: { saved_frames: [[{ gaze: [{ x: 0.3, y: 0.6 }] }], [{ gaze: [] }]] },
      }),
    );
    const save = join(dir, "out");
    const summary = await analyzeFeatures(npy, {
      saveDir: save,
      layers: ["layer4", "stem"],
      logCounts: true,
    });
    assert.deepStrictEqual(Object.keys(summary.layers), ["layer4", "stem"]);
    assert.strictEqual(summary.manifest, join(dir, "run.json"));
    assert.deepStrictEqual(summary.records, { shape: [2, 1], batch_idx: [0, 1], timestep: [5] });
    assert.deepStrictEqual((summary.layers.stem.plots.spatial as { gaze: unknown }).gaze, [{
      x: 0.3,
      y: 0.6,
    }]);
    assert.strictEqual(summary.layers.stem.manifest?.layout, "(B, C, T', H, W)");
    // Whole-sequence statistics from the manifest drive the temporal lines: 2 samples x 8 frames.
    assert.ok(summary.temporal, "temporal section expected");
    assert.strictEqual(summary.temporal!.points.filter((p) => p.layer === "stem").length, 16);
    assert.ok(summary.files.includes("temporal.png"));
    assert.ok(!summary.files.some((f) => f.startsWith("layer3_")), "layer3 was not asked for");
    if (haveNumpy()) {
      await checkAgainstNumpy(npy, summary, ["layer4", "stem"]);
    } else skip("python3 with numpy not found");
    await checkPngs(save, summary);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("analyze: float16 file, .npy alone (no manifest, one frame: no temporal.png)", async () => {
  const dir = tempDir();
  try {
    const npy = await writeSynthetic(join(dir, "half.npy"), {
      records: [1, 1],
      dtype: "f2",
      layers: [
        { name: "layer2", shape: [16, 14, 14], kind: "relu", scale: 1.5 },
        { name: "head", shape: [64], kind: "normal" },
      ],
    });
    const save = join(dir, "fa");
    const summary = await analyzeFeatures(npy, { saveDir: save, sortChannels: "sparsity" });
    assert.strictEqual(summary.manifest, null);
    assert.strictEqual(summary.temporal, null);
    assert.ok(!summary.files.includes("temporal.png"));
    if (haveNumpy()) await checkAgainstNumpy(npy, summary);
    else skip("python3 with numpy not found");
    await checkPngs(save, summary);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("analyze: an error half-way leaves nothing behind", async () => {
  const dir = tempDir();
  try {
    const npy = await writeSynthetic(join(dir, "f.npy"), {
      records: [1, 1],
      layers: [
        { name: "a", shape: [4, 8, 8], kind: "relu" },
        { name: "b", shape: [4, 8, 8], kind: "relu" },
      ],
    });
    let calls = 0;
    const save = join(dir, "report");
    await assert.rejects(
      analyzeFeatures(npy, {
        saveDir: save,
        reducer: {
          reduceRows: (data, rows, width) => {
            if (++calls === 2) throw new Error("reducer failed");
            return import("../stats/moments.ts").then((m) => m.reduceRows(data, rows, width));
          },
        },
      }),
      /reducer failed/,
    );
    assert.strictEqual(calls, 2, "the first layer was drawn before the failure");
    assert.deepStrictEqual(await listDir(save), [], "no file (or folder) may remain");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("analyze CLI: bad input gives one clear line, non-zero exit, nothing written", async () => {
  const dir = tempDir();
  try {
    const good = await writeSynthetic(join(dir, "good.npy"), {
      records: [1, 1],
      layers: [{ name: "layer1", shape: [4, 6, 6], kind: "relu" }],
    });
    const plain = join(dir, "plain.npy");
    await Deno.writeFile(plain, encodePlainNpy(new Float32Array(12), [3, 4]));
    const truncated = join(dir, "trunc.npy");
    const bytes = await Deno.readFile(good);
    await Deno.writeFile(truncated, bytes.subarray(0, bytes.length - 50));
    const notNpy = join(dir, "text.npy");
    await Deno.writeTextFile(notNpy, "hello, not numpy");
    const cases: [string[], RegExp][] = [
      [[join(dir, "missing.npy")], /not found/],
      [[plain], /plain f4 array, not the structured/],
      [[truncated], /truncated/],
      [[notNpy], /not a NumPy \.npy file/],
      [[good, "--layers", "layer1", "layer9"], /'layer9' not in .*it holds: layer1/],
      [[good, "--sort_channels", "color"], /--sort_channels color: use one of/],
      [[], /give the features file/],
    ];
    for (const [args, re] of cases) {
      const save = join(dir, "out_" + Math.random().toString(36).slice(2));
      const r = await runScript("scripts/analyze.ts", [...args, "--save_dir", save]);
      assert.notStrictEqual(r.code, 0, `${args.join(" ")}: exit code`);
      const lines = r.stderr.trim().split("\n");
      assert.strictEqual(lines.length, 1, `${args.join(" ")}: stderr was\n${r.stderr}`);
      assert.match(lines[0], /^error: /);
      assert.match(lines[0], re);
      assert.deepStrictEqual(await listDir(save), [], `${args.join(" ")}: wrote files`);
    }
    const help = await runScript("scripts/analyze.ts", ["--help"]);
    assert.strictEqual(help.code, 0);
    assert.match(help.stdout, /--save_dir/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("analyze: --gpu on (WGSL kernels) gives the CPU reference's numbers", async () => {
  quietWaylandProbe();
  const adapter = await navigator.gpu?.requestAdapter().catch(() => null);
  if (!adapter) {
    skip("no WebGPU adapter: GPU reduction not compared");
    return;
  }
  const dir = tempDir();
  try {
    const npy = await writeSynthetic(join(dir, "g.npy"), {
      records: [1, 2],
      layers: [{ name: "layer2", shape: [32, 14, 14], kind: "relu", dead: [5], nonfinite: 1 }],
    });
    const on = await analyzeFeatures(npy, { saveDir: join(dir, "on"), gpu: "on" });
    const off = await analyzeFeatures(npy, { saveDir: join(dir, "off"), gpu: "off" });
    assert.match(on.method.reduction, /^webgpu/);
    assert.match(off.method.reduction, /^cpu/);
    const a = on.layers.layer2, b = off.layers.layer2;
    const scale = Math.abs(b.max ?? 1) * 1e-2;
    for (const k of ["mean", "std", "min", "max", "sparsity", "nonfinite"] as const) {
      close(a[k], b[k], `gpu ${k}`, scale);
    }
    for (const k of ["mean", "std", "max", "sparsity"] as const) {
      closeAll(a.channels[k], b.channels[k], `gpu channels.${k}`, scale);
    }
    assert.deepStrictEqual(a.dead_channels, [5]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("analyze: real PyTorch activations (../shared/torch ResNet-18 and 3D ResNet references)", async () => {
  if (!HAVE_SHARED) {
    skip("../shared/torch not found: real-activation analysis not tested");
    return;
  }
  const dir = tempDir();
  // A few layers of each, to keep the test quick: folded bn1 and ReLU; the 3D stem and layer4.
  const KEEP = ["bn1", "relu", "stem", "layer4"];
  try {
    for (const model of ["resnet18w16_video", "r3d_tiny_video"]) {
      const folder = join(SHARED, "torch", model);
      const ref = JSON.parse(await Deno.readTextFile(join(folder, "ref.json"))) as {
        layers: Record<string, { ref: string }>;
      };
      // One record per file: the reference activation of (batch_idx, timestep) of each layer.
      const arrays = await Promise.all(
        Object.entries(ref.layers).filter(([name]) => KEEP.includes(name)).map(async (
          [name, l],
        ) => ({
          name,
          ...(await readPlainNpy(join(folder, l.ref))),
        })),
      );
      const npy = join(dir, `${model}.npy`);
      const w = await StructuredNpyWriter.create(npy, {
        shape: [1, 1],
        fields: arrays.map((a) => ({ name: a.name, scalar: "f4" as const, shape: a.shape })),
      });
      for (const a of arrays) await w.writeField(a.name, 0, a.data);
      await w.commit();
      const save = join(dir, `${model}_report`);
      const summary = await analyzeFeatures(npy, { saveDir: save, gpu: "off" });
      assert.deepStrictEqual(Object.keys(summary.layers), arrays.map((a) => a.name));
      if (haveNumpy()) await checkAgainstNumpy(npy, summary);
      else skip("python3 with numpy not found");
      await checkPngs(save, summary);
      if (model === "resnet18w16_video") {
        // PyTorch's raw conv1 and the folded bn1 output are signed: flagged as info, not warnings.
        assert.ok(summary.layers.bn1.min! < 0);
        assert.ok(summary.layers.relu.sparsity > 0.2, "ReLU output has exact zeros");
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
