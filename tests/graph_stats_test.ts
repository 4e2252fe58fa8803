import assert from "node:assert/strict";
import { join } from "node:path";
import { loadOnnxModel, type OnnxGraph, tapModel } from "../inspector/onnx_model.ts";
import { resolveLayers } from "../inspector/layers.ts";
import { DEFAULT_LAYERS, FeatureMapInspector } from "../inspector/feature_map_inspector.ts";
import { buildStatsModel, readInGraphTap, selectionFeeds } from "../inspector/graph_stats.ts";
import { createSession, type FeedTensor, type OutputTensor } from "../inspector/runtime.ts";
import { detectLayout, extractFrame, rowLayout, timeChannelSwaps } from "../inspector/layout.ts";
import { reduceRows, type RowMoments } from "../stats/moments.ts";
import { FIXTURE_CLIPS, fixtureBatch } from "../fixtures/generate.ts";
import { maxAbsDiff, prng, ROOT } from "./helpers.ts";

const MODELS = ["resnet18_video.onnx", "r3d_video.onnx"];

function batchOf(graph: OnnxGraph, T: number): Record<string, FeedTensor> {
  const b = fixtureBatch({
    frames: Array.from({ length: T }, (_, t) => t),
    size: 64,
    clips: FIXTURE_CLIPS.slice(0, 2).map((c) => c.id),
  });
  return { [graph.inputs[0].name]: { data: b.data, dims: [...b.shape] } };
}

/** Largest difference relative to the scale of the row (|value| or the row's spread). */
function momentError(want: RowMoments, got: RowMoments): number {
  let err = 0;
  for (let r = 0; r < want.rows; r++) {
    const n = want.width;
    const spread = Math.sqrt(want.m2[r] / n) + Math.abs(want.sum[r] / n) + 1e-6;
    err = Math.max(
      err,
      Math.abs(want.sum[r] - got.sum[r]) / (n * spread),
      Math.abs(want.m2[r] - got.m2[r]) / (n * spread * spread),
      Math.abs(want.min[r] - got.min[r]) / spread,
      Math.abs(want.max[r] - got.max[r]) / spread,
      Math.abs(want.zeros[r] - got.zeros[r]),
    );
  }
  return err;
}

for (const file of MODELS) {
  for (const ep of ["cpu", "wasm"] as const) {
    Deno.test(`graph stats: ${file} on ${ep} — moments and frames equal the whole tensors'`, async () => {
      const graph = await loadOnnxModel(join(ROOT, "fixtures", file));
      const taps = [...new Set(resolveLayers(graph, DEFAULT_LAYERS).layers.map((l) => l.tensor))];
      const model = buildStatsModel(graph, taps);
      assert.ok(model, "the fixture's opset takes in-graph statistics");
      const T = 4, B = 2;
      const feeds = batchOf(graph, T);
      const keep = { batchIdx: [1, 0], timestep: [3, 0, 2] };
      const swaps = timeChannelSwaps(graph);
      await using inGraph = await createSession(model.bytes, { ep });
      await using whole = await createSession(tapModel(graph, taps), { ep });
      const a = await inGraph.run({ ...feeds, ...selectionFeeds({ clips: B, frames: T }, keep) });
      const w = await whole.run(feeds);
      for (const tap of model.taps) {
        const swapped = swaps.get(tap.tensor) ?? false;
        const r = await readInGraphTap(a, tap, {
          clips: B,
          frames: T,
          swapped,
          name: tap.tensor,
          ...keep,
        });
        assert.ok(r, `${tap.tensor} read from the graph`);
        const full = w[tap.tensor];
        const layout = detectLayout(full.dims, { batch: B, time: T, swapped, name: tap.tensor });
        assert.equal(r.layout.kind, layout.kind);
        assert.deepEqual(r.layout.dims, layout.dims);
        const rl = rowLayout(layout);
        const want = reduceRows(full.data!, rl.rows, rl.width);
        const err = momentError(want, r.moments);
        assert.ok(err <= 1e-6, `${tap.tensor}: moments differ by ${err}`);
        keep.batchIdx.forEach((b, bi) =>
          keep.timestep.forEach((t, ti) =>
            assert.deepEqual(r.frames[bi][ti], extractFrame(full.data!, layout, b, t), tap.tensor)
          )
        );
      }
      // The model's own outputs are untouched.
      for (const o of graph.outputs) assert.deepEqual(a[o.name].data, w[o.name].data);
    });
  }
}

Deno.test("graph stats: non-finite rows and mismatched rows fall back to whole tensors", async () => {
  const out = (name: string, data: number[], dims = [data.length]): OutputTensor => ({
    name,
    dims,
    type: "float32",
    location: "cpu",
    data: Float32Array.from(data),
    download: () => Promise.resolve(Float32Array.from(data)),
    dispose: () => {},
  });
  const tap = {
    tensor: "x",
    shape: "s",
    frames: "f",
    stats: {
      sum: "sum",
      mean: "mean",
      m2: "m2",
      min: "min",
      max: "max",
      zeros: "zeros",
    },
  };
  // (B*T = 2, C = 1, H = 1, W = 2): two rows of width 2.
  const outputs = (sum0: number) => ({
    s: out("s", [2, 1, 1, 2]),
    f: out("f", [1, 2], [1, 1, 1, 2]),
    sum: { ...out("sum", [sum0, 7]), type: "float64", float64: Float64Array.of(sum0, 7) },
    mean: out("mean", [1.5, 3.5]),
    m2: { ...out("m2", [0.5, 0.5]), type: "float64", float64: Float64Array.of(0.5, 0.5) },
    min: out("min", [1, 3]),
    max: out("max", [2, 4]),
    zeros: out("zeros", [0, 0]),
  });
  const opts = { clips: 1, frames: 2, swapped: false, name: "x", batchIdx: [0], timestep: [0] };
  const ok = await readInGraphTap(outputs(3), tap, opts);
  assert.ok(ok);
  assert.deepEqual(Array.from(ok.moments.sum), [3, 7]);
  assert.deepEqual(Array.from(ok.moments.m2), [0.5, 0.5]);
  assert.deepEqual(Array.from(ok.frames[0][0]), [1, 2]);
  assert.equal(await readInGraphTap(outputs(NaN), tap, opts), null, "NaN");
  assert.equal(await readInGraphTap(outputs(Infinity), tap, opts), null, "Inf");
  // Three rows where the layout has two: not trusted.
  const bad = { ...outputs(3), min: out("min", [1, 3, 5]) };
  assert.equal(await readInGraphTap(bad, tap, opts), null, "rows");
});

Deno.test("graph stats: selections of a pass without saved frames are empty", () => {
  const f = selectionFeeds({ clips: 1, frames: 2 }, { batchIdx: [0], timestep: [] });
  for (const v of Object.values(f).slice(0, 2)) assert.deepEqual(v.dims, [0]);
  const g = selectionFeeds({ clips: 2, frames: 4 }, { batchIdx: [1], timestep: [0, 3] });
  assert.deepEqual(Array.from(Object.values(g)[0].data), [4, 7]);
  assert.deepEqual(Array.from(Object.values(g)[1].data), [1, 1]);
  assert.deepEqual(Array.from(Object.values(g)[2].data), [8]);
});

Deno.test("graph stats: old opsets and untappable tensors get no in-graph model", async () => {
  const graph = await loadOnnxModel(join(ROOT, "fixtures", "resnet18_video.onnx"));
  assert.equal(buildStatsModel({ ...graph, opset: 11 }, [graph.nodes[5].outputs[0]]), null);
  assert.equal(buildStatsModel(graph, [graph.inputs[0].name]), null);
  assert.ok(buildStatsModel(graph, [graph.nodes[5].outputs[0]]));
});

Deno.test("graph stats: the inspector gives the same statistics in the graph and on the host", async () => {
  const model = join(ROOT, "fixtures", "resnet18_video.onnx");
  const graph = await loadOnnxModel(model);
  const feeds = batchOf(graph, 4);
  // Random values in place of frames, so that no channel is constant.
  const rnd = prng(7);
  const feed = Object.values(feeds)[0];
  for (let i = 0; i < feed.data.length; i++) feed.data[i] = rnd() * 2 - 1;
  const results = [];
  for (const inGraph of [true, false]) {
    await using insp = await FeatureMapInspector.create(graph, { ep: "cpu", inGraph, gpu: "off" });
    insp.setTarget({ batchIdx: "all", timestep: "1,3" });
    const ex = await insp.extractFeatures(feed);
    results.push({ ex, where: insp.reductions.where });
  }
  const [g, h] = results;
  assert.equal(g.where, "onnx_graph");
  assert.equal(h.where, "cpu");
  for (let k = 0; k < g.ex.layers.length; k++) {
    const a = g.ex.layers[k], b = h.ex.layers[k];
    assert.equal(a.name, b.name);
    assert.deepEqual(a.frames, b.frames);
    for (const key of ["mean", "std", "min", "max", "sparsity"] as const) {
      const x = a.stats.summary[key], y = b.stats.summary[key];
      assert.ok(Math.abs(x - y) <= 1e-6 * Math.max(1, Math.abs(y)), `${a.name} ${key}: ${x} ${y}`);
    }
    for (let c = 0; c < a.stats.channels.mean.length; c++) {
      const x = a.stats.channels.std[c], y = b.stats.channels.std[c];
      assert.ok(Math.abs(x - y) <= 1e-6 * Math.max(1, Math.abs(y)), `${a.name} std[${c}]`);
    }
    assert.deepEqual(
      a.stats.perFrame.map((row) => row.map((s) => s.sparsity)),
      b.stats.perFrame.map((row) => row.map((s) => s.sparsity)),
    );
  }
});

Deno.test("graph stats: a split batch runs its planned passes in the graph, same results", async () => {
  const { loadClips } = await import("../inspector/clips.ts");
  const clips = await loadClips("fixture", { batchSize: 2, maxLen: 4, size: 64 });
  const batch = { data: clips.data, dims: [...clips.shape] };
  for (const file of MODELS) {
    const model = join(ROOT, "fixtures", file);
    const layers = file.startsWith("r3d") ? ["stem", "layer2"] : ["conv1", "layer2"];
    const runs = [];
    for (const [inGraph, budget] of [[true, 64 * 1024], [false, 64 * 1024], [true, undefined]]) {
      await using insp = await FeatureMapInspector.create(model, {
        layers,
        ep: "cpu",
        gpu: "off",
        inGraph: inGraph as boolean,
        budgetBytes: budget as number | undefined,
      });
      insp.setTarget({ batchIdx: "all", timestep: "1,3" });
      const ex = await insp.extractFeatures(batch);
      runs.push({ ex, red: insp.reductions });
    }
    const [splitGraph, splitHost, whole] = runs;
    assert.ok(splitGraph.ex.passes > 1, `${file}: expected a split`);
    assert.ok((splitGraph.red.in_graph_passes as number) >= 1, `${file}: no pass in the graph`);
    assert.equal(splitHost.red.in_graph_passes, undefined);
    assert.equal(whole.ex.passes, 1);
    for (const other of [splitHost, whole]) {
      for (let k = 0; k < layers.length; k++) {
        const a = splitGraph.ex.layers[k], b = other.ex.layers[k];
        for (let bi = 0; bi < 2; bi++) {
          for (let ti = 0; ti < 2; ti++) {
            assert.ok(maxAbsDiff(a.frames[bi][ti], b.frames[bi][ti]) <= 1e-5, `${file} ${a.name}`);
          }
        }
        for (let bb = 0; bb < 2; bb++) {
          for (let t = 0; t < 4; t++) {
            const x = a.stats.perFrame[bb][t], y = b.stats.perFrame[bb][t];
            for (const key of ["mean", "std", "min", "max"] as const) {
              assert.ok(
                Math.abs(x[key] - y[key]) <= 1e-5 * Math.max(1, Math.abs(y[key])),
                `${file} ${a.name} b${bb} t${t} ${key}: ${x[key]} vs ${y[key]}`,
              );
            }
            assert.equal(x.sparsity, y.sparsity);
          }
        }
      }
    }
  }
});

Deno.test("graph stats: the taps' node groups run in reverse network order (first tap freed first)", async () => {
  const graph = await loadOnnxModel(join(ROOT, "fixtures", "resnet18_video.onnx"));
  const tensors = [graph.nodes[2].outputs[0], graph.nodes[5].outputs[0], graph.nodes[9].outputs[0]];
  const model = buildStatsModel(graph, tensors)!;
  const names: string[] = (model.additions.node ?? []).map((n) => (n as { name: string }).name);
  const firstOf = (k: number) => names.findIndex((n) => n.includes(`tap${k}/`));
  const lastOf = (k: number) => names.findLastIndex((n) => n.includes(`tap${k}/`));
  // Each tap's nodes are contiguous, and tap 0 (the earliest tensor) comes last, so that
  // onnxruntime's reverse depth-first order from the last leaf reduces it right after it is made.
  for (const k of [0, 1, 2]) {
    assert.ok(firstOf(k) >= 0);
    assert.equal(
      names.slice(firstOf(k), lastOf(k) + 1).every((n) => n.includes(`tap${k}/`)),
      true,
    );
  }
  assert.ok(lastOf(2) < firstOf(1) && lastOf(1) < firstOf(0));
});

Deno.test("graph stats: allFrames hands back whole tensors, same frames and statistics for any target", async () => {
  for (const file of MODELS) {
    const model = join(ROOT, "fixtures", file);
    const graph = await loadOnnxModel(model);
    const feeds = batchOf(graph, 4);
    const layers = file.startsWith("r3d") ? ["stem", "layer2"] : ["conv1", "layer2"];
    for (
      const target of [{ batchIdx: "all", timestep: "all" }, { batchIdx: "1", timestep: "0,3" }]
    ) {
      const runs = [];
      for (const allFrames of [false, true]) {
        await using insp = await FeatureMapInspector.create(graph, {
          layers,
          ep: "cpu",
          allFrames,
        });
        insp.setTarget(target);
        runs.push({
          ex: await insp.extractFeatures(Object.values(feeds)[0]),
          red: insp.reductions,
        });
      }
      const [gathered, whole] = runs;
      assert.equal(whole.red.where, "onnx_graph", `${file}: statistics not in the graph`);
      for (let k = 0; k < layers.length; k++) {
        const a = whole.ex.layers[k], b = gathered.ex.layers[k];
        assert.deepEqual(a.frames, b.frames, `${file} ${a.name} ${target.timestep}`);
        assert.deepEqual(a.stats.summary, b.stats.summary, `${file} ${a.name}`);
      }
    }
  }
});
