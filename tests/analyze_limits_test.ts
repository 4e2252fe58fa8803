/**
 * Hostile inputs for analyze (issue 17, items 3 and 4): one exploding activation (-1e7), many
 * saved frames of a tiny layer, one huge channel map. Each runs the CLI as a subprocess, polls its
 * peak RSS (VmHWM) against a cap, and checks the outputs: every PNG present with a bounded size,
 * no temporary files left, and what summary.json records about clipping and subsampling.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { StructuredNpyWriter } from "../core/npy.ts";
import type { AnalysisSummary } from "../analysis/analyze.ts";
import { ROOT, tempDir } from "./helpers.ts";

/** Largest PNG side analyze may write (device pixels). */
const MAX_SIDE = 8192;

async function writeNpy(
  path: string,
  records: number,
  shape: number[],
  frame: (r: number) => Float32Array,
): Promise<void> {
  const w = await StructuredNpyWriter.create(path, {
    shape: [1, records],
    fields: [{ name: "layer", scalar: "f4", shape }],
  });
  for (let r = 0; r < records; r++) await w.writeField("layer", r, frame(r));
  await w.commit();
}

/** Run analyze on `npy` into `out`; returns exit code, stderr and peak RSS in MiB. */
async function analyze(
  npy: string,
  out: string,
): Promise<{ code: number; stderr: string; peakMiB: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--no-wasm-tier-up",
      join(ROOT, "scripts", "analyze.ts"),
      npy,
      "--save_dir",
      out,
      "--quiet",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let peak = 0;
  const poll = setInterval(() => {
    try {
      const m = Deno.readTextFileSync(`/proc/${child.pid}/status`).match(/VmHWM:\s+(\d+) kB/);
      if (m) peak = Math.max(peak, Number(m[1]) / 1024);
    } catch { /* exited */ }
  }, 50);
  // A run that takes this long is a failure too (today's code can spin on many frames).
  const killer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const stderrText = new Response(child.stderr).text();
  const status = await child.status;
  clearInterval(poll);
  clearTimeout(killer);
  return { code: status.code, stderr: await stderrText, peakMiB: peak };
}

function pngSize(bytes: Uint8Array): [number, number] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return [dv.getUint32(16), dv.getUint32(20)];
}

/** Every PNG of the report exists with bounded sides; nothing temporary left in `dir`. */
async function checkOutputs(dir: string, from: string): Promise<AnalysisSummary> {
  const names = [...Deno.readDirSync(dir)].map((e) => e.name);
  assert.deepEqual(names.filter((n) => n.includes(".tmp")), [], "temporary files left behind");
  assert.deepEqual(
    [...Deno.readDirSync(from)].map((e) => e.name).filter((n) => n.includes(".tmp")),
    [],
  );
  const summary = JSON.parse(await Deno.readTextFile(join(dir, "summary.json"))) as AnalysisSummary;
  for (const f of summary.files) assert.ok(names.includes(f), `${f} missing`);
  for (const f of summary.files.filter((n) => n.endsWith(".png"))) {
    const [w, h] = pngSize(await Deno.readFile(join(dir, f)));
    assert.ok(w <= MAX_SIDE && h <= MAX_SIDE, `${f} is ${w} x ${h} px`);
  }
  return summary;
}

Deno.test("analyze limits: one activation of -1e7 gives clipped axes and a note, not a crash", async () => {
  const dir = tempDir();
  try {
    const npy = join(dir, "features.npy");
    await writeNpy(npy, 1, [4, 32, 32], () => {
      const d = new Float32Array(4 * 32 * 32);
      for (let i = 0; i < d.length; i++) d[i] = Math.sin(i);
      d[17] = -1e7;
      return d;
    });
    const out = join(dir, "report");
    const r = await analyze(npy, out);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.peakMiB < 1024, `peak RSS ${r.peakMiB} MiB`);
    const s = await checkOutputs(out, dir);
    const clip = s.layers.layer.plots.axis_clip as { note: string; below: number } | undefined;
    assert.ok(clip, "summary.json records the clipped axis");
    assert.equal(clip.note, "axis clipped at p0.1..p99.9; min -1e7");
    assert.equal(clip.below, 1);
    assert.equal(s.layers.layer.min, -1e7);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("analyze limits: 20,000 saved frames of a tiny layer are subsampled, memory bounded", async () => {
  const dir = tempDir();
  try {
    const npy = join(dir, "features.npy");
    const R = 20_000;
    await writeNpy(
      npy,
      R,
      [4, 2, 2],
      (r) => Float32Array.from({ length: 16 }, (_, i) => Math.sin(r * 16 + i)),
    );
    const out = join(dir, "report");
    const r = await analyze(npy, out);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.peakMiB < 1024, `peak RSS ${r.peakMiB} MiB`);
    const s = await checkOutputs(out, dir);
    const l = s.layers.layer;
    assert.equal(l.frames, R);
    assert.equal(l.count, R * 16);
    assert.ok((l.plots.per_frame as unknown[]).length <= 2000);
    assert.deepEqual(
      (l.plots.per_frame_sampling as { frames: number }).frames,
      R,
    );
    assert.ok(s.temporal && s.temporal.points.length <= 2000);
    assert.ok(s.temporal.heatmaps[0].frames.length <= 512);
    assert.ok(s.files.includes("temporal.png"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("analyze limits: one 4096 x 4096 channel map is block-averaged, memory bounded", async () => {
  const dir = tempDir();
  try {
    const npy = join(dir, "features.npy");
    const S = 4096;
    await writeNpy(npy, 1, [1, S, S], () => {
      const d = new Float32Array(S * S);
      for (let i = 0; i < d.length; i++) d[i] = Math.sin(i * 0.001);
      return d;
    });
    const out = join(dir, "report");
    const r = await analyze(npy, out);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.peakMiB < 1536, `peak RSS ${r.peakMiB} MiB`);
    const s = await checkOutputs(out, dir);
    const sp = s.layers.layer.plots.spatial as { height: number; width: number; block: number };
    assert.ok(sp.height <= 256 && sp.width <= 256, `${sp.height} x ${sp.width}`);
    assert.equal(sp.block, 16);
    assert.equal(s.layers.layer.count, S * S);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
