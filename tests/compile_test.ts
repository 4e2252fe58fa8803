/**
 * The compiled binary: its module graph and embedded assets resolve here; the binary itself is
 * built and run only where Deno's runtime (`denort`) is available through `DENORT_BIN`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { COMPILE_INCLUDES, compileArgs, missingAssets } from "../scripts/compile.ts";
import { exists, ROOT, skip, tempDir } from "./helpers.ts";

Deno.test("compile: every embedded asset exists and the entry's module graph resolves", async () => {
  assert.deepEqual(await missingAssets(), []);
  const args = compileArgs("dist/x");
  for (const inc of COMPILE_INCLUDES) assert.ok(args.includes(join(ROOT, inc)), inc);
  assert.ok(!args.some((a) => /^(-A|--allow-all|--allow-net|--allow-run)/.test(a)));
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", join(ROOT, "scripts", "cli.ts")],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(r.success, new TextDecoder().decode(r.stderr));
  const info = JSON.parse(new TextDecoder().decode(r.stdout)) as {
    modules: { specifier: string; error?: string }[];
    npmPackages?: Record<string, unknown>;
  };
  const errors = info.modules.filter((m) => m.error);
  assert.deepEqual(errors, []);
  // The subcommands are loaded dynamically: they must still be in the static graph's reach.
  const local = info.modules.map((m) => m.specifier).filter((s) => s.startsWith("file:"));
  for (const f of ["scripts/inspect.ts", "scripts/analyze.ts", "scripts/compare.ts"]) {
    assert.ok(local.some((s) => s.endsWith(f)), `${f} not in the graph of scripts/cli.ts`);
  }
});

Deno.test("compile: the binary builds and runs (needs DENORT_BIN)", async () => {
  const denort = Deno.env.get("DENORT_BIN");
  if (!denort || !exists(denort)) {
    return skip(
      "DENORT_BIN is not set: deno compile cannot download its runtime (denort) here; set " +
        "DENORT_BIN=/path/to/denort to build and run the binary in this test",
    );
  }
  const out = join(tempDir(), "feature-inspector");
  const b = await new Deno.Command(Deno.execPath(), {
    args: compileArgs(out),
    env: { DENORT_BIN: denort },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(b.success, new TextDecoder().decode(b.stderr));
  const run = (args: string[]) =>
    new Deno.Command(out, { args, stdout: "piped", stderr: "piped" }).output();
  const v = await run(["--version"]);
  assert.match(new TextDecoder().decode(v.stdout), /feature-inspector \d/);
  const dir = tempDir();
  const i = await run([
    "inspect",
    "--ep",
    "wasm",
    "--size",
    "32",
    "--max_len",
    "2",
    "--save_dir",
    dir,
  ]);
  assert.ok(i.success, new TextDecoder().decode(i.stderr));
  assert.ok(exists(join(dir, "features.npy")));
  const a = await run(["analyze", join(dir, "features.npy"), "--save_dir", join(dir, "report")]);
  assert.ok(a.success, new TextDecoder().decode(a.stderr));
  assert.ok(exists(join(dir, "report", "index.html")));
});
