/**
 * The library API: README examples run verbatim, repeated use does not leak, denied writes are
 * one clear line, and the tasks ask for no blanket permissions.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureMapInspector, loadClips, readFeatures } from "../mod.ts";
import { exists, ROOT, skip, tempDir } from "./helpers.ts";
import { quietWaylandProbe } from "../shaders/gpu_context.ts";

const FIXTURE = join(ROOT, "fixtures", "resnet18_video.onnx");

function readmeExamples(): string[] {
  const readme = Deno.readTextFileSync(join(ROOT, "docs", "library.md"));
  const section = readme.slice(
    readme.indexOf("<!-- section:library -->"),
    readme.indexOf("<!-- /section:library -->"),
  );
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}

Deno.test("library: every README example runs verbatim", async () => {
  const examples = readmeExamples();
  assert.ok(examples.length >= 2, "the README's library section should hold examples");
  const cwd = tempDir();
  Deno.symlinkSync(join(ROOT, "fixtures"), join(cwd, "fixtures"));
  for (const [k, code] of examples.entries()) {
    const file = join(ROOT, `.readme_example_${k}.ts`);
    Deno.writeTextFileSync(file, code);
    try {
      const r = await new Deno.Command(Deno.execPath(), {
        // Without --allow-ffi the examples run on WASM; the flag is the one README's library
        // section gives for scripts that end without Deno.exit (the crash at V8's teardown).
        args: [
          "run",
          "--v8-flags=--no-wasm-tier-up",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          file,
        ],
        cwd,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(r.stderr);
      assert.ok(
        r.success,
        `README example ${k + 1} failed (exit ${r.code}, signal ${r.signal}):\n${code}\n${err}`,
      );
    } finally {
      Deno.removeSync(file);
    }
  }
});

Deno.test("library: one inspector, many batches — memory and GPU buffers stay flat", async () => {
  quietWaylandProbe();
  const adapter = await navigator.gpu?.requestAdapter();
  const ep = adapter ? "webgpu" : "wasm";
  await using insp = await FeatureMapInspector.create(FIXTURE, {
    layers: ["conv1", "layer2"],
    ep,
    saveDir: tempDir(),
  });
  const dims = [1, 2, 3, 32, 32];
  const data = new Float32Array(dims.reduce((a, b) => a * b));
  insp.setTarget({ batchIdx: 0, timestep: "all" });
  const heap: number[] = [];
  const live: number[] = [];
  for (let i = 0; i < 50; i++) {
    data.fill(Math.sin(i));
    const ex = await insp.extractFeatures({ data, dims });
    assert.equal(ex.layers.length, 2);
    heap.push(Deno.memoryUsage().heapUsed);
    live.push(insp.liveGpuBuffers());
  }
  // Memory: after warm-up, the heap grows by less than 16 MiB over 40 more iterations.
  const growth = Math.max(...heap.slice(40)) - Math.min(...heap.slice(5, 10));
  assert.ok(growth < 16 * 2 ** 20, `heap grew by ${(growth / 2 ** 20).toFixed(1)} MiB`);
  // GPU buffers created by our own kernels and readbacks are all destroyed.
  if (ep === "webgpu") {
    assert.equal(live[49], live[9], `live GPU buffers ${live[9]} -> ${live[49]}`);
  } else skip("no WebGPU adapter: GPU-buffer check skipped");
});

Deno.test("library: cleanup() is the original's name for disposal", async () => {
  const insp = await FeatureMapInspector.create(FIXTURE, { layers: ["conv1"], ep: "wasm" });
  const dims = [1, 2, 3, 32, 32];
  const batch = { data: new Float32Array(dims.reduce((a, b) => a * b)).fill(0.5), dims };
  assert.equal((await insp.extractFeatures(batch)).layers.length, 1);
  await insp.cleanup();
  await assert.rejects(() => insp.extractFeatures(batch), /disposed/);
  await insp.cleanup(); // a second call does nothing
  await insp.dispose(); // nor does disposing afterwards
});

Deno.test("library: readFeatures gives the saved frames with the manifest's targets", async () => {
  const dir = tempDir();
  await using insp = await FeatureMapInspector.create(FIXTURE, {
    layers: ["layer1"],
    ep: "wasm",
    saveDir: dir,
  });
  const batch = await loadClips("fixture", { batchSize: 2, maxLen: 4, size: 32 });
  insp.setTarget({ batchIdx: 1, timestep: [1, 3] });
  const ex = await insp.extractFeatures({ data: batch.data, dims: [...batch.shape] });
  const saved = await insp.saveFeatures();
  using f = await readFeatures(saved.npy);
  assert.deepEqual(f.targets, { batchIdx: [1], timestep: [1, 3] });
  const l = await f.layer("layer1");
  assert.deepEqual(l.frames[0][1], ex.layers[0].frames[0][1]);
});

Deno.test("permissions: a denied write is one clear line naming the flag", async () => {
  const out = join(tempDir(), "denied");
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      join(ROOT, "scripts/inspect.ts"),
      "--size",
      "32",
      "--save_dir",
      out,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(r.stderr).trim().split("\n").filter((l) =>
    l.startsWith("error:")
  );
  assert.notEqual(r.code, 0);
  assert.equal(err.length, 1);
  assert.match(err[0], /--allow-write/);
  assert.ok(!/at .*\.ts:\d+/.test(new TextDecoder().decode(r.stderr)), "no stack trace");
  assert.ok(!exists(out));
});

Deno.test("permissions: no task asks for -A, --allow-all or network", () => {
  const cfg = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json")));
  for (const [name, cmd] of Object.entries(cfg.tasks as Record<string, string>)) {
    // The test suite alone runs with -A: it reads /proc (peak RSS, process liveness), which Deno
    // allows only with --allow-all. No command a user runs does.
    if (name === "test") continue;
    assert.ok(!/(^|\s)(-A|--allow-all|--allow-net|-N)(\s|=|$)/.test(cmd), `task ${name}: ${cmd}`);
  }
  for (
    const [name, set] of Object.entries(
      (cfg.permissions ?? {}) as Record<string, Record<string, unknown>>,
    )
  ) {
    assert.ok(!set.all && !set.net, `permission set ${name} grants all or net`);
  }
});

Deno.test("library: deno doc --lint mod.ts is clean", async () => {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", join(ROOT, "mod.ts")],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(r.success, new TextDecoder().decode(r.stderr).slice(-2000));
});

Deno.test("permissions: with no permissions at all, one line names --allow-read", async () => {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", join(ROOT, "scripts/inspect.ts"), "--size", "32"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(r.stderr);
  const lines = text.trim().split("\n");
  assert.notEqual(r.code, 0);
  assert.equal(lines.length, 1, text);
  assert.match(lines[0], /^error: permission denied: .*--allow-read/);
});
