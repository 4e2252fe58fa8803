/**
 * Library errors speak of options, CLI errors of flags: the library's messages name what the
 * caller set (`pass options.checkpoint with an .onnx file`), and the CLIs print the same message
 * with the flag that sets it (`pass --checkpoint with an .onnx file`), rewritten in one place
 * (`flagMessage`, from the names each option group declares).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureMapInspector, loadClips } from "../mod.ts";
import { InspectorError } from "../core/errors.ts";
import { parseFrameRef } from "../compare/compare.ts";
import { flagMessage } from "../scripts/cli_args.ts";
import {
  commandFlags,
  type CommandSpec,
  type Flag,
  libraryName,
  type OptionGroup,
} from "../scripts/options/group.ts";
import { INSPECT_COMMAND } from "../scripts/inspect.ts";
import { ANALYZE_COMMAND } from "../scripts/analyze.ts";
import { COMPARE_COMMAND } from "../scripts/compare.ts";
import { ROOT, runScript, tempDir } from "./helpers.ts";

const COMMANDS: CommandSpec<Record<string, OptionGroup<unknown>>>[] = [
  INSPECT_COMMAND,
  ANALYZE_COMMAND,
  COMPARE_COMMAND,
];
/** Every flag of the three commands, `--name`. */
const FLAGS = [...new Set(COMMANDS.flatMap((c) => Object.keys(commandFlags(c))))];
const NAMES_A_FLAG = new RegExp(`(^|[\\s(])--(${FLAGS.join("|")})\\b`);

async function libraryError(run: () => unknown): Promise<string> {
  try {
    await run();
  } catch (err) {
    assert.ok(err instanceof InspectorError, String(err));
    return err.message;
  }
  throw new Error("expected an InspectorError");
}

Deno.test("error names: library errors name options, not flags", async () => {
  const dir = tempDir();
  const cases: [() => unknown, RegExp][] = [
    [
      () => FeatureMapInspector.create(join(dir, "nope.onnx"), { ep: "wasm" }),
      /not found: pass options\.checkpoint with an \.onnx file/,
    ],
    [
      () => FeatureMapInspector.create(dir, { ep: "wasm" }),
      /is a folder: pass options\.checkpoint/,
    ],
    [
      () => loadClips("fixture", { batchSize: 0 }),
      /^options\.batchSize must be a positive integer/,
    ],
    [() => loadClips(join(dir, "none")), /^options\.dset .*none: no such folder/],
    [() => parseFrameRef("0-4"), /^options\.aFrame '0-4' is not a frame/],
    [
      () =>
        FeatureMapInspector.create(join(ROOT, "fixtures", "resnet18_video.onnx"), {
          ep: "tpu" as "wasm",
        }),
      /^options\.ep tpu is not known/,
    ],
  ];
  for (const [run, want] of cases) {
    const message = await libraryError(run);
    assert.match(message, want);
    assert.doesNotMatch(message, NAMES_A_FLAG, `a library error names a CLI flag: ${message}`);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("error names: no InspectorError in the library names a CLI flag (source scan)", () => {
  const bad: string[] = [];
  const scan = (folder: string) => {
    for (const e of Deno.readDirSync(join(ROOT, folder))) {
      const rel = join(folder, e.name);
      if (e.isDirectory) scan(rel);
      else if (e.name.endsWith(".ts")) {
        const src = Deno.readTextFileSync(join(ROOT, rel));
        for (const m of src.matchAll(/new InspectorError\(([\s\S]*?)\);/g)) {
          // Deno's own permission hints (--allow-write=...) tell how to run deno, in both worlds.
          if (m[1].includes("--allow-")) continue;
          if (NAMES_A_FLAG.test(m[1])) bad.push(`${rel}: ${m[1].trim().slice(0, 90)}`);
        }
      }
    }
  };
  for (const folder of ["core", "stats", "render", "shaders", "inspector", "analysis", "compare"]) {
    scan(folder);
  }
  assert.deepEqual(bad, [], "say options.<name> (the CLIs print the flag)");
});

Deno.test("error names: every flag declares the library option its group fills", () => {
  for (const command of COMMANDS) {
    for (const group of Object.values(command.groups)) {
      const keys = Object.keys(group.parse({}) as Record<string, unknown>);
      for (const [name, f] of Object.entries(group.flags) as [string, Flag<unknown>][]) {
        const lib = libraryName(name, f);
        if (!lib.startsWith("options.")) continue; // a function, e.g. listLayers()
        assert.ok(
          keys.includes(lib.slice("options.".length)),
          `${command.name} --${name}: its group fills no option ${lib} (set libraryName)`,
        );
        assert.equal(flagMessage(`pass ${lib} 1`), `pass --${name} 1`);
      }
    }
  }
  assert.equal(
    flagMessage("pass options.memoryBudgetMiB or run listLayers(); options.nope stays"),
    "pass --memory_budget or run --list_layers; options.nope stays",
  );
});

Deno.test("error names: the CLIs print the same errors with flags", async () => {
  const dir = tempDir();
  const perms = ["--allow-read", `--allow-write=${dir}`, "--allow-env", "--allow-ffi"];
  const lastError = (stderr: string) =>
    stderr.trim().split("\n").filter((l) => l.startsWith("error:"));
  const missing = await runScript(
    "scripts/inspect.ts",
    ["--checkpoint", join(dir, "nope.onnx"), "--save_dir", join(dir, "out")],
    { permissions: perms },
  );
  assert.notEqual(missing.code, 0);
  const [line] = lastError(missing.stderr);
  assert.match(
    line,
    /^error: model .*nope\.onnx not found: pass --checkpoint with an \.onnx file$/,
  );
  const range = await runScript(
    "scripts/inspect.ts",
    ["--ep", "wasm", "--size", "32", "--max_len", "2", "--batch_idx", "5", "--save_dir", dir],
    { permissions: perms },
  );
  assert.notEqual(range.code, 0);
  assert.match(lastError(range.stderr)[0], /^error: --batch_idx 5 is out of range/);
  const clips = await runScript(
    "scripts/cli.ts",
    ["inspect", "--dset", join(dir, "none"), "--save_dir", join(dir, "out2")],
    { permissions: perms },
  );
  assert.match(lastError(clips.stderr)[0], /^error: --dset .*none: no such folder/);
  await Deno.remove(dir, { recursive: true });
});
