/**
 * One atomic output set (core/atomic.ts, issue 17 items 7, 9 and 10): temporary files are created
 * exclusively under unpredictable names (a link planted at the old predictable name is never
 * followed), a commit is one unit (a failure part way, or a kill part way, leaves the previous
 * run as it was), one run at a time commits into a folder, a manifest that does not describe the
 * `.npy` beside it is refused, signals remove the unfinished output, and stale temporary files
 * of dead processes are swept by the next run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { LOCK_NAME, OutputSet } from "../core/atomic.ts";
import { StructuredNpyWriter } from "../core/npy.ts";
import { readFeatures, writeFeatures } from "../core/run_folder.ts";
import { buildManifest, type Manifest } from "../core/manifest.ts";
import { analyzeFeatures } from "../analysis/analyze.ts";
import { ROOT, runScript, tempDir } from "./helpers.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const read = (p: string): string => Deno.readTextFileSync(p);
const names = (dir: string): string[] => [...Deno.readDirSync(dir)].map((e) => e.name).sort();
const temps = (dir: string): string[] => names(dir).filter((n) => n.endsWith(".tmp"));

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

function manifestOf(fields: string[], shape: number[]): Manifest {
  return buildManifest({
    model: { path: "m.onnx", sha256: "0", producer: "", opset: 17, inputs: [], outputs: [] },
    data: {},
    backend: {},
    reductions: {},
    timings_ms: {},
    targets: { batch_idx: [0], timestep: shape[1] === 2 ? [0, 3] : [0] },
    npy: { file: "features.npy", dtype: "float32", shape, fields },
    layers: [],
    unresolved: [],
    warnings: [],
    files: [],
  });
}

async function writeRun(dir: string, offset: number): Promise<void> {
  const out = await OutputSet.open(dir);
  await writeFeatures(out, {
    name: "features",
    dtype: "float32",
    grid: [1, 2],
    fields: [{ name: "a", shape: [4] }],
    frame: (_f, r) => Float32Array.from({ length: 4 }, (_, i) => offset + r * 4 + i),
    manifest: manifestOf(["a"], [1, 2]),
  });
  await out.commit();
}

Deno.test("atomic output: a link planted at the predictable temporary name is not followed", async () => {
  const dir = tempDir();
  const outside = tempDir();
  const victim = join(outside, "victim.txt");
  Deno.writeTextFileSync(victim, "keep me");
  // The names earlier versions used: <final>.<pid>.tmp.
  for (const n of ["features.npy", "features.json", "conv1_b0_t0.png"]) {
    Deno.symlinkSync(victim, join(dir, `${n}.${Deno.pid}.tmp`));
  }
  const out = await OutputSet.open(dir);
  await writeFeatures(out, {
    name: "features",
    dtype: "float32",
    grid: [1, 1],
    fields: [{ name: "a", shape: [2] }],
    frame: () => new Float32Array([1, 2]),
    manifest: manifestOf(["a"], [1, 1]),
  });
  await out.writeFile("conv1_b0_t0.png", enc("png bytes"));
  const w = await StructuredNpyWriter.create(join(dir, "conv1_b0_t0.png"), {
    shape: [1],
    fields: [{ name: "x", scalar: "f4", shape: [1] }],
  });
  await w.abort();
  await out.commit();
  assert.equal(read(victim), "keep me");
  for (const n of ["features.npy", "features.json", "conv1_b0_t0.png"]) {
    const st = Deno.lstatSync(join(dir, n));
    assert.ok(st.isFile && !st.isSymlink, `${n} is a file of its own`);
  }
  assert.equal(read(join(dir, "conv1_b0_t0.png")), "png bytes");
  using run = await readFeatures(join(dir, "features.npy"));
  assert.deepEqual([...(await run.layer("a")).frames[0][0]], [1, 2]);
});

Deno.test("atomic output: a rename failure mid-commit keeps nothing of the failed run", async () => {
  const dir = tempDir();
  const first = await OutputSet.open(dir);
  await first.writeFile("a.txt", enc("old a"));
  await first.writeFile("b.txt", enc("old b"));
  await first.commit();

  // A destination that is a non-empty folder.
  Deno.mkdirSync(join(dir, "c.txt"));
  Deno.writeTextFileSync(join(dir, "c.txt", "inside"), "user data");
  const second = await OutputSet.open(dir);
  await second.writeFile("a.txt", enc("new a"));
  await second.writeFile("c.txt", enc("new c"));
  await second.writeFile("b.txt", enc("new b"));
  await assert.rejects(second.commit(), /c\.txt/);
  await second.abort();
  assert.deepEqual(names(dir), ["a.txt", "b.txt", "c.txt"]);
  assert.equal(read(join(dir, "a.txt")), "old a");
  assert.equal(read(join(dir, "b.txt")), "old b");
  assert.equal(read(join(dir, "c.txt", "inside")), "user data");

  // A rename that fails after the first file moved (its temporary file vanished).
  const third = await OutputSet.open(dir);
  await third.writeFile("a.txt", enc("new a"));
  await third.writeFile("d.txt", enc("new d"));
  await third.writeFile("b.txt", enc("new b"));
  Deno.removeSync(join(dir, names(dir).find((n) => /^d\.txt\..*\.tmp$/.test(n))!));
  await assert.rejects(third.commit(), /^InspectorError: cannot move d\.txt into .*nothing/);
  await third.abort();
  assert.deepEqual(names(dir), ["a.txt", "b.txt", "c.txt"]);
  assert.equal(read(join(dir, "a.txt")), "old a");
  assert.equal(read(join(dir, "b.txt")), "old b");
});

Deno.test("atomic output: the manifest moves last, and a commit a kill cut short is rolled back", async () => {
  const dir = tempDir();
  await writeRun(dir, 0);
  const oldNpy = Deno.readFileSync(join(dir, "features.npy"));
  const oldJson = read(join(dir, "features.json"));
  const m = JSON.parse(oldJson);
  assert.deepEqual(Object.keys(m.checksums).sort(), ["features.npy"]);
  assert.equal(m.checksums["features.npy"].size, oldNpy.length);
  assert.deepEqual(m.files, ["features.npy", "features.json"]);

  // What a process killed between the .npy and the .json renames leaves: the new .npy in
  // place, the old one kept under a temporary name, the lock with its journal.
  const pid = await deadPid();
  const backup = `features.npy.${pid}.0123456789abcdef.tmp`;
  const jsonTmp = `features.json.${pid}.fedcba9876543210.tmp`;
  Deno.linkSync(join(dir, "features.npy"), join(dir, backup));
  Deno.writeFileSync(
    join(dir, "features.npy.new"),
    oldNpy.map((x, i) => i < oldNpy.length - 8 ? x : 7),
  );
  Deno.renameSync(join(dir, "features.npy.new"), join(dir, "features.npy"));
  Deno.writeTextFileSync(join(dir, jsonTmp), "{}");
  Deno.writeTextFileSync(join(dir, "grid.png"), "new grid"); // renamed, nothing was there
  Deno.writeTextFileSync(
    join(dir, LOCK_NAME),
    JSON.stringify({
      pid,
      files: [
        { final: "grid.png", tmp: `grid.png.${pid}.00000000000000aa.tmp`, backup: null },
        { final: "features.npy", tmp: `features.npy.${pid}.00000000000000bb.tmp`, backup },
        { final: "features.json", tmp: jsonTmp, backup: `features.json.${pid}.cc.tmp` },
      ],
    }),
  );
  await assert.rejects(readFeatures(join(dir, "features.npy")), /does not match its manifest/);
  const next = await OutputSet.open(dir);
  await next.abort();
  assert.deepEqual(names(dir), ["features.json", "features.npy"]);
  assert.deepEqual(Deno.readFileSync(join(dir, "features.npy")), oldNpy);
  assert.equal(read(join(dir, "features.json")), oldJson);
});

Deno.test("atomic output: one run at a time commits into a folder", async () => {
  const dir = tempDir();
  // Another live process holds the lock: a clear error after the wait.
  const sleeper = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    Deno.writeTextFileSync(join(dir, LOCK_NAME), JSON.stringify({ pid: sleeper.pid, files: [] }));
    const out = await OutputSet.open(dir, { lockWaitMs: 200 });
    await out.writeFile("a.txt", enc("a"));
    await assert.rejects(
      out.commit(),
      new RegExp(`being written by another run \\(process ${sleeper.pid}\\)`),
    );
    await out.abort();
    assert.deepEqual(names(dir), [LOCK_NAME]);
  } finally {
    sleeper.kill();
    await sleeper.status;
  }
  // Its process gone, the lock is stale: the next commit takes it over.
  const out = await OutputSet.open(dir, { lockWaitMs: 200 });
  await out.writeFile("a.txt", enc("a"));
  await out.commit();
  assert.deepEqual(names(dir), ["a.txt"]);

  // Two runs into one folder at once: the second to commit does not mix its files in.
  const x = await OutputSet.open(dir);
  const y = await OutputSet.open(dir);
  await x.writeFile("g1.png", enc("x1"));
  await x.writeFile("g2.png", enc("x2"));
  await y.writeFile("g1.png", enc("y1"));
  await y.writeFile("g3.png", enc("y3"));
  await y.commit();
  await assert.rejects(x.commit(), /another run wrote g1\.png into .* while this one ran/);
  await x.abort();
  assert.deepEqual(names(dir), ["a.txt", "g1.png", "g3.png"]);
  assert.equal(read(join(dir, "g1.png")), "y1");
});

Deno.test("atomic output: stale temporary files of dead processes are swept", async () => {
  const dir = tempDir();
  const dead = await deadPid();
  const sleeper = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    const stale = [
      `features.npy.${dead}.tmp`, // as earlier versions named them
      `conv1_b0_t0.png.${dead}.0123456789abcdef.tmp`,
    ];
    const kept = [
      `layer1_b0_t0.png.${sleeper.pid}.0123456789abcdef.tmp`, // a live run's
      "notes.txt",
      "notes.tmp",
    ];
    for (const n of [...stale, ...kept]) Deno.writeTextFileSync(join(dir, n), n);
    const out = await OutputSet.open(dir);
    await out.abort();
    assert.deepEqual(names(dir), kept.sort());
  } finally {
    sleeper.kill();
    await sleeper.status;
  }
});

Deno.test("atomic output: a manifest that does not describe the .npy beside it is refused", async () => {
  const a = tempDir(), b = tempDir();
  await writeRun(a, 0);
  await writeRun(b, 100);
  // A pair from two runs: b's .npy (same shape and layers) beside a's manifest.
  Deno.copyFileSync(join(b, "features.npy"), join(a, "features.npy"));
  await assert.rejects(
    readFeatures(join(a, "features.npy")),
    /^InspectorError: .*features\.npy does not match its manifest .*features\.json \(its SHA-256 differs from the manifest's\): they come from different runs; [^\n]*$/,
  );
  await assert.rejects(
    analyzeFeatures(join(a, "features.npy"), { saveDir: join(a, "report") }),
    /does not match its manifest/,
  );
  assert.deepEqual(names(a), ["features.json", "features.npy"]);

  // A manifest of earlier versions (no checksums): its shape and layers are still checked ...
  const m = JSON.parse(read(join(b, "features.json")));
  delete m.checksums;
  Deno.writeTextFileSync(join(b, "features.json"), JSON.stringify(m));
  using ok = await readFeatures(join(b, "features.npy"));
  assert.deepEqual(ok.targets.timestep, [0, 3]);
  m.npy.fields = ["a", "b"];
  Deno.writeTextFileSync(join(b, "features.json"), JSON.stringify(m));
  await assert.rejects(readFeatures(join(b, "features.npy")), /layers a vs the manifest's a, b/);
  m.npy.fields = ["a"];
  m.npy.shape = [1, 3];
  Deno.writeTextFileSync(join(b, "features.json"), JSON.stringify(m));
  await assert.rejects(readFeatures(join(b, "features.npy")), /records \[1, 2\] vs .*\[1, 3\]/);

  // ... and the CLI says so in one line.
  const r = await runScript("scripts/analyze.ts", [
    join(b, "features.npy"),
    "--save_dir",
    join(b, "report"),
  ]);
  assert.notEqual(r.code, 0);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^error: .*does not match its manifest/);
});

Deno.test("atomic output: SIGTERM to inspect removes its unfinished files and exits with one line", async () => {
  const dir = tempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--v8-flags=--no-wasm-tier-up",
      join(ROOT, "scripts/inspect.ts"),
      "--ep",
      "wasm",
      "--grid_channels",
      "64",
      "--save_dir",
      dir,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderrText = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  while (!stdout.includes("backend:")) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
  }
  assert.match(stdout, /backend:/);
  // Wait until it has begun writing (a temporary file is there), then stop it.
  const until = Date.now() + 60_000;
  while (temps(dir).length === 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 2));
  }
  const sawTemp = temps(dir).length > 0;
  child.kill("SIGTERM");
  const status = await child.status;
  const drain = (async () => {
    for (;;) if ((await reader.read()).done) break;
  })();
  await drain;
  const stderr = await stderrText;
  assert.ok(sawTemp, "inspect was stopped while writing");
  assert.equal(status.code, 143, stderr);
  assert.equal(status.signal, null);
  // Notes of the run before it, then one line.
  const lines = stderr.trim().split("\n");
  assert.equal(lines.filter((l) => !l.startsWith("note:")).length, 1, stderr);
  assert.match(lines.at(-1)!, /^error: stopped by SIGTERM/);
  assert.deepEqual(temps(dir), []);
  assert.ok(!names(dir).includes("features.npy"));
});
