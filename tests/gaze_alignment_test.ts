// Gaze alignment (issue 16): the saliency metrics of stats/saliency.ts against NumPy written from
// the benchmark's published definitions, the shuffled baseline at chance on random maps, and an
// analyze run whose gaze follows a moving square that one channel of one layer detects.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  aucJudd,
  cc,
  fixationMap,
  nss,
  prepareMap,
  saliencyScores,
  sim,
  upsampleBilinear,
} from "../stats/saliency.ts";
import {
  gazeAlignmentCsv,
  gazeGrid,
  GazeScorer,
  MAX_GAZE_FRAMES,
} from "../analysis/gaze_alignment.ts";
import { analyzeFeatures } from "../analysis/analyze.ts";
import { analyzeGroup } from "../scripts/analyze.ts";
import { StructuredNpyWriter } from "../core/npy.ts";
import { haveNumpy, prng, skip, tempDir } from "./helpers.ts";

// NumPy, from the definitions (Bylinskii et al., MIT/Tuebingen benchmark code): fixations as a
// binary map for NSS and AUC-Judd, sample counts blurred by a separable Gaussian truncated at
// ceil(3 sigma) for CC and SIM; bilinear upsampling with pixel centres aligned.
const PY = `
import json, sys, numpy as np
cases = json.loads(sys.stdin.read())
out = []
def up(m, H, W):
    h, w = m.shape
    def coords(n_out, n_in):
        s = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        i0 = np.floor(s).astype(int); i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, s - i0
    y0, y1, fy = coords(H, h); x0, x1, fx = coords(W, w)
    top = m[y0][:, x0] * (1 - fx) + m[y0][:, x1] * fx
    bot = m[y1][:, x0] * (1 - fx) + m[y1][:, x1] * fx
    return top * (1 - fy)[:, None] + bot * fy[:, None]
for c in cases:
    W, H, s = c["W"], c["H"], c["sigma"]
    m = up(np.array(c["map"], dtype=np.float64).reshape(c["h"], c["w"]), H, W)
    fix = np.zeros((H, W), bool); cnt = np.zeros((H, W))
    for f in c["fix"]:
        fix[f["y"], f["x"]] = True; cnt[f["y"], f["x"]] += 1
    z = (m - m.mean()) / m.std()
    nss = float(z[fix].mean())
    S = m.ravel(); Sth = np.sort(m[fix])[::-1]; nf = len(Sth); n = S.size
    tp = np.zeros(nf + 2); fp = np.zeros(nf + 2); tp[-1] = fp[-1] = 1
    for i, t in enumerate(Sth):
        above = (S >= t).sum()
        tp[i + 1] = (i + 1) / nf; fp[i + 1] = (above - i - 1) / (n - nf)
    auc = float(np.sum((fp[1:] - fp[:-1]) * (tp[1:] + tp[:-1]) / 2))
    r = int(np.ceil(3 * s)); k = np.exp(-(np.arange(-r, r + 1) ** 2) / (2 * s * s))
    t1 = np.array([np.convolve(row, k)[r:r + W] for row in cnt])
    g = np.array([np.convolve(col, k)[r:r + H] for col in t1.T]).T
    cc = float(np.corrcoef(m.ravel(), g.ravel())[0, 1])
    a = m - m.min(); a /= a.sum(); b = g - g.min(); b /= b.sum()
    out.append({"nss": nss, "auc": auc, "cc": cc, "sim": float(np.minimum(a, b).sum()), "up": m.ravel().tolist()})
print(json.dumps(out))
`;

async function numpy(cases: unknown[]): Promise<Record<string, number | number[]>[]> {
  const child = new Deno.Command("python3", {
    args: ["-c", PY],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(cases)));
  await w.close();
  const r = await child.output();
  if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
  return JSON.parse(new TextDecoder().decode(r.stdout));
}

Deno.test("saliency metrics (NSS, AUC-Judd, CC, SIM, upsampling) match NumPy to 1e-9", async () => {
  if (!haveNumpy()) return skip("python3 with numpy not available");
  const r = prng(16);
  const cases = [
    { w: 7, h: 5, W: 40, H: 30, sigma: 2.5, n: 3 },
    { w: 4, h: 4, W: 33, H: 33, sigma: 4, n: 12 },
    { w: 12, h: 9, W: 48, H: 36, sigma: 1.3, n: 1 },
    { w: 3, h: 6, W: 20, H: 41, sigma: 6, n: 40 }, // dense gaze: repeats, convolution path
  ].map((c) => ({
    ...c,
    map: Array.from({ length: c.w * c.h }, () => Math.fround(r() ** 2)),
    // Repeated pixels on purpose: NSS/AUC count a pixel once, the blurred map by samples.
    fix: Array.from(
      { length: c.n },
      (_, i) =>
        i % 3 === 2 ? { x: 1, y: 1 } : { x: Math.floor(r() * c.W), y: Math.floor(r() * c.H) },
    ),
  }));
  const ref = await numpy(cases);
  cases.forEach((c, i) => {
    const up = upsampleBilinear(c.map, { w: c.w, h: c.h }, { width: c.W, height: c.H });
    const upRef = ref[i].up as number[];
    for (let p = 0; p < up.length; p++) assert.ok(Math.abs(up[p] - upRef[p]) < 1e-9);
    const g = fixationMap(c.W, c.H, c.fix, { sigma: c.sigma });
    const size = { width: c.W, height: c.H };
    const fast = saliencyScores(prepareMap(up, size), c.fix, prepareMap(g, size));
    const slow = {
      nss: nss(up, c.W, c.H, c.fix),
      auc: aucJudd(up, c.W, c.H, c.fix),
      cc: cc(up, g),
      sim: sim(up, g),
    };
    for (const k of ["nss", "auc", "cc", "sim"] as const) {
      const want = ref[i][k] as number;
      assert.ok(Math.abs(fast[k]! - want) < 1e-9, `case ${i} ${k}: ${fast[k]} vs NumPy ${want}`);
      assert.ok(Math.abs(slow[k]! - want) < 1e-9, `case ${i} ${k} (reference): ${slow[k]}`);
    }
  });
});

async function randomScores(points: number) {
  const r = prng(3);
  const frames = Array.from({ length: 40 }, (_, i) => ({
    record: i,
    b: 0,
    t: i,
    gaze: Array.from({ length: points }, () => ({ x: r(), y: r() })),
  }));
  const shape = { channels: 3, depth: 1, height: 8, width: 8 };
  const maps = frames.map(() => Float32Array.from({ length: 3 * 64 }, () => r()));
  const scorer = new GazeScorer(frames, gazeGrid({ width: 64, height: 64, source: "test" }));
  const { summary } = await scorer.scoreLayer(
    { name: "random", shape, strongest: [0, 1, 2] },
    (rec) => maps[rec],
  );
  return { summary, scorer };
}

Deno.test("shuffled gaze on random maps scores at chance (NSS ≈ 0, AUC ≈ 0.5)", async () => {
  const { summary, scorer } = await randomScores(40);
  for (const kind of ["mean", "topk"] as const) {
    const k = summary.kinds[kind];
    assert.ok(Math.abs(k.nss.shuffled!) < 0.1, `${kind} shuffled NSS ${k.nss.shuffled}`);
    assert.ok(Math.abs(k.auc.shuffled! - 0.5) < 0.04, `${kind} shuffled AUC ${k.auc.shuffled}`);
    assert.ok(Math.abs(k.cc.shuffled!) < 0.05, `${kind} shuffled CC ${k.cc.shuffled}`);
    // Random maps: their own gaze is no better than chance either.
    assert.ok(Math.abs(k.nss.value!) < 0.1 && Math.abs(k.auc.value! - 0.5) < 0.04);
  }
  assert.match(scorer.shuffle, /16 other frames at evenly spaced offsets/);
  // AUC-Judd's chance level with n fixated pixels per frame is 0.5 + 1 / (2 (n + 1)), 0.75 for a
  // single gaze point (the last step of its ROC curve runs at TPR 1): the shuffled column is the
  // baseline to read AUC against, not 0.5.
  const one = (await randomScores(1)).summary.kinds.mean;
  assert.ok(
    Math.abs(one.auc.shuffled! - 0.75) < 0.05,
    `one point: shuffled AUC ${one.auc.shuffled}`,
  );
  assert.ok(Math.abs(one.nss.shuffled!) < 0.15);
});

Deno.test("of many saved frames, MAX_GAZE_FRAMES evenly spaced ones are scored", () => {
  const frames = Array.from({ length: 300 }, (_, i) => ({
    record: i,
    b: 0,
    t: i,
    gaze: i === 7 ? [] : [{ x: 0.5, y: 0.5 }],
  }));
  const scorer = new GazeScorer(frames, gazeGrid({ width: 8, height: 8, source: "test" }));
  assert.equal(scorer.withGaze, 299);
  assert.equal(scorer.frames, MAX_GAZE_FRAMES);
  assert.match(scorer.shuffle, /256 evenly spaced of the 299 frames with gaze scored/);
});

/** Frames of a bright square moving across a 64x64 frame, and gaze that follows it. */
function movingSquare(T: number) {
  return Array.from({ length: T }, (_, t) => ({
    cx: 0.15 + 0.7 * t / (T - 1),
    cy: 0.2 + 0.6 * ((t * 3) % T) / (T - 1),
  }));
}

/** A run folder: `conv` (8, 16, 16) whose channel 5 is the square, `noise` (6, 4, 4), `fc` (10). */
async function writeRun(
  dir: string,
  options: { T: number; manifest: "saved_frames" | "gaze" | "none" },
): Promise<string> {
  const { T } = options;
  const r = prng(11);
  const pos = movingSquare(T);
  const npy = join(dir, "features.npy");
  const w = await StructuredNpyWriter.create(npy, {
    shape: [1, T],
    fields: [
      { name: "conv", scalar: "f4", shape: [8, 16, 16] },
      { name: "noise", scalar: "f4", shape: [6, 4, 4] },
      { name: "fc", scalar: "f4", shape: [10] },
    ],
  });
  for (let t = 0; t < T; t++) {
    const conv = new Float32Array(8 * 256);
    for (let c = 0; c < 8; c++) {
      for (let y = 0; y < 16; y++) {
        for (let x = 0; x < 16; x++) {
          const inSquare = Math.abs((x + 0.5) / 16 - pos[t].cx) < 0.1 &&
            Math.abs((y + 0.5) / 16 - pos[t].cy) < 0.1;
          conv[c * 256 + y * 16 + x] = c === 5 ? 1 + (inSquare ? 3 : 0) + 0.2 * r() : 0.6 * r();
        }
      }
    }
    await w.writeField("conv", t, conv);
    await w.writeField("noise", t, Float32Array.from({ length: 96 }, () => r()));
    await w.writeField("fc", t, Float32Array.from({ length: 10 }, () => r()));
  }
  await w.commit();
  const gaze = pos.map((p) =>
    [0, 1, 2].map((k) => ({ x: p.cx + 0.02 * (k - 1), y: p.cy + 0.01 * (k - 1) }))
  );
  const targets = { batch_idx: [0], timestep: Array.from({ length: T }, (_, t) => t) };
  if (options.manifest === "saved_frames") {
    await Deno.writeTextFile(
      join(dir, "features.json"),
      JSON.stringify({
        targets,
        data: { size: 64, saved_frames: [gaze.map((g, t) => ({ timestep: t, gaze: g }))] },
      }),
    );
  } else if (options.manifest === "gaze") {
    await Deno.writeTextFile(
      join(dir, "features.json"),
      JSON.stringify({ targets, data: { gaze: [gaze] } }),
    );
  }
  return npy;
}

Deno.test("analyze: gaze that follows a moving square scores the detecting layer high, shuffled at chance", async () => {
  const dir = tempDir();
  try {
    const npy = await writeRun(dir, { T: 10, manifest: "saved_frames" });
    const save = join(dir, "report");
    const s = await analyzeFeatures(npy, { saveDir: save, gpu: "off" });
    const g = s.gaze_alignment!;
    assert.ok(g, "gaze_alignment expected");
    if (Deno.env.get("GAZE_PRINT")) console.log(gazeAlignmentCsv(g.layers));
    assert.equal(g.frames, 10);
    assert.deepEqual([g.grid.width, g.grid.height, g.grid.sigma], [64, 64, 4]);
    assert.deepEqual(g.layers.map((l) => l.layer), ["conv", "noise"], "fc is not spatial");
    const conv = g.layers[0];
    assert.equal(conv.topk_channels[0], 5, "the square's channel has the highest mean");
    for (const kind of ["mean", "topk"] as const) {
      const k = conv.kinds[kind];
      assert.ok(k.nss.value! > 2, `conv ${kind} NSS ${k.nss.value}`);
      assert.ok(k.auc.value! > 0.9, `conv ${kind} AUC ${k.auc.value}`);
      assert.ok(k.cc.value! > 0.3, `conv ${kind} CC ${k.cc.value}`);
      assert.ok(Math.abs(k.nss.shuffled!) < 0.5, `conv ${kind} shuffled NSS ${k.nss.shuffled}`);
      // 3 gaze points per frame: AUC-Judd's chance is 0.5 + 1/8 (see above); shuffled stays below.
      assert.ok(k.auc.shuffled! < 0.65, `shuffled AUC ${k.auc.shuffled}`);
    }
    const noise = g.layers[1].kinds.mean;
    assert.ok(Math.abs(noise.nss.value!) < 0.6, `noise NSS ${noise.nss.value}`);
    assert.deepEqual(g.best?.layer, "conv");
    for (
      const f of ["gaze_alignment.csv", "gaze_alignment.png", "gaze_alignment_frames.png"]
    ) {
      assert.ok(s.files.includes(f), f);
      assert.ok((await Deno.stat(join(save, f))).size > 0);
    }
    const csv = (await Deno.readTextFile(join(save, "gaze_alignment.csv"))).trim().split("\n");
    assert.equal(csv[0], "layer,map,metric,value,shuffled");
    assert.equal(csv.length, 1 + 2 * 2 * 4);
    const row = csv.find((l) => l.startsWith("conv,mean,nss,"))!.split(",");
    assert.ok(Math.abs(+row[3] - conv.kinds.mean.nss.value!) < 1e-12);
    assert.ok(Math.abs(+row[4] - conv.kinds.mean.nss.shuffled!) < 1e-12);
    const json = JSON.parse(await Deno.readTextFile(join(save, "summary.json")));
    assert.equal(json.gaze_alignment.layers[0].kinds.topk.auc.value, conv.kinds.topk.auc.value);
    const html = await Deno.readTextFile(join(save, "index.html"));
    assert.match(html, /id="gaze"/);
    assert.match(html, /gaze_alignment\.png/);
    // GAZE_DOCS=docs: keep the figures (README's pictures come from this fixture).
    const docs = Deno.env.get("GAZE_DOCS");
    if (docs) {
      await Deno.copyFile(join(save, "gaze_alignment.png"), join(docs, "gaze_alignment.png"));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("analyze: data.gaze without a frame size uses the largest map; no gaze: no gaze files", async () => {
  const dir = tempDir();
  try {
    const a = join(dir, "a"), b = join(dir, "b");
    await Deno.mkdir(a);
    await Deno.mkdir(b);
    const s = await analyzeFeatures(await writeRun(a, { T: 4, manifest: "gaze" }), {
      saveDir: join(a, "report"),
      gpu: "off",
      gazeSigma: 2,
    });
    const g = s.gaze_alignment!;
    assert.deepEqual([g.grid.frame_width, g.grid.sigma, g.grid.sigma_source], [
      16,
      2,
      "options.gazeSigma",
    ]);
    assert.match(g.grid.frame_size_source, /largest layer map/);
    assert.ok(g.layers[0].kinds.mean.nss.value! > 2);
    const none = await analyzeFeatures(await writeRun(b, { T: 2, manifest: "none" }), {
      saveDir: join(b, "report"),
      gpu: "off",
    });
    assert.equal(none.gaze_alignment, null);
    assert.ok(!none.files.some((f) => f.startsWith("gaze_")));
    await assert.rejects(
      analyzeFeatures(join(b, "features.npy"), { saveDir: join(b, "r2"), gazeSigma: 0 }),
      /options\.gazeSigma 0: use a positive number/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--gaze_sigma parses a positive number and names the flag when wrong", () => {
  assert.equal(analyzeGroup.parse({ gaze_sigma: "12.5" }).gazeSigma, 12.5);
  assert.equal(analyzeGroup.parse({}).gazeSigma, undefined);
  assert.throws(
    () => analyzeGroup.parse({ gaze_sigma: "-3" }),
    /--gaze_sigma -3: use a positive number/,
  );
  assert.throws(() => analyzeGroup.parse({ gaze_sigma: "px" }), /--gaze_sigma px/);
});
