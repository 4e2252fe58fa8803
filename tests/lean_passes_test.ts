/**
 * Lean passes (`InspectorOptions.lean`, what `runInspect` uses): a small batch with the
 * statistics in the graph runs in passes of a few frames, with the same numbers as one pass.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Extraction, FeatureMapInspector } from "../inspector/feature_map_inspector.ts";
import { loadClips } from "../inspector/clips.ts";
import { buildTemporalMixVideo } from "../fixtures/generator/layout_models.ts";
import { maxAbsDiff, ROOT } from "./helpers.ts";

const B = 2, T = 8;

async function batchOf(): Promise<{ data: Float32Array; dims: number[] }> {
  const clips = await loadClips("fixture", { batchSize: B, maxLen: T, size: 32 });
  return { data: clips.data, dims: [...clips.shape] };
}

/** Extract with and without lean passes; the lines the lean run printed. */
async function both(
  model: string | Uint8Array,
  options: { layers: string[]; leanPassBytes?: number },
): Promise<{ lean: Extraction; whole: Extraction; lines: string[] }> {
  const batch = await batchOf();
  const lines: string[] = [];
  const runs: Extraction[] = [];
  for (const lean of [true, false]) {
    await using insp = await FeatureMapInspector.create(model, {
      layers: options.layers,
      ep: "cpu",
      gpu: "off",
      lean,
      leanPassBytes: options.leanPassBytes,
      onInfo: lean ? (l) => lines.push(l) : undefined,
    });
    insp.setTarget({ batchIdx: "all", timestep: "0,3,7" });
    runs.push(await insp.extractFeatures(batch));
  }
  return { lean: runs[0], whole: runs[1], lines };
}

/** Every statistic and saved frame of `a` equals `b`'s (1e-6 of scale; frames 1e-5). */
function assertSame(a: Extraction, b: Extraction, label: string): void {
  assert.equal(a.layers.length, b.layers.length);
  for (let k = 0; k < a.layers.length; k++) {
    const x = a.layers[k], y = b.layers[k];
    const close = (u: number, v: number, what: string) =>
      assert.ok(
        Math.abs(u - v) <= 1e-6 * Math.max(1, Math.abs(v)),
        `${label} ${x.name} ${what}: ${u} vs ${v}`,
      );
    for (const key of ["mean", "std", "min", "max", "sparsity"] as const) {
      close(x.stats.summary[key], y.stats.summary[key], key);
      for (let c = 0; c < y.stats.channels.mean.length; c++) {
        close(x.stats.channels.std[c], y.stats.channels.std[c], `std[${c}]`);
        close(x.stats.channels.mean[c], y.stats.channels.mean[c], `mean[${c}]`);
      }
    }
    for (let bi = 0; bi < B; bi++) {
      for (let t = 0; t < T; t++) {
        const p = x.stats.perFrame[bi][t], q = y.stats.perFrame[bi][t];
        close(p.mean, q.mean, `frame ${bi},${t} mean`);
        close(p.max, q.max, `frame ${bi},${t} max`);
        assert.equal(p.sparsity, q.sparsity, `${label} ${x.name} frame ${bi},${t} sparsity`);
      }
    }
    x.frames.forEach((row, i) =>
      row.forEach((f, j) => {
        const scale = Math.max(1, ...y.frames[i][j].map(Math.abs));
        assert.ok(maxAbsDiff(f, y.frames[i][j]) <= 1e-5 * scale, `${label} ${x.name} frame`);
      })
    );
  }
}

Deno.test("lean passes: a 2D backbone runs in passes of a few frames, same numbers as one pass", async () => {
  const model = join(ROOT, "fixtures", "resnet18_video.onnx");
  // About 3 frames' tapped bytes per pass (conv1 8x16x16 + layer1 8x8x8 + layer2 16x4x4 floats).
  const perFrame = 4 * (8 * 16 * 16 + 8 * 8 * 8 + 16 * 4 * 4);
  const { lean, whole, lines } = await both(model, {
    layers: ["conv1", "layer1", "layer2"],
    leanPassBytes: 3 * perFrame,
  });
  assert.equal(whole.passes, 1);
  // 8 frames in passes of at most 3: 3 passes per clip.
  assert.equal(lean.passes, 6);
  assert.ok(!lean.warnings.some((w) => /forward passes/.test(w)), lean.warnings.join("; "));
  assert.ok(!lines.some((l) => /changes with the other frames/.test(l)), lines.join("\n"));
  assertSame(lean, whole, "frames split");
  // A pass over some frames says nothing of a clip's logits.
  assert.deepEqual(lean.modelOutputs, {});
});

Deno.test("lean passes: whole clips per pass join the model's outputs along the clips", async () => {
  const model = join(ROOT, "fixtures", "resnet18_video.onnx");
  const perFrame = 4 * (8 * 16 * 16);
  const { lean, whole } = await both(model, { layers: ["conv1"], leanPassBytes: T * perFrame });
  assert.equal(lean.passes, 2);
  assertSame(lean, whole, "clips split");
  const names = Object.keys(whole.modelOutputs);
  assert.ok(names.length > 0);
  assert.deepEqual(Object.keys(lean.modelOutputs), names);
  for (const n of names) {
    assert.deepEqual(lean.modelOutputs[n].dims, whole.modelOutputs[n].dims);
    assert.ok(maxAbsDiff(lean.modelOutputs[n].data, whole.modelOutputs[n].data) <= 1e-5, n);
  }
});

Deno.test("lean passes: a model that mixes frames is caught and run in whole clips", async () => {
  const { lean, whole, lines } = await both(buildTemporalMixVideo(), {
    layers: ["stem.relu", "mix.relu"],
    leanPassBytes: 4 * 2 * 8 * 32 * 32 * 2,
  });
  assert.ok(
    lines.some((l) => /mix\.relu of frame 0 changes with the other frames/.test(l)),
    lines.join("\n"),
  );
  assert.equal(lean.passes, 2);
  assertSame(lean, whole, "mixing model");
});

Deno.test("lean passes: a 3D CNN (time with channels) splits clips only", async () => {
  const model = join(ROOT, "fixtures", "r3d_video.onnx");
  const { lean, whole } = await both(model, { layers: ["stem", "layer2"], leanPassBytes: 1 });
  assert.equal(lean.passes, 2);
  assertSame(lean, whole, "r3d");
});
