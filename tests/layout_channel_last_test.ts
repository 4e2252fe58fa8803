/**
 * Channel-last layouts (issue 14 items 1, 2): detection from the graph (Transpose perms, Conv
 * consumers) and from a trailing Conv channel count, the ambiguity error, `--layout` overrides,
 * `layout_evidence`, and inspect's saved frames and per-channel statistics against NumPy on the
 * correctly transposed tensor read straight from onnxruntime.
 */

import { strict as assert } from "node:assert";
import { join } from "node:path";
import {
  buildBthwcVideo,
  buildNhwcImage,
  FIXTURE_MODELS,
  LAYOUT_FIXTURE_TENSORS,
} from "../fixtures/generate.ts";
import { channelOrders, convChannelCounts } from "../inspector/channel_order.ts";
import {
  detectLayout,
  extractFrame,
  parseLayoutOverride,
  rowLayout,
  toChannelFirst,
} from "../inspector/layout.ts";
import { parseOnnxModel } from "../inspector/onnx_model.ts";
import { createSession } from "../inspector/runtime.ts";
import { encodePlainNpy } from "../core/npy.ts";
import type { Manifest } from "../core/manifest.ts";
import { exists, haveNumpy, python, ROOT, runScript, skip, tempDir } from "./helpers.ts";

const T = LAYOUT_FIXTURE_TENSORS;

Deno.test("layout: channel order read from the graph of the NHWC fixture", async () => {
  const g = await parseOnnxModel(buildNhwcImage());
  const o = channelOrders(g);
  assert.equal(o.get(T.stemRelu)?.order, "first");
  assert.equal(o.get(T.nhwcScale)?.order, "last");
  assert.match(o.get(T.nhwcScale)!.evidence, /Transpose perm \[0,2,3,1\]/);
  assert.equal(o.get(T.nhwcRelu)?.order, "last");
  assert.deepEqual(convChannelCounts(g), [8, 16]);
  const v = await parseOnnxModel(buildBthwcVideo());
  const ov = channelOrders(v);
  assert.equal(ov.get(T.btTranspose)?.order, "last");
  assert.equal(ov.get(T.btRelu), undefined, "after a Reshape the graph says nothing");
  assert.deepEqual(convChannelCounts(v), [12]);
});

Deno.test("layout: channel-last kinds, the trailing-dim rule, overrides and the ambiguity error", () => {
  const last = { order: "last" as const, evidence: "Transpose perm [0,2,3,1]" };
  const a = detectLayout([6, 5, 4, 8], {
    batch: 2,
    time: 3,
    swapped: false,
    name: "x",
    graph: last,
  });
  assert.equal(a.kind, "bt_hwc");
  assert.deepEqual(a.frameShape, [8, 5, 4]);
  assert.match(a.evidence, /dim 0 equals B\*T; channel-last: Transpose perm/);
  const b = detectLayout([2, 3, 5, 4, 12], {
    batch: 2,
    time: 3,
    swapped: false,
    name: "x",
    convChannels: [12, 20],
  });
  assert.equal(b.kind, "b_t_hwc");
  assert.deepEqual(b.frameShape, [12, 5, 4]);
  assert.match(b.evidence, /trailing dim 12 equals a Conv's channel count/);
  const c = detectLayout([2, 5, 4, 7], {
    batch: 2,
    time: 1,
    swapped: false,
    name: "x",
    graph: last,
  });
  assert.equal(c.kind, "bt_hwc");
  // The graph's channel-first evidence wins over a matching trailing dim.
  const first = { order: "first" as const, evidence: "output of Conv" };
  const d = detectLayout([2, 12, 7, 12], {
    batch: 2,
    time: 1,
    swapped: false,
    name: "x",
    graph: first,
    convChannels: [12],
  });
  assert.equal(d.kind, "bt_chw");
  // Unknown order, both candidates are Conv channel counts: one error naming --layout.
  assert.throws(
    () =>
      detectLayout([2, 12, 7, 12], {
        batch: 2,
        time: 1,
        swapped: false,
        name: "blk",
        convChannels: [12],
      }),
    /blk.*both dim 1 and the trailing dim \(12\).*options\.layout blk=<one of .*b_hwc/,
  );
  // Existing behaviour: no evidence, no Conv counts -> channel-first.
  assert.equal(
    detectLayout([2, 8, 5, 4], { batch: 2, time: 1, swapped: false, name: "x" }).kind,
    "bt_chw",
  );
  for (
    const [v, k] of [["b_hwc", "b_hwc"], ["B,T,H,W,C", "b_t_hwc"], ["(B*T,H,W,C)", "bt_hwc"], [
      "NHWC",
      "b_hwc",
    ]]
  ) {
    assert.equal(parseLayoutOverride(v), k);
  }
  assert.throws(() => parseLayoutOverride("hwc"), /b_t_hwc, b_hwc/);
  const o = detectLayout([1, 2, 3, 4], {
    batch: 1,
    time: 1,
    swapped: false,
    name: "x",
    override: "b_hwc",
  });
  assert.equal(o.evidence, "--layout override");
  assert.deepEqual(o.frameShape, [4, 2, 3]);
  assert.throws(
    () =>
      detectLayout([3, 2, 3, 4], {
        batch: 2,
        time: 1,
        swapped: false,
        name: "x",
        override: "b_hwc",
      }),
    /does not fit the requested layout/,
  );
});

Deno.test("layout: toChannelFirst, extractFrame and rowLayout agree with a direct index", () => {
  const dims = [2, 3, 4, 5, 6]; // (B, T, H, W, C)
  const data = Float32Array.from({ length: 720 }, (_, i) => i);
  const l = detectLayout(dims, {
    batch: 2,
    time: 3,
    swapped: false,
    name: "x",
    override: "b_t_hwc",
  });
  const cf = toChannelFirst(data, l);
  const at = (b: number, t: number, h: number, w: number, c: number) =>
    data[(((b * 3 + t) * 4 + h) * 5 + w) * 6 + c];
  const f = extractFrame(cf, l, 1, 2);
  assert.deepEqual(l.frameShape, [6, 4, 5]);
  for (let c = 0; c < 6; c++) {
    for (let h = 0; h < 4; h++) {
      for (let w = 0; w < 5; w++) assert.equal(f[(c * 4 + h) * 5 + w], at(1, 2, h, w, c));
    }
  }
  const r = rowLayout(l);
  assert.deepEqual([r.rows, r.width], [2 * 3 * 6, 20]);
  const row = r.index.rowOf(1 * 3 + 2, 4);
  assert.equal(cf[row * 20 + 7], at(1, 2, 1, 2, 4));
});

interface Case {
  name: string;
  model: string;
  build: (o: { extraOutputs: string[] }) => Uint8Array;
  input: string;
  shape: number[];
  layers: Record<string, { tensor: string; kind: string; evidence: RegExp; axes: number[] }>;
}

const CASES: Case[] = [{
  name: "NHWC image",
  model: FIXTURE_MODELS.nhwc,
  build: (o) => buildNhwcImage(o),
  input: "image",
  shape: [2, 3, 12, 10],
  layers: {
    "stem.relu": { tensor: T.stemRelu, kind: "bt_chw", evidence: /dim 0 equals B/, axes: [] },
    "nhwc.scale": {
      tensor: T.nhwcScale,
      kind: "bt_hwc",
      evidence: /Transpose perm \[0,2,3,1\]/,
      axes: [0, 3, 1, 2],
    },
    "nhwc.relu": {
      tensor: T.nhwcRelu,
      kind: "bt_hwc",
      evidence: /channel-last: consumed by Transpose perm \[0,3,1,2\]/,
      axes: [0, 3, 1, 2],
    },
  },
}, {
  name: "(B, T, H, W, C) video",
  model: FIXTURE_MODELS.bthwc,
  build: (o) => buildBthwcVideo({ seed: 1, ...o }),
  input: "frames",
  shape: [2, 3, 3, 16, 10],
  layers: {
    "block.scale": {
      tensor: "/block/scale/Mul_output_0",
      kind: "b_t_hwc",
      evidence: /trailing dim 12 equals a Conv's channel count/,
      axes: [0, 1, 4, 2, 3],
    },
    "block.relu": {
      tensor: T.btRelu,
      kind: "b_t_hwc",
      evidence: /trailing dim 12/,
      axes: [0, 1, 4, 2, 3],
    },
  },
}];

for (const k of CASES) {
  Deno.test(`inspect: ${k.name} fixture matches NumPy on the transposed tensor`, async () => {
    if (!haveNumpy()) return skip("python3 with numpy is absent");
    const dir = tempDir();
    const n = k.shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 1.5);
    await Deno.writeFile(join(dir, "in.npy"), encodePlainNpy(data, k.shape));
    // Independent reference: the raw tensors straight from onnxruntime.
    const names = Object.keys(k.layers);
    const tensors = names.map((l) => k.layers[l].tensor);
    await using s = await createSession(k.build({ extraOutputs: tensors }), {
      ep: "wasm",
      threads: 1,
    });
    const out = await s.run({ [k.input]: { data, dims: k.shape } });
    for (const [i, t] of tensors.entries()) {
      const o = out[t];
      await Deno.writeFile(join(dir, `raw${i}.npy`), encodePlainNpy(await o.download(), o.dims));
    }
    for (const o of Object.values(out)) o.dispose();
    const save = join(dir, "out");
    const r = await runScript("scripts/inspect.ts", [
      "--ep",
      "wasm",
      "--checkpoint",
      join(ROOT, "fixtures", k.model),
      "--input",
      `${k.input}=${join(dir, "in.npy")}`,
      "--layers",
      ...names,
      "--batch_idx",
      "all",
      "--timestep",
      "all",
      "--save_dir",
      save,
      "--name",
      "features",
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const m = JSON.parse(await Deno.readTextFile(join(save, "features.json"))) as Manifest;
    for (const [name, want] of Object.entries(k.layers)) {
      const l = m.layers.find((x) => x.name === name)!;
      assert.equal(l.layout_kind, want.kind, name);
      assert.match(l.layout_evidence, want.evidence, name);
      assert.doesNotMatch(l.layout_evidence, /--layout/, "no --layout was given");
      assert.ok(exists(join(save, `${name}_b0_t0.png`)), `${name}: grid written`);
    }
    const got = await python(
      `
import json, sys, numpy as np
d = sys.argv[1]; spec = json.loads(sys.argv[2])
m = json.load(open(d + '/out/features.json'))
a = np.load(d + '/out/features.npy')
res = {}
for i, (name, axes) in enumerate(spec):
    x = np.load(d + f'/raw{i}.npy').astype(np.float64)
    if axes: x = np.transpose(x, axes)       # channel-last -> channel-first
    if x.ndim == 4:                          # (B*T, C, H, W), T = 1 here or B*T frames
        B, Tn = a.shape
        x = x.reshape(B, Tn, *x.shape[1:])
    l = next(l for l in m['layers'] if l['name'] == name)
    f = a[name].astype(np.float64)           # (n_b, n_t, C, H, W)
    c = x.transpose(2, 0, 1, 3, 4).reshape(x.shape[2], -1)
    res[name] = {
      'frames': float(np.abs(f - x).max()),
      'shape': list(f.shape[2:]) == list(l['shape']),
      'mean': float(np.abs(c.mean(1) - l['channels']['mean']).max()),
      'std': float(np.abs(c.std(1) - l['channels']['std']).max()),
      'max': float(np.abs(c.max(1) - l['channels']['max']).max()),
      'sparsity': float(np.abs((c == 0).mean(1) - l['channels']['sparsity']).max()),
      'all_mean': abs(float(x.mean()) - l['stats']['mean']),
      'peak': float(np.abs(x).max()),
    }
print(json.dumps(res))
`,
      [dir, JSON.stringify(names.map((nm) => [nm, k.layers[nm].axes]))],
    ) as Record<string, Record<string, number | boolean>>;
    for (const [name, v] of Object.entries(got)) {
      const tol = 1e-5 * (v.peak as number);
      assert.equal(v.shape, true, `${name}: saved shape is channel-first`);
      for (const key of ["frames", "mean", "std", "max", "all_mean"]) {
        assert.ok((v[key] as number) <= tol, `${name} ${key}: off by ${v[key]} (tol ${tol})`);
      }
      assert.ok((v.sparsity as number) < 1e-9, `${name} sparsity off by ${v.sparsity}`);
    }
    await Deno.remove(dir, { recursive: true });
  });
}

Deno.test("inspect: ambiguous channel order is one error naming --layout; --layout resolves it", async () => {
  const dir = tempDir();
  // H = 12 = the Conv's channel count: (B, T, 12, W, 12) could be either.
  const shape = [1, 2, 3, 12, 6];
  const data = Float32Array.from({ length: 432 }, (_, i) => Math.cos(i * 0.21));
  await Deno.writeFile(join(dir, "in.npy"), encodePlainNpy(data, shape));
  const args = (extra: string[]) => [
    "--ep",
    "wasm",
    "--checkpoint",
    join(ROOT, "fixtures", FIXTURE_MODELS.bthwc),
    "--input",
    `frames=${join(dir, "in.npy")}`,
    "--layers",
    "block.relu",
    "--save_dir",
    join(dir, "out"),
    "--name",
    "features",
    "--grid_channels",
    "0",
    ...extra,
  ];
  const bad = await runScript("scripts/inspect.ts", args([]));
  assert.notEqual(bad.code, 0);
  const lines = bad.stderr.trim().split("\n").filter((x) => x.startsWith("error"));
  assert.equal(lines.length, 1, bad.stderr);
  assert.match(lines[0], /block\.relu.*--layout block\.relu=/);
  const ok = await runScript("scripts/inspect.ts", args(["--layout", "block.relu=b_t_hwc"]));
  assert.equal(ok.code, 0, ok.stderr + ok.stdout);
  const m = JSON.parse(await Deno.readTextFile(join(dir, "out", "features.json"))) as Manifest;
  assert.equal(m.layers[0].layout_kind, "b_t_hwc");
  assert.equal(m.layers[0].layout_evidence, "--layout override");
  assert.deepEqual(m.layers[0].shape, [12, 12, 6]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("inspect: the committed fixtures record real layout evidence, not '--layout override'", async () => {
  const save = tempDir();
  const r = await runScript("scripts/inspect.ts", [
    "--ep",
    "wasm",
    "--size",
    "32",
    "--max_len",
    "2",
    "--layers",
    "conv1",
    "layer1",
    "--save_dir",
    save,
    "--name",
    "features",
    "--grid_channels",
    "0",
  ]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const m = JSON.parse(await Deno.readTextFile(join(save, "features.json"))) as Manifest;
  for (const l of m.layers) {
    assert.equal(l.layout_kind, "bt_chw");
    assert.equal(l.layout_evidence, "dim 0 equals B*T", l.name);
  }
  await Deno.remove(save, { recursive: true });
});
