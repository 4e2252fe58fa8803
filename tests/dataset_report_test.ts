// Dataset report (issue 15): analyze on an inspect --all_clips run folder. One clip of twelve is
// much brighter: its robust z equals NumPy's from clips.jsonl and it alone is flagged; dead
// channels over the dataset equal an independent check of the stats; the histogram chart's bars
// add up to every value; the saved frames equal a normal inspect run of that clip, bit for bit.
import assert from "node:assert/strict";
import { join } from "node:path";
import { encodePng } from "../render/png.ts";
import { prng } from "../stats/prng.ts";
import { robustZ } from "../stats/robust_z.ts";
import { runDataset } from "../inspector/dataset_run.ts";
import { runInspect } from "../inspector/run_inspect.ts";
import { analyzeDataset, datasetRunDir } from "../analysis/dataset_report.ts";
import { datasetDistributionSpec } from "../analysis/charts_dataset.ts";
import { haveNumpy, python, skip } from "./helpers.ts";

const CLIPS = 12, BRIGHT = 5, SIDE = 16, B = 4;
const OPTS = { size: 32, maxLen: 2, batchSize: B, ep: "wasm" as const, threads: 1 };

async function makeClips(dir: string): Promise<void> {
  const rand = prng(7);
  for (let c = 0; c < CLIPS; c++) {
    const clip = join(dir, `clip${String(c).padStart(2, "0")}`);
    await Deno.mkdir(clip, { recursive: true });
    for (let f = 0; f < 2; f++) {
      const data = new Uint8Array(SIDE * SIDE * 4);
      for (let i = 0; i < data.length; i++) {
        data[i] = i % 4 === 3 ? 255 : c === BRIGHT ? 200 + ((rand() * 56) | 0) : (rand() * 120) | 0;
      }
      await Deno.writeFile(join(clip, `f${f}.png`), encodePng({ width: SIDE, height: SIDE, data }));
    }
  }
}

Deno.test("dataset report: robust z = NumPy, only the bright clip flagged, dead channels, histogram, saved frames = inspect", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "dsrep_" });
  try {
    const clips = join(tmp, "clips");
    await makeClips(clips);
    const run = join(tmp, "ds");
    const r = await runDataset({
      ...OPTS,
      dset: clips,
      saveDir: run,
      batchIdx: String(BRIGHT),
      timestep: "0-1",
    });
    assert.equal(r.frames, join(run, "frames", "features.npy"));
    assert.equal(await datasetRunDir(run), run);
    assert.equal(await datasetRunDir(join(run, "dataset_stats.json")), join(run, "."));
    assert.equal(await datasetRunDir(clips), null);
    // Out-of-range clip index: refused before the pass, naming the option.
    await assert.rejects(
      runDataset({ ...OPTS, dset: clips, saveDir: join(tmp, "bad"), batchIdx: "12" }),
      /options\.batchIdx 12 is out of range: the dataset has 12 clips/,
    );

    const rep = join(tmp, "report");
    const s = await analyzeDataset(run, { saveDir: rep });
    for (const f of s.files) assert.ok((await Deno.stat(join(rep, f))).size > 0, f);
    assert.ok(s.files.includes("outliers.csv") && s.files.includes("clip_outliers.png"));
    const html = await Deno.readTextFile(join(rep, "index.html"));
    assert.ok(html.includes("clip05") && html.includes("frames/index.html"));
    assert.ok((await Deno.stat(join(rep, "frames", "index.html"))).isFile);
    const onDisk = JSON.parse(await Deno.readTextFile(join(rep, "dataset_summary.json")));
    assert.deepEqual(Object.keys(onDisk.layers), Object.keys(s.layers));

    // Outliers: only the bright clip, in at least the first layers.
    const flaggedClips = new Set(s.outliers.map((o) => o.clip));
    assert.deepEqual([...flaggedClips], ["clip05"]);
    assert.ok(s.layers.conv1.outliers.flagged === 1 && s.layers.conv1.outliers.top[0].z > 3.5);
    assert.equal(s.layers.conv1.outliers.top[0].file, join(clips, "clip05"));
    const csv = (await Deno.readTextFile(join(rep, "outliers.csv"))).trim().split("\n");
    assert.equal(csv.length, 1 + CLIPS * Object.keys(s.layers).length);

    // Dead channels and histograms from dataset_stats.json.
    const stats = JSON.parse(await Deno.readTextFile(join(run, "dataset_stats.json")));
    let dead = 0;
    for (const l of stats.layers) {
      const mine = s.layers[l.name];
      const sum = (a: { count: number }[]) => a.reduce((x, y) => x + y.count, 0);
      const spec = datasetDistributionSpec(l.name, l.histogram);
      const bars = (spec.data![0] as unknown as { values: { count: number }[] }).values;
      assert.equal(sum(bars), l.values, `${l.name}: chart bars add up to every value`);
      assert.equal(sum(mine.histogram), l.values);
      dead += mine.dead_count;
      assert.equal(mine.dead_count, mine.dead_channels.length);
      assert.equal(
        mine.flags.some((f) => f.code === "dead_channels" || f.code === "all_dead"),
        mine.dead_count > 0,
      );
    }
    assert.ok(dead > 0, "the data has channels dead over the dataset");

    // JS check of the z-scores (NumPy below when present).
    const lines = (await Deno.readTextFile(join(run, "clips.jsonl"))).trim().split("\n").map((
      x,
    ) => JSON.parse(x));
    const z = robustZ(lines.map((x) => x.layers.conv1.mean));
    assert.equal(s.layers.conv1.outliers.median, z.median);

    // Saved frames: a normal inspect run of the bright clip alone, and of its batch.
    const alone = await runInspect({
      ...OPTS,
      dset: clips,
      firstClip: BRIGHT,
      batchSize: 1,
      timestep: "0-1",
      gridChannels: 0,
      saveDir: join(tmp, "alone"),
    });
    const inBatch = await runInspect({
      ...OPTS,
      dset: clips,
      firstClip: 4,
      batchIdx: String(BRIGHT - 4),
      timestep: "0-1",
      gridChannels: 0,
      saveDir: join(tmp, "batch"),
    });
    const bytes = async (p: string) => new Uint8Array(await Deno.readFile(p));
    const framesNpy = await bytes(r.frames!);
    const headerEnd = (b: Uint8Array) => 10 + new DataView(b.buffer).getUint16(8, true);
    for (const ref of [alone.npy, inBatch.npy]) {
      const b = await bytes(ref);
      assert.deepEqual(framesNpy.subarray(headerEnd(framesNpy)), b.subarray(headerEnd(b)));
    }
    const m = JSON.parse(await Deno.readTextFile(join(run, "frames", "features.json")));
    assert.deepEqual(m.targets, { batch_idx: [BRIGHT], timestep: [0, 1] });
    assert.equal(m.data.saved_frames[0][1].clip, "clip05");

    if (!haveNumpy()) return skip("numpy absent: NumPy reference not run");
    const ref = await python(
      `
import sys, json, numpy as np
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
stats = json.load(open(sys.argv[2]))
a, b = np.load(sys.argv[3]), np.load(sys.argv[4])
out = {"z": {}, "flagged": {}, "dead": {}, "frames_equal": all(np.array_equal(a[n], b[n]) for n in a.dtype.names)}
for l in stats["layers"]:
    x = np.array([c["layers"][l["name"]]["mean"] for c in lines], dtype=np.float64)
    med = np.median(x)
    mad = np.median(np.abs(x - med))
    z = (x - med) / (1.4826 * mad)
    out["z"][l["name"]] = z.tolist()
    out["flagged"][l["name"]] = [lines[i]["clip"] for i in np.where(np.abs(z) > 3.5)[0]]
    mx = np.array([np.nan if v is None else v for v in l["per_channel"]["max"]])
    out["dead"][l["name"]] = [int(i) for i in np.where(mx <= 0)[0]]
print(json.dumps(out))
`,
      [join(run, "clips.jsonl"), join(run, "dataset_stats.json"), r.frames!, alone.npy],
    ) as {
      z: Record<string, number[]>;
      flagged: Record<string, string[]>;
      dead: Record<string, number[]>;
      frames_equal: boolean;
    };
    assert.equal(ref.frames_equal, true);
    const csvZ = new Map<string, number>();
    for (const row of csv.slice(1)) {
      const c = row.split(",");
      csvZ.set(`${c[0]}/${c[1]}`, Number(c[8]));
    }
    for (const [name, l] of Object.entries(s.layers)) {
      assert.deepEqual(l.dead_channels, ref.dead[name], `${name}: dead channels`);
      assert.deepEqual(
        s.outliers.filter((o) => o.layer === name).map((o) => o.clip),
        ref.flagged[name],
        `${name}: flagged clips`,
      );
      ref.z[name].forEach((zz, i) => {
        const mine = csvZ.get(`${name}/${lines[i].clip}`)!;
        assert.ok(
          Math.abs(mine - zz) <= 1e-9 * Math.max(1, Math.abs(zz)),
          `${name} ${i}: ${mine} vs ${zz}`,
        );
      });
    }
    assert.deepEqual(ref.flagged.conv1, ["clip05"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
