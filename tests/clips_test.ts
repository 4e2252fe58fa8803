// Tests of inspector/clips.ts and inspector/datasets.ts: clip discovery and natural order, frame
// sampling, normalisation (against exact values and a NumPy pipeline), gaze selection, parallel
// decoding, dataset names, and every user error.

import assert from "node:assert/strict";
import * as jpeg from "npm:jpeg-js@0.4.4";
import { join } from "node:path";
import {
  decodeClips,
  listClips,
  liveDecodeWorkers,
  loadClips,
  naturalCompare,
  parseGazeCsv,
  planClips,
  sampleIndices,
  selectGaze,
  startDecodeWorkers,
} from "../inspector/clips.ts";
import {
  DATA_ENV_VAR,
  fixtureClipsDir,
  IMAGENET_MEAN,
  IMAGENET_STD,
  resolveDataset,
} from "../inspector/datasets.ts";
import type { RgbaImage } from "../inspector/image_io.ts";
import { encodePng } from "../render/png.ts";
import { InspectorError } from "../core/errors.ts";
import { HAVE_REAL_FRAMES, haveNumpy, REAL_FRAMES } from "./helpers.ts";

const HAS_NUMPY = haveNumpy();
if (!HAS_NUMPY) console.warn("clips_test: python3 with numpy not found, skipping NumPy checks");
if (!HAVE_REAL_FRAMES) {
  console.warn(`clips_test: ${REAL_FRAMES} absent, skipping the real-frame test`);
}
const HAS_FIXTURES = await Deno.stat(join(fixtureClipsDir(), "dataset.json")).then(
  () => true,
  () => false,
);
if (!HAS_FIXTURES) console.warn("clips_test: fixtures/clips not generated yet, skipping it");

// ---------------------------------------------------------------- helpers

function solid(width: number, height: number, rgb: number[]): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set([rgb[0], rgb[1], rgb[2], 255], i * 4);
  return { width, height, data };
}

function noise(width: number, height: number, seed: number): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < data.length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    data[i] = i % 4 === 3 ? 255 : s & 0xff;
  }
  return { width, height, data };
}

/** Colour of frame `k` of clip `j` in the colour-coded clips. */
const colour = (j: number, k: number) => [20 + 40 * j, 15 * k, 200 - 10 * k];

interface ClipSpec {
  frames: { name: string; image: RgbaImage; jpeg?: boolean }[];
  gaze?: string;
}

async function makeDataset(
  root: string,
  clips: Record<string, ClipSpec>,
  datasetJson?: unknown,
): Promise<string> {
  await Deno.mkdir(root, { recursive: true });
  for (const [name, spec] of Object.entries(clips)) {
    const dir = join(root, name);
    await Deno.mkdir(dir, { recursive: true });
    for (const f of spec.frames) {
      const bytes = f.jpeg ? jpeg.encode(f.image, 90).data as Uint8Array : encodePng(f.image);
      await Deno.writeFile(join(dir, f.name), bytes);
    }
    if (spec.gaze !== undefined) await Deno.writeTextFile(join(dir, "gaze.csv"), spec.gaze);
  }
  if (datasetJson !== undefined) {
    await Deno.writeTextFile(join(root, "dataset.json"), JSON.stringify(datasetJson));
  }
  return root;
}

function colourClip(j: number, n: number, name = (k: number) => `frame_${k + 1}.png`): ClipSpec {
  return {
    frames: Array.from(
      { length: n },
      (_, k) => ({ name: name(k), image: solid(10, 8, colour(j, k)) }),
    ),
  };
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clips_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function rejectsWith(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof InspectorError, `expected InspectorError, got ${err}`);
    assert.match(err.message, re);
    assert.ok(!err.message.includes("\n"), "one line");
    return true;
  });
}

// ---------------------------------------------------------------- pure helpers

Deno.test("sampleIndices: floor(i * n / T), evenly over the whole clip", () => {
  assert.deepEqual(sampleIndices(10, 8), [0, 1, 2, 3, 5, 6, 7, 8]);
  assert.deepEqual(sampleIndices(16, 8), [0, 2, 4, 6, 8, 10, 12, 14]);
  assert.deepEqual(sampleIndices(8, 8), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(sampleIndices(10, 4), [0, 2, 5, 7]);
  assert.deepEqual(sampleIndices(100, 3), [0, 33, 66]);
  assert.throws(() => sampleIndices(3, 4), RangeError);
});

Deno.test("naturalCompare orders digit runs numerically", () => {
  const names = [
    "frame_10.png",
    "frame_2.png",
    "frame_1.png",
    "frame_100.png",
    "clip",
    "a9b",
    "a10a",
  ];
  assert.deepEqual(names.sort(naturalCompare), [
    "a9b",
    "a10a",
    "clip",
    "frame_1.png",
    "frame_2.png",
    "frame_10.png",
    "frame_100.png",
  ]);
  assert.ok(naturalCompare("img_00009.jpg", "img_00010.jpg") < 0);
  assert.ok(naturalCompare("x2", "x02") !== 0);
  assert.equal(naturalCompare("same", "same"), 0);
});

Deno.test("parseGazeCsv and selectGaze: header, several rows per frame, even picking", () => {
  const text = "\uFEFFframe,x,y\r\n0,0.1,0.9\n0,0.2,0.8\n0,0.3,0.7\n0,0.4,0.6\n\n1,0.5,0.5\n" +
    "3,0.0,1.0\n3,1,0\n3,0.5,0.25\n";
  const rows = parseGazeCsv(text, { name: "g.csv", frameCount: 4 });
  assert.equal(rows.length, 8);
  assert.deepEqual(rows[4], { frame: 1, x: 0.5, y: 0.5, line: 7 });
  const xs = (f: number, o: { perFrame?: number; dense?: boolean }) =>
    selectGaze(rows, f, o).map((p) => p.x);
  assert.deepEqual(xs(0, {}), [0.1]); // default: 1 per frame, the first
  assert.deepEqual(xs(0, { perFrame: 2 }), [0.1, 0.3]); // floor(j * 4 / 2) = 0, 2
  assert.deepEqual(xs(0, { perFrame: 3 }), [0.1, 0.2, 0.3]); // floor(j * 4 / 3) = 0, 1, 2
  assert.deepEqual(xs(3, { perFrame: 2 }), [0, 1]); // floor(j * 3 / 2) = 0, 1
  assert.deepEqual(xs(1, { perFrame: 2 }), [0.5]); // fewer rows than the rate: all
  assert.deepEqual(xs(2, { perFrame: 2 }), []);
  assert.deepEqual(xs(0, { perFrame: 1, dense: true }), [0.1, 0.2, 0.3, 0.4]);
  assert.deepEqual(selectGaze(rows, 3, { dense: true }), [
    { x: 0, y: 1 },
    { x: 1, y: 0 },
    { x: 0.5, y: 0.25 },
  ]);
  // Other column orders and extra columns; a headerless numeric file is frame,x,y.
  const other = parseGazeCsv("t_ms,y,x,frame\n12,0.25,0.75,2\n", { name: "g.csv" });
  assert.deepEqual(other, [{ frame: 2, x: 0.75, y: 0.25, line: 2 }]);
  assert.deepEqual(parseGazeCsv("1,0.5,0.6\n", {}), [{ frame: 1, x: 0.5, y: 0.6, line: 1 }]);
  assert.deepEqual(parseGazeCsv("frame,x,y\n", {}), []);
});

Deno.test("parseGazeCsv rejects malformed rows naming file and line", () => {
  const bad: [string, RegExp][] = [
    ["frame,x,y\n0,0.5\n", /clip\/gaze\.csv:2: expected frame,x,y but found 2 fields/],
    ["frame,x,y\n0,0.5,0.5\nzero,0.5,0.5\n", /clip\/gaze\.csv:3: frame "zero" is not/],
    ["frame,x,y\n1.5,0.5,0.5\n", /:2: frame "1\.5"/],
    ["frame,x,y\n0,1.5,0.5\n", /:2: x "1\.5" is not a number in \[0, 1\]/],
    ["frame,x,y\n0,0.5,\n", /:2: y "" is not a number/],
    ["frame,x,y\n0,0.5,nan\n", /:2: y "nan"/],
    ["frame,x,y\n9,0.5,0.5\n", /:2: frame 9 is out of range: the clip has 4 frames/],
    ["time,gx,gy\n0,0.5,0.5\n", /:1: the header must name the columns frame,x,y/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => parseGazeCsv(text, { name: "clip/gaze.csv", frameCount: 4 }), (e) => {
      assert.ok(e instanceof InspectorError);
      assert.match(e.message, re);
      return true;
    });
  }
});

// ---------------------------------------------------------------- loadClips

Deno.test("loadClips: natural clip and frame order, sampling, exact normalised values", async () => {
  await withTemp(async (tmp) => {
    const root = await makeDataset(join(tmp, "colours"), {
      clip10: colourClip(2, 9),
      clip2: colourClip(1, 8),
      clip1: colourClip(0, 12), // frame_1 .. frame_12, no zero padding
    });
    const batch = await loadClips(root, { batchSize: 2, maxLen: 8, size: 6 });
    assert.deepEqual(batch.shape, [2, 8, 3, 6, 6]);
    assert.equal(batch.data.length, 2 * 8 * 3 * 36);
    assert.deepEqual(batch.clips.map((c) => c.id), ["clip1", "clip2"]);
    assert.equal(batch.dataset.name, "colours");
    assert.deepEqual(batch.dataset.mean, [...IMAGENET_MEAN]);
    assert.deepEqual(batch.dataset.std, [...IMAGENET_STD]);
    assert.equal(batch.dataset.gazePerFrame, 1);
    const c0 = batch.clips[0];
    assert.deepEqual(c0.frameIndices, [0, 1, 3, 4, 6, 7, 9, 10]); // floor(i * 12 / 8)
    assert.deepEqual(c0.frameFiles, c0.frameIndices.map((k) => `frame_${k + 1}.png`));
    assert.equal(c0.frameCount, 12);
    assert.deepEqual(c0.gaze, Array.from({ length: 8 }, () => []));
    assert.deepEqual(batch.clips[1].frameIndices, [0, 1, 2, 3, 4, 5, 6, 7]);
    for (let b = 0; b < 2; b++) {
      for (let t = 0; t < 8; t++) {
        const rgb = colour(b, batch.clips[b].frameIndices[t]);
        for (let c = 0; c < 3; c++) {
          const want = (rgb[c] / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
          const base = ((b * 8 + t) * 3 + c) * 36;
          for (let i = 0; i < 36; i++) {
            assert.ok(Math.abs(batch.data[base + i] - want) < 1e-6, `b${b} t${t} c${c}`);
          }
        }
      }
    }
  });
});

const PY_PIPELINE = `
import sys, json, numpy as np
def coeffs(n_in, n_out):
    scale = n_in / n_out; fs = max(scale, 1.0)
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        c = (i + 0.5) * scale
        lo = max(int(c - fs + 0.5), 0); hi = min(int(c + fs + 0.5), n_in)
        x = np.arange(lo, hi); w = np.maximum(0.0, 1.0 - np.abs((x - c + 0.5) / fs))
        m[i, lo:hi] = w / w.sum()
    return m
cfg = json.load(open(sys.argv[1]))
mean, std, size = np.array(cfg['mean']), np.array(cfg['std']), cfg['size']
frames = []
for f in cfg['frames']:
    img = np.fromfile(f['raw'], np.uint8).reshape(f['h'], f['w'], 4)[..., :3].astype(np.float64)
    wy, wx = coeffs(f['h'], size), coeffs(f['w'], size)
    chw = np.stack([wy @ img[..., c] @ wx.T for c in range(3)]) / 255.0
    frames.append((chw - mean[:, None, None]) / std[:, None, None])
np.stack(frames).astype('<f8').tofile(sys.argv[2])
`;

Deno.test({
  name: "loadClips matches a NumPy resize + normalise pipeline, with dataset.json mean/std",
  ignore: !HAS_NUMPY,
  fn: async () => {
    await withTemp(async (tmp) => {
      const sizes = [[20, 16], [9, 30], [33, 12], [12, 12]];
      const clip: ClipSpec = {
        frames: sizes.map(([w, h], k) => ({ name: `f${k}.png`, image: noise(w, h, 100 + k) })),
      };
      const mean = [0.4, 0.5, 0.6], std = [0.2, 0.25, 0.3];
      const root = await makeDataset(join(tmp, "ds"), { only: clip }, { name: "noisy", mean, std });
      const size = 12;
      const batch = await loadClips(root, { batchSize: 1, maxLen: 4, size });
      assert.equal(batch.dataset.name, "noisy");
      assert.deepEqual(batch.dataset.mean, mean);
      const frames = [];
      for (let k = 0; k < clip.frames.length; k++) {
        const raw = join(tmp, `raw${k}`);
        await Deno.writeFile(raw, clip.frames[k].image.data);
        frames.push({ raw, w: sizes[k][0], h: sizes[k][1] });
      }
      await Deno.writeTextFile(join(tmp, "cfg.json"), JSON.stringify({ mean, std, size, frames }));
      const r = await new Deno.Command("python3", {
        args: ["-c", PY_PIPELINE, join(tmp, "cfg.json"), join(tmp, "ref")],
      }).output();
      assert.ok(r.success, new TextDecoder().decode(r.stderr));
      const ref = new Float64Array((await Deno.readFile(join(tmp, "ref"))).buffer);
      assert.equal(ref.length, batch.data.length);
      let max = 0;
      for (let i = 0; i < ref.length; i++) max = Math.max(max, Math.abs(batch.data[i] - ref[i]));
      assert.ok(max < 1e-4, `max abs diff ${max}`);
    });
  },
});

Deno.test("loadClips gaze: dataset gaze_per_frame, --dense_gaze, missing gaze.csv", async () => {
  await withTemp(async (tmp) => {
    const a = colourClip(0, 6);
    // Sampled frames with max_len 3: floor(i * 6 / 3) = 0, 2, 4.
    a.gaze = "frame,x,y\n0,0.1,0.1\n0,0.2,0.2\n0,0.3,0.3\n1,0.9,0.9\n2,0.5,0.6\n4,0.7,0.1\n" +
      "4,0.7,0.2\n4,0.7,0.3\n4,0.7,0.4\n";
    const b = colourClip(1, 3); // no gaze.csv
    const root = await makeDataset(join(tmp, "gz"), { a, b }, { gaze_per_frame: 2 });
    const sparse = await loadClips(root, { batchSize: 2, maxLen: 3, size: 4 });
    assert.equal(sparse.dataset.gazePerFrame, 2);
    assert.deepEqual(sparse.clips[0].gaze, [
      [{ x: 0.1, y: 0.1 }, { x: 0.2, y: 0.2 }], // floor(j * 3 / 2) = 0, 1
      [{ x: 0.5, y: 0.6 }],
      [{ x: 0.7, y: 0.1 }, { x: 0.7, y: 0.3 }], // floor(j * 4 / 2) = 0, 2
    ]);
    assert.deepEqual(sparse.clips[1].gaze, [[], [], []]);
    const dense = await loadClips(root, { batchSize: 2, maxLen: 3, size: 4, denseGaze: true });
    assert.deepEqual(dense.clips[0].gaze.map((g) => g.length), [3, 1, 4]);
    assert.deepEqual(dense.clips[0].gaze[2].map((p) => p.y), [0.1, 0.2, 0.3, 0.4]);
    assert.deepEqual(dense.data, sparse.data);
  });
});

Deno.test("loadClips on 2 or 3 workers, or off the calling thread, equals --workers 1", async () => {
  await withTemp(async (tmp) => {
    const clip = (seed: number): ClipSpec => ({
      frames: Array.from({ length: 7 }, (_, k) => ({
        name: `img_${String(k).padStart(3, "0")}.${k % 2 ? "jpg" : "png"}`,
        image: noise(24 + k, 18 + 2 * k, seed + k),
        jpeg: k % 2 === 1,
      })),
      gaze: "frame,x,y\n0,0.5,0.5\n3,0.25,0.75\n",
    });
    const root = await makeDataset(join(tmp, "mix"), { c0: clip(1), c1: clip(50) });
    const opts = { batchSize: 2, maxLen: 5, size: 16 };
    const one = await loadClips(root, { ...opts, workers: 1 });
    for (const extra of [{ workers: 2 }, { workers: 3 }, { workers: 1, offThread: true }]) {
      const many = await loadClips(root, { ...opts, ...extra });
      assert.deepEqual(new Uint8Array(many.data.buffer), new Uint8Array(one.data.buffer));
      assert.deepEqual(many.clips, one.clips);
      assert.deepEqual(many.shape, one.shape);
      assert.equal(liveDecodeWorkers(), 0);
    }
    // Not a trivial batch: the frames differ from each other.
    assert.notEqual(one.data[0], one.data[3 * 256]);
  });
});

Deno.test("a folder that directly holds frames is one clip", async () => {
  await withTemp(async (tmp) => {
    const dir = join(tmp, "walk");
    await makeDataset(tmp, {
      walk: {
        frames: [
          { name: "b.png", image: solid(5, 5, [0, 0, 0]) },
          { name: "a.png", image: solid(5, 5, [255, 255, 255]) },
        ],
      },
    });
    assert.deepEqual(await listClips(dir), [{ id: "walk", dir }]);
    const batch = await loadClips(dir, { batchSize: 1, maxLen: 2, size: 2 });
    assert.deepEqual(batch.clips[0].frameFiles, ["a.png", "b.png"]);
    assert.ok(Math.abs(batch.data[0] - (1 - 0.485) / 0.229) < 1e-6);
  });
});

// ---------------------------------------------------------------- datasets

Deno.test("resolveDataset: paths, fixture names, FEATURE_INSPECTOR_DATA names", async () => {
  await withTemp(async (tmp) => {
    await makeDataset(join(tmp, "ucf"), { c: colourClip(0, 2) }, { name: "UCF-101" });
    await makeDataset(join(tmp, "egtea"), { c: colourClip(0, 2) });
    const byRoot = await resolveDataset("ucf", { dataRoot: tmp });
    assert.deepEqual(byRoot, {
      name: "UCF-101",
      dir: join(tmp, "ucf"),
      mean: [...IMAGENET_MEAN],
      std: [...IMAGENET_STD],
      gazePerFrame: 1,
    });
    assert.equal((await resolveDataset(join(tmp, "egtea"))).name, "egtea");
    const before = Deno.env.get(DATA_ENV_VAR);
    Deno.env.set(DATA_ENV_VAR, tmp);
    try {
      const byEnv = await resolveDataset("egtea");
      assert.equal(byEnv.dir, join(tmp, "egtea"));
      assert.equal(byEnv.name, "egtea");
      const batch = await loadClips("egtea", { batchSize: 1, maxLen: 2, size: 2 });
      assert.equal(batch.clips[0].id, "c");
      await rejectsWith(
        resolveDataset("kinetics"),
        /options\.dset kinetics: no such folder.*egtea.*ucf/,
      );
    } finally {
      if (before === undefined) Deno.env.delete(DATA_ENV_VAR);
      else Deno.env.set(DATA_ENV_VAR, before);
    }
    await rejectsWith(
      resolveDataset("kinetics", { dataRoot: "" }),
      /no dataset of that name \(known names: fixture, default; set FEATURE_INSPECTOR_DATA/,
    );
  });
  const fixture = fixtureClipsDir();
  assert.ok(/[\\/]fixtures[\\/]clips$/.test(fixture), fixture);
  assert.equal(
    fixture,
    join(new URL("..", import.meta.url).pathname, "fixtures", "clips"),
  );
});

Deno.test({
  name: "the bundled fixture clips load by name",
  ignore: !HAS_FIXTURES,
  fn: async () => {
    for (const name of ["fixture", "default", undefined]) {
      const ds = await resolveDataset(name);
      assert.equal(ds.dir, fixtureClipsDir());
    }
    const batch = await loadClips("fixture", { batchSize: 2, maxLen: 8, size: 32 });
    assert.deepEqual(batch.shape, [2, 8, 3, 32, 32]);
    assert.ok(batch.data.every(Number.isFinite));
  },
});

Deno.test({
  name: "the real mmaction2 frames load as one clip with plausible normalised values",
  ignore: !HAVE_REAL_FRAMES,
  fn: async () => {
    const batch = await loadClips(REAL_FRAMES, { batchSize: 1, maxLen: 8, size: 112 });
    assert.deepEqual(batch.shape, [1, 8, 3, 112, 112]);
    assert.equal(batch.clips[0].id, "frames");
    assert.equal(batch.clips[0].frameCount, 10);
    assert.deepEqual(batch.clips[0].frameIndices, [0, 1, 2, 3, 5, 6, 7, 8]);
    assert.equal(batch.clips[0].frameFiles[4], "img_00006.jpg");
    const plane = 112 * 112;
    for (let c = 0; c < 3; c++) {
      let sum = 0, sq = 0;
      for (let t = 0; t < 8; t++) {
        for (let i = 0; i < plane; i++) {
          const v = batch.data[(t * 3 + c) * plane + i];
          assert.ok(Number.isFinite(v));
          sum += v;
          sq += v * v;
        }
      }
      const mean = sum / (8 * plane), sd = Math.sqrt(sq / (8 * plane) - mean * mean);
      // Normalised natural images: channel means within about +-1.5, spread around 0.3..1.5.
      assert.ok(Math.abs(mean) < 1.5, `channel ${c} mean ${mean}`);
      assert.ok(sd > 0.2 && sd < 1.8, `channel ${c} std ${sd}`);
      // Every value inside the normalised range of [0, 1] pixels (with float rounding slack).
      const lo = (0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c],
        hi = (1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
      for (let i = 0; i < 8 * plane; i++) {
        const v = batch.data[(Math.floor(i / plane) * 3 + c) * plane + (i % plane)];
        assert.ok(v >= lo - 1e-4 && v <= hi + 1e-4);
      }
    }
  },
});

// ---------------------------------------------------------------- errors

Deno.test("loadClips errors: one clear line each", async () => {
  await withTemp(async (tmp) => {
    await rejectsWith(loadClips(join(tmp, "nope"), {}), /options\.dset .*nope: no such folder/);
    await Deno.writeTextFile(join(tmp, "file.txt"), "x");
    await rejectsWith(loadClips(join(tmp, "file.txt"), {}), /is a file, not a clips folder/);

    const empty = join(tmp, "empty");
    await Deno.mkdir(join(empty, ".hidden"), { recursive: true });
    await Deno.writeTextFile(join(empty, "notes.txt"), "no frames here");
    await rejectsWith(loadClips(empty, {}), /clips folder .*empty is empty: it holds no clip/);

    const noFrames = await makeDataset(join(tmp, "noframes"), { a: colourClip(0, 3) });
    await Deno.mkdir(join(noFrames, "b"));
    await Deno.writeTextFile(join(noFrames, "b", "gaze.csv"), "frame,x,y\n");
    await rejectsWith(
      loadClips(noFrames, { batchSize: 2, maxLen: 2, size: 4 }),
      /clip folder .*noframes\/b has no frames/,
    );

    const few = await makeDataset(join(tmp, "few"), {
      a: colourClip(0, 9),
      b: colourClip(1, 5),
      c: colourClip(2, 6),
    });
    await rejectsWith(
      loadClips(few, { batchSize: 3, maxLen: 8, size: 4 }),
      /^clip b has 5 frames, fewer than options\.maxLen 8 \(2 of the 3 clips are short\): pass options\.maxLen 5/,
    );
    await rejectsWith(
      loadClips(few, { batchSize: 4, maxLen: 2, size: 4 }),
      /holds 3 clips \(a, b, c\), fewer than options\.batchSize 4: pass options\.batchSize 3/,
    );
    await rejectsWith(
      loadClips(few, { batchSize: 0 }),
      /options\.batchSize must be a positive integer/,
    );
    await rejectsWith(loadClips(few, { size: 1.5 }), /options\.size must be a positive integer/);

    const badGaze = await makeDataset(join(tmp, "badgaze"), {
      a: { ...colourClip(0, 3), gaze: "frame,x,y\n0,0.5,0.5\n1,0.5\n" },
    });
    await rejectsWith(
      loadClips(badGaze, { batchSize: 1, maxLen: 3, size: 4 }),
      /badgaze\/a\/gaze\.csv:3: expected frame,x,y but found 2 fields/,
    );

    const badJson = await makeDataset(join(tmp, "badjson"), { a: colourClip(0, 3) });
    await Deno.writeTextFile(join(badJson, "dataset.json"), '{"mean": [0.5, 0.5]}');
    await rejectsWith(loadClips(badJson, {}), /dataset\.json: "mean" must be 3 finite numbers/);
    await Deno.writeTextFile(join(badJson, "dataset.json"), "{mean");
    await rejectsWith(loadClips(badJson, {}), /dataset\.json is not valid JSON/);
    await Deno.writeTextFile(join(badJson, "dataset.json"), '{"gaze_per_frame": 0}');
    await rejectsWith(loadClips(badJson, {}), /"gaze_per_frame" must be a positive integer/);
  });
});

Deno.test("a corrupt frame is named, with one worker or several (workers terminated)", async () => {
  await withTemp(async (tmp) => {
    const root = await makeDataset(join(tmp, "corrupt"), {
      a: colourClip(0, 6),
      b: colourClip(1, 6),
    });
    const good = await Deno.readFile(join(root, "b", "frame_4.png"));
    await Deno.writeFile(join(root, "b", "frame_4.png"), good.slice(0, good.length - 20));
    await Deno.writeTextFile(join(root, "a", "frame_3.png"), "not an image at all");
    for (const extra of [{ workers: 1 }, { workers: 2 }, { workers: 4 }, { offThread: true }]) {
      await rejectsWith(
        loadClips(root, { batchSize: 2, maxLen: 6, size: 8, ...extra }),
        /cannot (read|decode) frame .*corrupt\/(a\/frame_3|b\/frame_4)\.png/,
      );
      assert.equal(liveDecodeWorkers(), 0, "workers terminated after the error");
    }
    await Deno.writeFile(join(root, "a", "frame_3.png"), good);
    await rejectsWith(
      loadClips(root, { batchSize: 2, maxLen: 6, size: 8, workers: 2 }),
      /cannot decode frame .*corrupt\/b\/frame_4\.png: corrupt or truncated PNG/,
    );
    // Clips that skip the bad frame through sampling are fine: b's frames 0, 2, 4 -> frame_1/3/5.
    const ok = await loadClips(root, { batchSize: 2, maxLen: 3, size: 8, workers: 2 });
    assert.deepEqual(ok.clips[1].frameFiles, ["frame_1.png", "frame_3.png", "frame_5.png"]);
  });
});

Deno.test("frames decode on workers after onnxruntime-web's WASM build has loaded", async () => {
  // Loading the WASM build swaps globalThis.Worker for node:worker_threads' Worker, whose
  // workers never answered the decoders (the run ended with the promise pending).
  const { createSession } = await import("../inspector/runtime.ts");
  const model = await Deno.readFile(new URL("../fixtures/resnet18_video.onnx", import.meta.url));
  await (await createSession(model, { ep: "wasm", threads: 1 }))[Symbol.asyncDispose]();
  const opts = { batchSize: 1, maxLen: 2, size: 16 };
  const here = await loadClips("fixture", opts);
  {
    using decoders = startDecodeWorkers(1);
    assert.equal(decoders.count, 1);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const there = await Promise.race([
      decodeClips(await planClips("fixture", opts), { decoders }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("the decode worker never answered")), 30_000);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.deepEqual(there.data, here.data);
  }
  assert.equal(liveDecodeWorkers(), 0);
});
