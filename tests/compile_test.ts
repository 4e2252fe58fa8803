/**
 * The compiled binary: its module graph and embedded assets resolve here; the binary itself is
 * built and run only where Deno's runtime (`denort`) is available through `DENORT_BIN`. A
 * `DENORT_BIN` that is not the denort of this Deno is refused before anything is built (fake
 * binaries stand in for the wrong ones), and a built binary that does not print its version is
 * removed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  checkDenort,
  COMPILE_INCLUDES,
  compileArgs,
  missingAssets,
  smokeTest,
} from "../scripts/compile.ts";
import { TOOL } from "../core/manifest.ts";
import { exists, ROOT, skip, tempDir } from "./helpers.ts";

/** A shell script at a fresh temp path; `mode` 0o755 unless given. */
function script(name: string, body: string, mode = 0o755): string {
  const path = join(tempDir("fi_denort_"), name);
  Deno.writeTextFileSync(path, `#!/bin/sh\n${body}\n`);
  Deno.chmodSync(path, mode);
  return path;
}

/** A stand-in for a program that prints Deno's CLI help whatever it is asked. */
const DENO_HELP = `cat <<'HELP'
Deno: A modern JavaScript and TypeScript runtime

Usage: deno [OPTIONS] [COMMAND]
HELP`;

/** A stand-in for a denort of Deno `version`: how a real one answers, and its user agent. */
function fakeDenort(version: string): string {
  return script(
    "denort",
    `# Deno/${version}\necho "error: Could not find standalone binary section." >&2\nexit 1`,
  );
}

/** The wrong `DENORT_BIN`s, each with what the refusal must say about it. */
function wrongDenorts(): { name: string; path: string; says: RegExp }[] {
  const dir = tempDir("fi_denort_");
  const plain = join(dir, "denort");
  Deno.writeTextFileSync(plain, "not a program\n");
  Deno.chmodSync(plain, 0o644);
  return [
    {
      name: "a program that prints Deno's help",
      path: script("deno-help", DENO_HELP),
      says: /is not a denort \(it prints Deno's CLI help\)/,
    },
    { name: "the deno CLI", path: Deno.execPath(), says: /is the deno CLI, not a denort/ },
    { name: "a missing file", path: join(dir, "no-such-denort"), says: /does not exist/ },
    { name: "a file that is not executable", path: plain, says: /is not executable/ },
  ];
}

/** The one line every refusal is: it names DENORT_BIN and the denort to point it at. */
function assertRefusal(message: string, path: string, says: RegExp): void {
  assert.ok(!message.includes("\n"), message);
  assert.ok(message.includes(`DENORT_BIN=${path} `), message);
  assert.match(message, says);
  assert.ok(message.includes(`denort ${Deno.version.deno} binary`), message);
  assert.match(message, /unset DENORT_BIN/);
}

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
  await checkDenort(denort); // a wrong one fails here in one line, not as a 551 MB deno
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

Deno.test("compile: checkDenort refuses what is not a denort of this Deno", async () => {
  for (const w of wrongDenorts()) {
    await assert.rejects(checkDenort(w.path), (err: Error) => {
      assertRefusal(err.message, w.path, w.says);
      return true;
    }, w.name);
  }
  const old = fakeDenort("2.1.0");
  await assert.rejects(checkDenort(old), (err: Error) => {
    assertRefusal(
      err.message,
      old,
      /is a denort, but not of this Deno [^ ]+ \(it names Deno 2\.1\.0\)/,
    );
    return true;
  });
  await checkDenort(fakeDenort(Deno.version.deno)); // how a real denort of this Deno answers
});

Deno.test("compile: deno task compile refuses a wrong DENORT_BIN in one line and builds nothing", async () => {
  const task = (JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json"))) as {
    tasks: Record<string, string>;
  }).tasks.compile.split(" ");
  assert.equal(task[0], "deno");
  for (const w of wrongDenorts()) {
    const r = await new Deno.Command(Deno.execPath(), {
      args: task.slice(1),
      cwd: ROOT,
      env: { DENORT_BIN: w.path },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(r.stdout);
    const errors = new TextDecoder().decode(r.stderr).split("\n").filter((l) =>
      l.startsWith("error:")
    );
    assert.equal(r.code, 2, `${w.name}: exit ${r.code}, stdout ${stdout}`);
    assert.ok(!/built/.test(stdout), `${w.name}: ${stdout}`);
    assert.equal(errors.length, 1, `${w.name}: ${errors.join("\n")}`);
    assertRefusal(errors[0], w.path, w.says);
  }
});

Deno.test("compile: a built binary that does not print its version is removed", async () => {
  const bad = script("feature-inspector", DENO_HELP);
  await assert.rejects(smokeTest(bad), (err: Error) => {
    assert.ok(!err.message.includes("\n"), err.message);
    assert.match(err.message, /--version printed "Deno: A modern JavaScript/);
    assert.match(err.message, new RegExp(`instead of "${TOOL.name} ${TOOL.version}"`));
    assert.match(err.message, /it was removed/);
    return true;
  });
  assert.ok(!exists(bad), "the bad binary is still there");
  const good = script("feature-inspector", `echo "${TOOL.name} ${TOOL.version}"`);
  await smokeTest(good);
  assert.ok(exists(good));
});
