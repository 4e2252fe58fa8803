// Video files as clips: the "video" FrameSource kind (system ffmpeg/ffprobe).
import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, haveNumpy, python, ROOT, SHARED, skip } from "./helpers.ts";
import { openFrameSource, readFrameLocator } from "../inspector/frame_source_kinds.ts";
import { listClips, planClips } from "../inspector/clips.ts";
import { decodeImage } from "../inspector/image_io.ts";

const REAL_MP4 = join(SHARED, "real", "clips", "mmaction2", "test.mp4");

function haveFfmpeg(): boolean {
  try {
    return ["ffmpeg", "ffprobe"].every((c) =>
      new Deno.Command(c, { args: ["-version"], stdout: "null", stderr: "null" }).outputSync()
        .success
    );
  } catch {
    return false;
  }
}
const FFMPEG = haveFfmpeg();

async function ffmpeg(args: string[]): Promise<void> {
  const r = await new Deno.Command("ffmpeg", { args: ["-v", "error", "-y", ...args] }).output();
  if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
}

Deno.test("video: decoded frames of test.mp4 equal ffmpeg's own frame_%04d.png", async () => {
  if (!FFMPEG) return skip("ffmpeg/ffprobe not installed (apt-get install ffmpeg)");
  if (!exists(REAL_MP4)) return skip(`${REAL_MP4} missing`);
  const tmp = await Deno.makeTempDir({ prefix: "v15_png_" });
  try {
    await ffmpeg(["-i", REAL_MP4, join(tmp, "frame_%04d.png")]);
    const pngs = [...Deno.readDirSync(tmp)].length;
    const src = await openFrameSource({ id: "test.mp4", dir: REAL_MP4 });
    assert.equal(src.kind, "video");
    assert.equal(src.count, pngs, "frame count = frames ffmpeg writes");
    for (const i of [0, 1, 37, 150, pngs - 1]) {
      const ours = await readFrameLocator(src.ref(i));
      const ref = await decodeImage(
        await Deno.readFile(join(tmp, `frame_${String(i + 1).padStart(4, "0")}.png`)),
        { name: "png" },
      );
      assert.equal(ours.width, ref.width);
      assert.equal(ours.height, ref.height);
      let worst = 0;
      for (let k = 0; k < ref.data.length; k++) {
        worst = Math.max(worst, Math.abs(ours.data[k] - ref.data[k]));
      }
      assert.ok(worst <= 1, `frame ${i}: max |diff| ${worst} > 1 (decoder rounding)`);
    }
    // Many frames asked for at once (150 separate ones, then a run of 40): ffmpeg's select
    // expression is split and runs are merged, and each frame is still the right one.
    const sparse = Array.from({ length: 150 }, (_, k) => 2 * k);
    const many = [
      ...sparse.map((i) => src.ref(i)),
      ...Array.from({ length: 40 }, (_, k) => src.ref(k + 201)),
    ];
    const got = await Promise.all(many.map((r) => readFrameLocator(r)));
    for (const [k, i] of [[0, 0], [75, 150], [149, 298], [150, 201], [189, 240]]) {
      const ref = await decodeImage(
        await Deno.readFile(join(tmp, `frame_${String(i + 1).padStart(4, "0")}.png`)),
        { name: "png" },
      );
      let worst = 0;
      for (let q = 0; q < ref.data.length; q++) {
        worst = Math.max(worst, Math.abs(got[k].data[q] - ref.data[q]));
      }
      assert.ok(worst <= 1, `frame ${i} of a 190-frame read: max |diff| ${worst} > 1`);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("video: sampled indices of test.mp4 equal NumPy's floor(arange(T) * n / T)", async () => {
  if (!FFMPEG) return skip("ffmpeg/ffprobe not installed (apt-get install ffmpeg)");
  if (!exists(REAL_MP4)) return skip(`${REAL_MP4} missing`);
  if (!haveNumpy()) return skip("python3 with numpy not installed");
  for (const maxLen of [1, 7, 8, 16, 299]) {
    const plan = await planClips(REAL_MP4, { batchSize: 1, maxLen, size: 32 });
    const n = plan.clips[0].frameCount;
    const want = await python(
      "import sys,json,numpy as np;n,t=int(sys.argv[1]),int(sys.argv[2]);" +
        "print(json.dumps(np.floor(np.arange(t)*n/t).astype(int).tolist()))",
      [String(n), String(maxLen)],
    );
    assert.deepEqual(plan.clips[0].frameIndices, want, `max_len ${maxLen}`);
  }
});

Deno.test("video: a folder of generated mp4 + webm clips runs end to end through deno task inspect", async () => {
  if (!FFMPEG) return skip("ffmpeg/ffprobe not installed (apt-get install ffmpeg)");
  const tmp = await Deno.makeTempDir({ prefix: "v15_e2e_" });
  try {
    const vids = join(tmp, "vids");
    await Deno.mkdir(join(tmp, "frames"), { recursive: true });
    await Deno.mkdir(vids);
    await ffmpeg([
      "-f",
      "lavfi",
      "-i",
      "testsrc=size=64x48:rate=10",
      "-frames:v",
      "12",
      join(tmp, "frames", "f_%02d.png"),
    ]);
    await ffmpeg([
      "-framerate",
      "10",
      "-i",
      join(tmp, "frames", "f_%02d.png"),
      "-pix_fmt",
      "yuv420p",
      "-c:v",
      "libx264",
      join(vids, "a.mp4"),
    ]);
    await ffmpeg([
      "-framerate",
      "10",
      "-i",
      join(tmp, "frames", "f_%02d.png"),
      "-c:v",
      "libvpx-vp9",
      join(vids, "b.webm"),
    ]);
    await Deno.writeTextFile(join(vids, "a.gaze.csv"), "frame,x,y\n3,0.25,0.75\n");
    assert.deepEqual((await listClips(vids)).map((c) => c.id), ["a.mp4", "b.webm"]);
    const out = join(tmp, "out");
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "task",
        "inspect",
        "--dset",
        vids,
        "--batch_size",
        "2",
        "--max_len",
        "4",
        "--size",
        "32",
        "--save_dir",
        out,
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
    assert.ok(r.success, text);
    const m = JSON.parse(await Deno.readTextFile(join(out, "features.json")));
    assert.deepEqual(
      m.data.clips.map((c: { id: string; frame_count: number }) => [c.id, c.frame_count]),
      [
        ["a.mp4", 12],
        ["b.webm", 12],
      ],
    );
    const saved = m.data.saved_frames.flat();
    assert.equal(saved[0].clip, "a.mp4");
    assert.equal(saved[0].frame_index, 0);
    assert.equal(saved[0].t_ms, 0);
    assert.equal(m.data.clips[0].fps, 10);
    assert.ok(
      Math.abs(m.data.clips[0].duration_s - 1.2) < 1e-6,
      `duration ${m.data.clips[0].duration_s}`,
    );
    // One video file as the dataset, through the CLI, sampled with --fps.
    const r1 = await new Deno.Command(Deno.execPath(), {
      args: [
        "task",
        "inspect",
        "--dset",
        join(vids, "a.mp4"),
        "--batch_size",
        "1",
        "--max_len",
        "4",
        "--fps",
        "5",
        "--size",
        "32",
        "--save_dir",
        join(tmp, "out1"),
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(r1.success, new TextDecoder().decode(r1.stderr));
    const m1 = JSON.parse(await Deno.readTextFile(join(tmp, "out1", "features.json")));
    assert.equal(m1.data.clips[0].dir, join(vids, "a.mp4"));
    // --timestep 0 is saved: frame 0; the sampled indices are floor(i * 10 / 5).
    const p1 = await planClips(join(vids, "a.mp4"), { batchSize: 1, maxLen: 4, size: 32, fps: 5 });
    assert.deepEqual(p1.clips[0].frameIndices, [0, 2, 4, 6]);
    const one = await planClips(join(vids, "b.webm"), { batchSize: 1, maxLen: 4, size: 32 });
    assert.deepEqual(one.clips[0].frameIndices, [0, 3, 6, 9]);
    const ga = await planClips(vids, { batchSize: 2, maxLen: 4, size: 32 });
    assert.deepEqual(ga.clips[0].gaze[1], [{ x: 0.25, y: 0.75 }], "a.gaze.csv row of frame 3");
    assert.match(ga.clips[0].frameFiles[1], /frame=3,t_ms=300/);
    // Timestamp-keyed gaze: t_ms 650 at 10 fps is frame 6 (shown 600..700 ms).
    await Deno.writeTextFile(join(vids, "b.gaze.csv"), "t_ms,x,y\n650,0.5,0.125\n299.9,0.1,0.2\n");
    const gb = await planClips(vids, { batchSize: 2, maxLen: 4, size: 32 });
    assert.deepEqual(gb.clips[1].frameIndices, [0, 3, 6, 9]);
    assert.deepEqual(gb.clips[1].gaze, [[], [], [{ x: 0.5, y: 0.125 }], []]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("video: without ffmpeg on PATH, one line says to install it and that frame folders work", async () => {
  if (!exists(REAL_MP4)) return skip(`${REAL_MP4} missing`);
  const code = `import { openFrameSource } from "${
    join(ROOT, "inspector", "frame_source_kinds.ts")
  }";
try { await openFrameSource({ id: "t", dir: ${JSON.stringify(REAL_MP4)} }); console.log("opened"); }
catch (e) { console.log(e.name + ": " + e.message); }`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    env: { PATH: "/nonexistent" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(r.stdout).trim();
  assert.match(out, /^InspectorError: ffprobe not found: .*apt-get install ffmpeg.*frame folders/);
  assert.equal(out.split("\n").length, 1);
});

Deno.test("video: --fps samples floor(i * clip_fps / fps), equal to NumPy; frame folders refuse it", async () => {
  if (!FFMPEG) return skip("ffmpeg/ffprobe not installed (apt-get install ffmpeg)");
  if (!exists(REAL_MP4)) return skip(`${REAL_MP4} missing`);
  if (!haveNumpy()) return skip("python3 with numpy not installed");
  for (const [maxLen, fps] of [[8, 4], [10, 3], [5, 30], [16, 7.5]]) {
    const plan = await planClips(REAL_MP4, { batchSize: 1, maxLen, size: 32, fps });
    const want = await python(
      "import sys,json,numpy as np;t,f=int(sys.argv[1]),float(sys.argv[2]);" +
        "print(json.dumps(np.floor(np.arange(t)*30/f+1e-9).astype(int).tolist()))",
      [String(maxLen), String(fps)],
    );
    assert.deepEqual(plan.clips[0].frameIndices, want, `max_len ${maxLen} fps ${fps}`);
  }
  await assert.rejects(
    planClips(REAL_MP4, { batchSize: 1, maxLen: 40, size: 32, fps: 2 }),
    /too short for options.maxLen 40 at options.fps 2/,
  );
  await assert.rejects(
    planClips("fixture", { batchSize: 1, maxLen: 2, size: 32, fps: 2 }),
    /has no frame rate \(a frame folder\): options.fps works on video clips/,
  );
});
