// Dataset mode (issue 15): every clip of a 64-clip folder (frame folders and mp4 videos mixed),
// streamed statistics equal to NumPy over all activations, 4 shards merged == one run, a killed
// run resumed == an uninterrupted run.
import assert from "node:assert/strict";
import { join } from "node:path";
import { encodePng } from "../render/png.ts";
import { prng } from "../stats/prng.ts";
import {
  type DatasetState,
  mergeShards,
  PARTIALS_FILE,
  readState,
  runDataset,
  statsFile,
} from "../inspector/dataset_run.ts";
import { runInspect } from "../inspector/run_inspect.ts";
import { loadNativeOrt } from "../inspector/runtime.ts";
import { haveNumpy, python, ROOT, skip } from "./helpers.ts";

const CLIPS = 64, FRAMES = 4, SIDE = 24, B = 8;
const OPTS = { size: 32, maxLen: 2, batchSize: B, ep: "wasm" as const, threads: 1 };

function haveFfmpeg(): boolean {
  try {
    return new Deno.Command("ffmpeg", { args: ["-version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** 64 clips: every fourth an mp4 (when ffmpeg is there), the others PNG frame folders. */
async function makeClips(dir: string): Promise<number> {
  const rand = prng(15);
  const ffmpeg = haveFfmpeg();
  let videos = 0;
  for (let c = 0; c < CLIPS; c++) {
    const clip = join(dir, `clip${String(c).padStart(3, "0")}`);
    await Deno.mkdir(clip, { recursive: true });
    for (let f = 0; f < FRAMES; f++) {
      const data = new Uint8Array(SIDE * SIDE * 4);
      for (let i = 0; i < data.length; i++) data[i] = i % 4 === 3 ? 255 : (rand() * 256) | 0;
      await Deno.writeFile(
        join(clip, `f${f}.png`),
        encodePng({ width: SIDE, height: SIDE, data }),
      );
    }
    if (ffmpeg && c % 4 === 1) {
      const out = await new Deno.Command("ffmpeg", {
        args: [
          "-v",
          "error",
          "-y",
          "-framerate",
          "10",
          "-i",
          join(clip, "f%d.png"),
          "-c:v",
          "libx264",
          "-pix_fmt",
          "yuv420p",
          "-crf",
          "10",
          `${clip}.mp4`,
        ],
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      await Deno.remove(clip, { recursive: true });
      videos++;
    }
  }
  return videos;
}

Deno.test("dataset: 64 clips (folders + mp4): stats equal NumPy; 4 shards merged and a resumed run equal one run", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ds15_" });
  try {
    const clips = join(tmp, "clips");
    const videos = await makeClips(clips);
    if (videos === 0) skip("ffmpeg absent: frame folders only");

    // One uninterrupted run, batch after batch (the runs below overlap each batch's statistics
    // with the next batch's forward pass, `overlap`, or not: the same numbers either way).
    const progress: number[] = [];
    const one = await runDataset({
      ...OPTS,
      overlap: false,
      dset: clips,
      saveDir: join(tmp, "one"),
      onProgress: (p) => progress.push(p.done),
    });
    assert.deepEqual(progress, [8, 16, 24, 32, 40, 48, 56, 64]);
    const s1 = JSON.parse(await Deno.readTextFile(one.stats));
    assert.equal(s1.clips, CLIPS);
    assert.equal(s1.complete, true);
    const clipLines = (await Deno.readTextFile(join(tmp, "one", "clips.jsonl"))).trim().split("\n");
    assert.equal(clipLines.length, CLIPS);

    // 4 shards, merged: the same numbers, bit for bit.
    const shards: DatasetState[] = [];
    for (let i = 3; i >= 0; i--) {
      const r = await runDataset({
        ...OPTS,
        overlap: i % 2 === 0,
        dset: clips,
        shard: `${i}/4`,
        saveDir: join(tmp, `s${i}`),
      });
      // The running state keeps no partials in memory: they are in partials.jsonl, one line a batch.
      assert.deepEqual(r.state.partials, []);
      const lines = (await Deno.readTextFile(join(tmp, `s${i}`, PARTIALS_FILE))).trim().split("\n");
      assert.equal(lines.length, r.state.batches.end - r.state.batches.first);
      shards.push((await readState(join(tmp, `s${i}`, "dataset_state.json")))!);
    }
    assert.throws(
      () => mergeShards(shards.map((s) => ({ ...s, partials: [] }))),
      /readState/,
    );
    assert.deepEqual(statsFile(mergeShards(shards)).layers, s1.layers);
    // The same through `deno task merge`'s script.
    const merge = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        join(ROOT, "scripts", "merge.ts"),
        ...[0, 1, 2, 3].map((i) => join(tmp, `s${i}`)),
        "--save_dir",
        join(tmp, "merged"),
      ],
    }).output();
    assert.ok(merge.success, new TextDecoder().decode(merge.stderr));
    const merged = JSON.parse(await Deno.readTextFile(join(tmp, "merged", "dataset_stats.json")));
    assert.deepEqual(merged.layers, s1.layers);
    assert.equal(
      (await Deno.readTextFile(join(tmp, "merged", "clips.jsonl"))).trim().split("\n").join("\n"),
      clipLines.join("\n"),
    );

    // Killed after 3 batches, then resumed: the same numbers.
    const dir = join(tmp, "killed");
    await runDataset({ ...OPTS, overlap: true, dset: clips, saveDir: dir, stopAfter: 3 });
    // Nothing of a fourth batch was written, although its forward pass had started.
    assert.equal((await Deno.readTextFile(join(dir, "clips.jsonl"))).trim().split("\n").length, 24);
    await assert.rejects(
      runDataset({ ...OPTS, dset: clips, saveDir: dir }),
      /options.resume|--resume/,
    );
    const resumed = await runDataset({
      ...OPTS,
      overlap: true,
      dset: clips,
      saveDir: dir,
      resume: true,
    });
    assert.deepEqual(statsFile(resumed.state).layers, s1.layers);
    assert.equal((await Deno.readTextFile(join(dir, "clips.jsonl"))).trim().split("\n").length, 64);

    // NumPy over every activation: each batch's features saved whole by plain inspect.
    if (!haveNumpy()) return skip("numpy absent: NumPy reference not run");
    const npys: string[] = [];
    for (let k = 0; k < CLIPS / B; k++) {
      const r = await runInspect({
        ...OPTS,
        dset: clips,
        firstClip: k * B,
        batchIdx: "all",
        timestep: "all",
        gridChannels: 0,
        saveDir: join(tmp, `ref${k}`),
      });
      npys.push(r.json.replace(/\.json$/, ".npy"));
    }
    const ref = await python(
      `
import sys, json, numpy as np
files = sys.argv[1:]
recs = [np.load(f) for f in files]
out = {}
for name in recs[0].dtype.names:
    a = np.concatenate([r[name].reshape((-1,) + r[name].shape[2:]) for r in recs]).astype(np.float64)
    c = a.shape[1]
    v = np.moveaxis(a, 1, 0).reshape(c, -1)
    out[name] = dict(mean=v.mean(1).tolist(), std=v.std(1).tolist(), min=v.min(1).tolist(),
        max=v.max(1).tolist(), zeros=(v == 0).sum(1).tolist(), n=int(v.shape[1]),
        dead=[int(i) for i in np.where(v.max(1) <= 0)[0]], all_mean=float(v.mean()),
        all_std=float(v.std()))
print(json.dumps(out))
`,
      npys,
    ) as Record<string, Record<string, number[] | number>>;
    assert.equal(s1.layers.length, Object.keys(ref).length);
    for (const l of s1.layers) {
      const r = ref[l.name];
      assert.ok(r, `layer ${l.name} in the NumPy reference`);
      assert.equal(l.values, (r.n as number) * l.channels, `${l.name}: value count`);
      const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
      const scale = Math.max(...(r.std as number[]).map(Math.abs), 1e-30);
      for (let c = 0; c < l.channels; c++) {
        assert.ok(
          Math.abs(l.per_channel.mean[c] - (r.mean as number[])[c]) <= 1e-6 * scale,
          `${l.name} ch ${c} mean ${l.per_channel.mean[c]} vs ${(r.mean as number[])[c]}`,
        );
        assert.ok(
          Math.abs(l.per_channel.std[c] - (r.std as number[])[c]) <= 1e-6 * scale,
          `${l.name} ch ${c} std`,
        );
        assert.equal(l.per_channel.min[c], (r.min as number[])[c]);
        assert.equal(l.per_channel.max[c], (r.max as number[])[c]);
        assert.equal(
          Math.round(l.per_channel.sparsity[c] * (r.n as number)),
          (r.zeros as number[])[c],
          `${l.name} ch ${c} zeros`,
        );
      }
      assert.deepEqual(l.dead_channels, r.dead);
      assert.ok(
        rel(l.summary.mean, r.all_mean as number) <= 1e-6 || Math.abs(l.summary.mean) < 1e-9,
      );
      assert.ok(rel(l.summary.std, r.all_std as number) <= 1e-6);
      const histTotal = l.histogram.counts.reduce((a: number, b: number) => a + b, 0);
      assert.equal(histTotal, l.values, `${l.name}: histogram counts every value`);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test({
  name:
    "dataset on the native cpu backend: each batch's forward beside the last one's statistics " +
    "gives the numbers of batch after batch, bit for bit",
  ignore: !(await loadNativeOrt().then(() => true, () => false)),
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "ds15cpu_" });
    try {
      const clips = join(tmp, "clips");
      await makeClips(clips);
      // threads 1 on a machine with 2+ cores: overlap is the default there.
      const cpu = { ...OPTS, ep: "cpu" as const, batchSize: 4, saveFrames: false };
      const plain = await runDataset({
        ...cpu,
        overlap: false,
        dset: clips,
        saveDir: join(tmp, "a"),
      });
      const over = await runDataset({
        ...cpu,
        overlap: true,
        dset: clips,
        saveDir: join(tmp, "b"),
      });
      const a = statsFile(plain.state), b = statsFile(over.state);
      assert.deepEqual(b.layers, a.layers);
      assert.equal(
        await Deno.readTextFile(join(tmp, "b", "clips.jsonl")),
        await Deno.readTextFile(join(tmp, "a", "clips.jsonl")),
      );
      // Not a vacuous comparison: every layer saw every clip, and the stem's relu has zeros.
      const relu = a.layers.find((l) => l.name === "relu")!;
      assert.ok(relu.values > 0 && relu.summary.sparsity > 0.05, JSON.stringify(relu.summary));
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
