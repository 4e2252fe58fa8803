/**
 * Non-spatial tensors (issue 14 item 6): logits, softmax probabilities and projections are
 * classified as vectors / sequences; inspect draws value charts (no feature grids), analyze
 * draws value charts (no spatial patterns) and keeps only the health flags that apply; their
 * statistics match NumPy on the saved values, and the saved logits match onnxruntime's output.
 */

import { strict as assert } from "node:assert";
import { join } from "node:path";
import { buildNhwcImage, FIXTURE_MODELS } from "../fixtures/generate.ts";
import { classifyFrameShape } from "../stats/tensor_kind.ts";
import { healthFlags } from "../stats/health.ts";
import { createSession } from "../inspector/runtime.ts";
import { encodePlainNpy } from "../core/npy.ts";
import type { Manifest } from "../core/manifest.ts";
import { exists, haveNumpy, python, ROOT, runScript, skip, tempDir } from "./helpers.ts";

Deno.test("tensor kind: vectors, sequences and maps", () => {
  assert.equal(classifyFrameShape([1000]).kind, "vector");
  assert.equal(classifyFrameShape([1, 32]).kind, "vector");
  assert.equal(classifyFrameShape([2048, 1, 1]).kind, "vector");
  assert.deepEqual(classifyFrameShape([4420, 2]), { kind: "sequence", length: 4420, width: 2 });
  assert.equal(classifyFrameShape([8, 12, 10]).kind, "spatial");
  assert.equal(classifyFrameShape([1, 12, 10]).kind, "spatial");
  assert.equal(classifyFrameShape([16, 4, 7, 7]).kind, "spatial");
});

Deno.test("inspect + analyze: logits and softmax get value charts, no grids, no map flags", async () => {
  const dir = tempDir();
  const shape = [3, 3, 12, 10];
  const data = Float32Array.from({ length: 1080 }, (_, i) => Math.sin(i * 0.11) * 2);
  await Deno.writeFile(join(dir, "in.npy"), encodePlainNpy(data, shape));
  const save = join(dir, "out");
  const r = await runScript("scripts/inspect.ts", [
    "--ep",
    "wasm",
    "--checkpoint",
    join(ROOT, "fixtures", FIXTURE_MODELS.nhwc),
    "--input",
    `image=${join(dir, "in.npy")}`,
    "--layers",
    "nhwc.relu",
    "logits",
    "probs",
    "--batch_idx",
    "all",
    "--save_dir",
    save,
    "--name",
    "features",
  ]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  for (const b of [0, 1, 2]) {
    assert.ok(exists(join(save, `nhwc.relu_b${b}_t0.png`)), "the map layer keeps its grid");
    for (const l of ["logits", "probs"]) {
      assert.ok(exists(join(save, `${l}_b${b}_t0_values.png`)), `${l}: values chart`);
      assert.ok(!exists(join(save, `${l}_b${b}_t0.png`)), `${l}: no feature grid`);
    }
  }
  const m = JSON.parse(await Deno.readTextFile(join(save, "features.json"))) as Manifest;
  assert.deepEqual(m.layers.find((l) => l.name === "logits")!.shape, [10]);
  // The saved logits are the model's own output.
  await using s = await createSession(buildNhwcImage(), { ep: "wasm", threads: 1 });
  const out = await s.run({ image: { data, dims: shape } });
  const logits = await out.logits.download();
  for (const o of Object.values(out)) o.dispose();
  await Deno.writeFile(join(dir, "logits.npy"), encodePlainNpy(logits, [3, 10]));

  const ana = join(dir, "ana");
  const a = await runScript("scripts/analyze.ts", [join(save, "features.npy"), "--save_dir", ana]);
  assert.equal(a.code, 0, a.stderr + a.stdout);
  for (const l of ["logits", "probs"]) {
    assert.ok(exists(join(ana, `${l}_values.png`)), `${l}: values chart`);
    assert.ok(!exists(join(ana, `${l}_spatial_patterns.png`)), `${l}: no spatial patterns`);
  }
  assert.ok(exists(join(ana, "nhwc.relu_spatial_patterns.png")));
  assert.ok(!exists(join(ana, "nhwc.relu_values.png")));
  const summary = JSON.parse(await Deno.readTextFile(join(ana, "summary.json")));
  const probs = summary.layers.probs;
  assert.equal(probs.tensor_kind, "vector");
  assert.equal(summary.layers["nhwc.relu"].tensor_kind, "spatial");
  assert.deepEqual(probs.flags, [], "no map flags on softmax");
  // The same numbers on an activation map would be flagged too dense: the filter is what acts.
  const asMap = healthFlags({
    mean: probs.mean,
    sparsity: probs.sparsity,
    nonfinite: 0,
    count: probs.count,
    min: probs.min,
    channels: 10,
    deadChannels: [],
  });
  assert.ok(asMap.some((f) => f.code === "too_dense"), JSON.stringify(asMap));
  if (!haveNumpy()) return skip("python3 with numpy is absent");
  const ref = await python(
    `
import json, sys, numpy as np
d = sys.argv[1]
a = np.load(d + '/out/features.npy')
s = json.load(open(d + '/ana/summary.json'))
lg = np.load(d + '/logits.npy')
res = {'logits_vs_ort': float(np.abs(a['logits'][:, 0] - lg).max()),
       'softmax_sum': float(np.abs(a['probs'][:, 0].astype(np.float64).sum(-1) - 1).max())}
for name in ['logits', 'probs']:
    x = a[name].astype(np.float64).reshape(-1, 10)
    l = s['layers'][name]
    res[name] = max(abs(x.mean() - l['mean']), abs(x.std() - l['std']), abs(x.max() - l['max']),
                    float(np.abs(x.mean(0) - l['channels']['mean']).max()))
print(json.dumps(res))
`,
    [dir],
  ) as Record<string, number>;
  assert.ok(ref.logits_vs_ort <= 1e-6, `saved logits vs onnxruntime: ${ref.logits_vs_ort}`);
  assert.ok(ref.softmax_sum <= 1e-5, `softmax rows sum to 1: ${ref.softmax_sum}`);
  assert.ok(ref.logits <= 1e-5 && ref.probs <= 1e-6, JSON.stringify(ref));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("values chart: a (4420, 2) score sequence draws two lines, a 10-vector draws bars", async () => {
  const { valuesChartSpec } = await import("../render/values_chart.ts");
  const { renderVegaSvg } = await import("../render/vega_png.ts");
  const seq = Float32Array.from({ length: 8840 }, (_, i) => (i % 2) + Math.sin(i * 1e-3));
  const svg = await renderVegaSvg(
    valuesChartSpec(seq, classifyFrameShape([4420, 2]), { title: "scores" }),
  );
  assert.equal((svg.match(/class="mark-line/g) ?? []).length, 2, "one line group per column");
  assert.match(svg, /4420 steps × 2 values/);
  const vec = Float32Array.from([0.1, 3, -2, 0.5, 0, 0, 0, 0, 0, 1]);
  const bars = await renderVegaSvg(
    valuesChartSpec(vec, classifyFrameShape([10]), { title: "logits" }),
  );
  assert.equal((bars.match(/<path [^>]*d="M/g) ?? []).length >= 10, true);
  assert.match(bars, /max 3 at 1/);
});
