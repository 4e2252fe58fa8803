/**
 * The original guide's workflows, typed as a user types them: `deno task ...` from the user's own
 * folder (outside the project), no terminal, any `--save_dir`, relative paths, two runs into one
 * folder, and the library imported by path from a script anywhere on disk.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL as toFileUrl } from "node:url";
import { exists, ROOT, tempDir } from "./helpers.ts";
import { planChild } from "../scripts/launch.ts";

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** `deno task --config <project>/deno.json <task> ...args` run from `cwd`, with no stdin. */
async function task(cwd: string, name: string, args: string[]): Promise<Ran> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "--config", join(ROOT, "deno.json"), name, ...args],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // `deno task` keeps an INIT_CWD it inherits (this suite may itself run under `deno task`).
    clearEnv: true,
    env: { ...withoutInitCwd(), NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

function withoutInitCwd(): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.INIT_CWD;
  return env;
}

const SMALL = ["--ep", "wasm", "--size", "64", "--max_len", "5", "--batch_size", "1"];

function errorLines(r: Ran): string[] {
  return (r.stdout + "\n" + r.stderr).split("\n").filter((l) => l.startsWith("error:"));
}

Deno.test("workflows: any --save_dir works with no terminal, relative to where the user stands", async () => {
  const home = tempDir("fi_user_");
  const r = await task(home, "inspect", [...SMALL, "--save_dir", "features_sample_1"]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(exists(join(home, "features_sample_1", "features.npy")), r.stdout);
  assert.ok(exists(join(home, "features_sample_1", "layer1_b0_t0.png")));
  assert.ok(!exists(join(ROOT, "features_sample_1")), "wrote into the project folder");
  // An absolute folder elsewhere, and analyze/compare with relative positional files.
  const abs = join(tempDir("fi_abs_"), "nested", "analysis_resnet_layers");
  const a = await task(home, "analyze", ["features_sample_1/features.npy", "--save_dir", abs]);
  assert.equal(a.code, 0, a.stderr);
  assert.ok(exists(join(abs, "index.html")));
  const c = await task(home, "compare", [
    "features_sample_1/features.npy",
    "features_sample_1/features.npy",
    "--save_dir",
    "cmp",
  ]);
  assert.equal(c.code, 0, c.stderr);
  assert.ok(exists(join(home, "cmp", "comparison.json")));
});

Deno.test("workflows: the task may write only inside --save_dir (Deno refuses the rest)", async () => {
  const home = tempDir("fi_user_");
  // `--name ../escaped` is refused by the library itself, before any write.
  const r = await task(home, "inspect", [...SMALL, "--save_dir", "inside", "--name", "../escaped"]);
  assert.notEqual(r.code, 0);
  const errs = errorLines(r);
  assert.equal(errs.length, 1, r.stderr);
  assert.match(errs[0], /--name '\.\.\/escaped' is not a plain file name/);
  assert.ok(!exists(join(home, "escaped.npy")), "the write outside --save_dir happened");
  // And whatever the code does, the child the launcher starts cannot write outside: run a probe
  // with exactly the launcher's permissions for this command line.
  const plan = planChild("inspect", ["--save_dir", "inside"], { cwd: home });
  const probe = join(tempDir("fi_probe_"), "probe.ts");
  Deno.writeTextFileSync(
    probe,
    `Deno.mkdirSync("inside", { recursive: true });
Deno.writeTextFileSync("inside/ok.txt", "in");
try { Deno.writeTextFileSync("outside.txt", "out"); console.log("WROTE OUTSIDE"); }
catch (e) { console.log("refused:", e instanceof Deno.errors.NotCapable); }
Deno.exit(0);
`,
  );
  const script = plan.args.findIndex((a) => a.endsWith(join("scripts", "inspect.ts")));
  assert.ok(script > 0, plan.args.join(" "));
  const args = [...plan.args.slice(0, script), probe, ...plan.args.slice(script + 1)];
  const p = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: plan.cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(p.stdout);
  assert.match(out, /refused: true/, new TextDecoder().decode(p.stderr));
  assert.ok(exists(join(home, "inside", "ok.txt")), "the save folder was not writable");
  assert.ok(!exists(join(home, "outside.txt")));
});

Deno.test("workflows: relative --checkpoint resolves where the user stands; not found names the path", async () => {
  const home = tempDir("fi_models_");
  Deno.copyFileSync(join(ROOT, "fixtures", "resnet18_video.onnx"), join(home, "resnet20.onnx"));
  const ok = await task(home, "inspect", [
    ...SMALL,
    "--checkpoint",
    "resnet20.onnx",
    "--layers",
    "conv1",
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(exists(join(home, "out", "features.npy")), "outputs land in the user's out/");
  const missing = await task(home, "inspect", ["--checkpoint", "nothere.onnx"]);
  assert.notEqual(missing.code, 0);
  assert.match(errorLines(missing)[0], new RegExp(`${join(home, "nothere.onnx")} not found`));
  const npy = await task(home, "analyze", ["nothere.npy"]);
  assert.match(errorLines(npy)[0], new RegExp(`${join(home, "nothere.npy")} not found`));
});

Deno.test("workflows: the guide's example (two timesteps into one folder, then analyze both)", async () => {
  const home = tempDir("fi_guide_");
  const t0 = await task(home, "inspect", [
    ...SMALL,
    "--timestep",
    "0",
    "--save_dir",
    "experiment_1",
  ]);
  assert.equal(t0.code, 0, t0.stderr);
  const first = Deno.readFileSync(join(home, "experiment_1", "features.npy"));
  const t4 = await task(home, "inspect", [
    ...SMALL,
    "--timestep",
    "4",
    "--save_dir",
    "experiment_1",
  ]);
  assert.equal(t4.code, 0, t4.stderr);
  assert.match(t4.stdout, /wrote experiment_1\/features_t4\.npy/);
  // t0 is intact, t4 has its own files.
  assert.deepEqual(Deno.readFileSync(join(home, "experiment_1", "features.npy")), first);
  for (const f of ["features_t4.npy", "features_t4.json", "layer1_b0_t4.png", "layer1_b0_t0.png"]) {
    assert.ok(exists(join(home, "experiment_1", f)), f);
  }
  for (const [npy, dir] of [["features.npy", "analysis_t0"], ["features_t4.npy", "analysis_t4"]]) {
    const a = await task(home, "analyze", [`experiment_1/${npy}`, "--save_dir", dir]);
    assert.equal(a.code, 0, a.stderr);
    const s = JSON.parse(Deno.readTextFileSync(join(home, dir, "summary.json")));
    assert.equal(s.records.timestep[0], npy === "features.npy" ? 0 : 4);
  }
  // The identical command again replaces its own outputs.
  const again = await task(home, "inspect", [
    ...SMALL,
    "--timestep",
    "0",
    "--save_dir",
    "experiment_1",
  ]);
  assert.equal(again.code, 0, again.stderr);
  // Another run into the same names stops with one line naming --name and --overwrite ...
  const other = await task(home, "inspect", [
    ...SMALL,
    "--timestep",
    "0",
    "--layers",
    "conv1",
    "--save_dir",
    "experiment_1",
  ]);
  assert.notEqual(other.code, 0);
  assert.equal(errorLines(other).length, 1, other.stderr);
  assert.match(
    errorLines(other)[0],
    /already holds features\.(npy|json) of another run.*--name.*--overwrite/,
  );
  assert.deepEqual(Deno.readFileSync(join(home, "experiment_1", "features.npy")), first);
  // ... and --overwrite replaces it.
  const over = await task(home, "inspect", [
    ...SMALL,
    "--layers",
    "conv1",
    "--save_dir",
    "experiment_1",
    "--overwrite",
  ]);
  assert.equal(over.code, 0, over.stderr);
  // A report of another file into the same folder is refused the same way.
  const rep = await task(home, "analyze", [
    "experiment_1/features_t4.npy",
    "--save_dir",
    "analysis_t0",
  ]);
  assert.notEqual(rep.code, 0);
  assert.match(
    errorLines(rep)[0],
    /analysis_t0 already holds summary\.json of another run.*--overwrite/,
  );
});

Deno.test("workflows: a script anywhere imports mod.ts by path, with no --config", async () => {
  const home = tempDir("fi_script_");
  const mod = toFileUrl(join(ROOT, "mod.ts")).href;
  const model = join(ROOT, "fixtures", "resnet18_video.onnx");
  Deno.writeTextFileSync(
    join(home, "train_eval.ts"),
    `import { FeatureMapInspector } from "${mod}";
const inspector = await FeatureMapInspector.create(${JSON.stringify(model)}, {
  layers: ["conv1", "layer1"], ep: "wasm", saveDir: "features",
});
const dims = [1, 2, 3, 64, 64];
const data = new Float32Array(dims.reduce((a, b) => a * b)).fill(0.25);
const { layers } = await inspector.extractFeatures({ data, dims });
await inspector.saveFeatures();
console.log(layers.map((l) => l.name + "=" + l.stats.summary.mean.toFixed(6)).join(" "));
await inspector.cleanup();
Deno.exit(0);
`,
  );
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", `--allow-write=${home}`, "--allow-env", "train_eval.ts"],
    cwd: home,
    clearEnv: true,
    env: withoutInitCwd(),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assert.equal(r.code, 0, dec.decode(r.stderr));
  assert.match(dec.decode(r.stdout), /^conv1=-?\d+\.\d+ layer1=\d+\.\d+$/m);
  assert.ok(exists(join(home, "features", "features.npy")));
});
