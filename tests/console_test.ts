/**
 * A clean console: every command, run as a user runs it (a subprocess, stdin closed, no
 * `XDG_RUNTIME_DIR`), prints no `error:` line when it succeeds, no libwayland
 * `XDG_RUNTIME_DIR` line at all, its warnings and notes on stderr and its results (the per-layer
 * table, `wrote ...`, `report: ...`) on stdout, and each event once.
 *
 * The commands run with `--preload tests/_wayland_probe.ts`, which makes every WebGPU adapter
 * request connect to Wayland as Mesa's Vulkan device-selection layer does, so the libwayland line
 * shows up wherever libwayland-client is installed (with or without a Vulkan driver).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, tempDir } from "./helpers.ts";
import { NO_RUNTIME_DIR, quietWaylandProbe } from "../shaders/gpu_context.ts";

/** The env names the commands read (see deno.json's permission sets). */
const ENV = "FEATURE_INSPECTOR_DATA,FEATURE_INSPECTOR_DEBUG,XDG_RUNTIME_DIR";

interface Run {
  code: number;
  stdout: string[];
  stderr: string[];
}

/** Run `scripts/<script>` with exactly the permissions a command needs, like a user would. */
async function run(script: string, args: string[], writeDir: string): Promise<Run> {
  const env = Deno.env.toObject();
  delete env.XDG_RUNTIME_DIR;
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--v8-flags=--no-wasm-tier-up",
      "--allow-read",
      `--allow-write=${writeDir}`,
      `--allow-env=${ENV}`,
      "--allow-ffi",
      "--preload",
      join(ROOT, "tests", "_wayland_probe.ts"),
      join(ROOT, "scripts", script),
      ...args,
    ],
    cwd: ROOT,
    clearEnv: true,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const lines = (b: Uint8Array) =>
    new TextDecoder().decode(b).split("\n").filter((l) => l.trim() !== "");
  return { code: r.code, stdout: lines(r.stdout), stderr: lines(r.stderr) };
}

/** The checks every successful run passes. */
function assertClean(what: string, r: Run): void {
  const all = `--- stdout\n${r.stdout.join("\n")}\n--- stderr\n${r.stderr.join("\n")}`;
  assert.equal(r.code, 0, `${what} failed:\n${all}`);
  assert.deepEqual(r.stderr.filter((l) => l.startsWith("error:")), [], `${what}: ${all}`);
  assert.deepEqual(
    [...r.stdout, ...r.stderr].filter((l) => l.includes("XDG_RUNTIME_DIR")),
    [],
    `${what}: libwayland's XDG_RUNTIME_DIR line`,
  );
  assert.deepEqual(
    r.stdout.filter((l) => /^\s*(warning|note):/.test(l)),
    [],
    `${what}: warnings and notes belong on stderr`,
  );
}

const TABLE_ROW = /^layer2\s+\(B\*T, C, H, W\)\s+frame \(\d+, \d+, \d+\)\s+mean /;

Deno.test("console: inspect (auto and wasm), analyze, compare and cli print a clean console", async () => {
  const dir = tempDir();
  const small = ["--size", "64", "--max_len", "2", "--layers", "conv1", "layer2"];
  for (const ep of ["auto", "wasm"]) {
    const out = join(dir, ep);
    const r = await run("inspect.ts", [...small, "--ep", ep, "--save_dir", out], dir);
    assertClean(`inspect --ep ${ep}`, r);
    assert.ok(r.stdout.some((l) => TABLE_ROW.test(l)), `per-layer table on stdout: ${r.stdout}`);
    assert.ok(r.stdout.some((l) => l.startsWith(`wrote ${join(out, "features.npy")}`)));
    // The bundled model's folded BatchNorm is noted, on stderr.
    assert.ok(r.stderr.some((l) => /^note: conv1 is flagged folded/.test(l)), r.stderr.join("\n"));
  }
  const a = join(dir, "auto", "features.npy"), b = join(dir, "wasm", "features.npy");

  const ana = await run("analyze.ts", [a, "--save_dir", join(dir, "ana")], dir);
  assertClean("analyze", ana);
  assert.ok(ana.stdout.some((l) => /^report: .*index\.html/.test(l)), ana.stdout.join("\n"));
  assert.ok(ana.stdout.some((l) => l === "health flags:" || l.startsWith("health:")));
  assert.ok(!ana.stdout.some((l) => /: drawing /.test(l)), "progress goes to stderr");

  // A run compared with itself is noted ("the same file"): the note is on stderr.
  const same = await run("compare.ts", [a, a, "--save_dir", join(dir, "same")], dir);
  assertClean("compare A A", same);
  assert.ok(same.stderr.some((l) => /^note: A and B are the same file/.test(l)));
  assert.ok(same.stdout.some((l) => l.startsWith("wrote ")), same.stdout.join("\n"));
  const cmp = await run("compare.ts", [a, b, "--save_dir", join(dir, "cmp")], dir);
  assertClean("compare", cmp);
  assert.ok(cmp.stdout.some((l) => /^layer2\s+\S+\s+\S+/.test(l)), cmp.stdout.join("\n"));
  assert.ok(cmp.stdout.some((l) => l.startsWith("wrote ")));

  const cli = await run("cli.ts", ["inspect", ...small, "--save_dir", join(dir, "cli")], dir);
  assertClean("cli inspect", cli);
  assert.ok(cli.stdout.some((l) => TABLE_ROW.test(l)));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("console: a batch split to bound memory is reported once, as a warning on stderr", async () => {
  const dir = tempDir();
  // The bundled model at its 256x256 frames: 2x2 frames need about 80 MiB, so 16 MiB splits it.
  const r = await run("inspect.ts", [
    "--max_len",
    "2",
    "--memory_budget",
    "16",
    "--save_dir",
    join(dir, "split"),
  ], dir);
  assertClean("inspect --memory_budget 16", r);
  const all = [...r.stdout, ...r.stderr];
  const split = all.filter((l) => l.includes("memory: one forward pass over"));
  assert.equal(split.length, 1, `the split is reported once:\n${all.join("\n")}`);
  assert.match(split[0], /^warning: the batch ran in \d+ forward passes to bound memory/);
  assert.ok(r.stderr.includes(split[0]));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("console: quietWaylandProbe makes XDG_RUNTIME_DIR absolute and keeps a set one", () => {
  const before = Deno.env.get("XDG_RUNTIME_DIR");
  try {
    Deno.env.delete("XDG_RUNTIME_DIR");
    assert.equal(quietWaylandProbe(), true);
    assert.equal(Deno.env.get("XDG_RUNTIME_DIR"), NO_RUNTIME_DIR);
    Deno.env.set("XDG_RUNTIME_DIR", "relative/dir"); // libwayland rejects it too
    quietWaylandProbe();
    assert.equal(Deno.env.get("XDG_RUNTIME_DIR"), NO_RUNTIME_DIR);
    Deno.env.set("XDG_RUNTIME_DIR", "/run/user/1000");
    quietWaylandProbe();
    assert.equal(Deno.env.get("XDG_RUNTIME_DIR"), "/run/user/1000", "a valid value is kept");
  } finally {
    if (before === undefined) Deno.env.delete("XDG_RUNTIME_DIR");
    else Deno.env.set("XDG_RUNTIME_DIR", before);
  }
});

Deno.test("console: no 'Ignored build scripts' box from Deno in a new checkout", async () => {
  // Deno prints the box once per project folder (and Deno cache) when it sets up npm packages
  // with lifecycle scripts it does not run; deno.json's allowScripts.deny says they are not
  // needed (onnxruntime-node ships its CPU binaries, protobufjs's postinstall only checks).
  const dir = tempDir();
  await Deno.copyFile(join(ROOT, "deno.json"), join(dir, "deno.json"));
  await Deno.copyFile(join(ROOT, "deno.lock"), join(dir, "deno.lock"));
  await Deno.writeTextFile(
    join(dir, "deps.ts"),
    ['import "npm:onnxruntime-node@1.30.0";', 'import "npm:onnx-proto@8.0.1";', ""].join("\n"),
  );
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["cache", "deps.ts"],
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(r.stderr);
  assert.equal(r.code, 0, err);
  assert.doesNotMatch(err, /Ignored build scripts|lifecycle scripts/i);
  await Deno.remove(dir, { recursive: true });
});
