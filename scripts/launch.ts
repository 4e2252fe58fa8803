/**
 * The launcher behind `deno task inspect|analyze|compare|cli`: any `--save_dir`, with no prompt
 * and no extra flags, while the command itself can still write nowhere else.
 *
 * It reads only the `--save_dir` the user named (or the command's default folder), resolves it
 * against the folder the user ran `deno task` from (`INIT_CWD`), and starts the real command as a
 * child Deno process in that folder with exactly `--allow-write=<that folder>`, read access, the
 * environment variables it reads and, for `inspect`, FFI (the native onnxruntime of `--ep cpu`).
 * The launcher writes nothing itself. Relative paths of the other flags and positional files
 * therefore resolve where the user stands, and a write outside the save folder (a `--name ../x`,
 * a bug) is refused by Deno, not by our code.
 *
 * `deno run scripts/inspect.ts ...` (without the launcher) keeps working with whatever
 * permissions it is given.
 *
 * @module
 */

import { isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_SAVE_DIRS } from "./options/_save_dirs.ts";

/** What the launcher starts for each command. */
export interface LaunchSpec {
  /** The script, relative to the project root. */
  script: string;
  /** Default `--save_dir` (relative to the user's folder); null: the command writes nothing. */
  saveDir: string | null;
  /** Whether the command loads native code (onnxruntime-node). */
  ffi: boolean;
}

/** The environment variables the commands read (their `--allow-env` list). */
export const COMMAND_ENV: readonly string[] = [
  "FEATURE_INSPECTOR_DATA",
  "FEATURE_INSPECTOR_DEBUG",
  "FEATURE_INSPECTOR_PROFILE",
  "XDG_RUNTIME_DIR",
];

/**
 * The V8 flags of every command's process: no WASM tier-up (see docs/development.md, a Deno
 * crash at exit after the WASM backend); a 2 MB young generation (V8's semi-space; Deno's
 * default lets it grow to 16 MB and more): for `analyze` of the bench's 8 layers the peak RSS
 * went from 430-436 to 353-397 MiB at the same wall time; and `gc()`, which `inspect` calls
 * once, when the session holds the weights and their JavaScript copy is dropped (see
 * docs/performance.md, "Whole commands").
 */
export const COMMAND_V8_FLAGS: readonly string[] = [
  "--no-wasm-tier-up",
  "--max-semi-space-size=2",
  "--expose-gc",
];

/** The commands the launcher knows, each with what its child process may do. */
export const LAUNCH_SPECS: Readonly<Record<string, LaunchSpec>> = {
  inspect: { script: "scripts/inspect.ts", saveDir: DEFAULT_SAVE_DIRS.inspect, ffi: true },
  analyze: { script: "scripts/analyze.ts", saveDir: DEFAULT_SAVE_DIRS.analyze, ffi: false },
  compare: { script: "scripts/compare.ts", saveDir: DEFAULT_SAVE_DIRS.compare, ffi: false },
  merge: { script: "scripts/merge.ts", saveDir: DEFAULT_SAVE_DIRS.merge, ffi: false },
};

/**
 * The value of `--save_dir` in `args` (also `--save-dir`, `--save_dir=DIR`); the last one wins,
 * as in the commands' own parser. `undefined` when absent.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { saveDirArg } from "./launch.ts";
 * assert.equal(saveDirArg(["--timestep", "4", "--save_dir", "exp1"]), "exp1");
 * assert.equal(saveDirArg(["--save-dir=a", "--save_dir", "b"]), "b");
 * assert.equal(saveDirArg(["--layers", "x"]), undefined);
 * ```
 */
export function saveDirArg(args: readonly string[]): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") break;
    const m = /^--save[_-]dir(?:=(.*))?$/.exec(a);
    if (!m) continue;
    if (m[1] !== undefined) found = m[1];
    else if (i + 1 < args.length) found = args[++i];
  }
  return found;
}

/** The child's `deno run` arguments for a command (exported for the tests). */
export interface ChildPlan {
  /** Arguments after the Deno executable. */
  args: string[];
  /** Working directory of the child: the user's folder. */
  cwd: string;
  /** Absolute save folder the child may write, or null. */
  writable: string | null;
}

/**
 * Plan the child process of `command` run with `args` from the user's folder `cwd`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { planChild } from "./launch.ts";
 * const p = planChild("analyze", ["run1/features.npy", "--save_dir", "rep"], { cwd: "/home/u" });
 * assert.equal(p.writable, "/home/u/rep");
 * assert.ok(p.args.includes("--allow-write=/home/u/rep"));
 * assert.equal(p.cwd, "/home/u");
 * ```
 */
export function planChild(
  command: string,
  args: readonly string[],
  options: { cwd: string; root?: string },
): ChildPlan {
  const root = options.root ?? fileURLToPath(new URL("../", import.meta.url));
  let spec = LAUNCH_SPECS[command];
  let rest = [...args];
  let script: string;
  if (command === "cli") {
    // `deno task cli <sub> ...`: the subcommand decides the folder and the permissions.
    const sub = LAUNCH_SPECS[args[0]];
    spec = sub ?? { script: "scripts/cli.ts", saveDir: null, ffi: false };
    script = "scripts/cli.ts";
    rest = [...args];
  } else if (!spec) {
    throw new Error(
      `unknown command ${command}: use ${Object.keys(LAUNCH_SPECS).join(", ")} or cli`,
    );
  } else {
    script = spec.script;
  }
  const named = saveDirArg(rest);
  const dir = named ?? spec.saveDir;
  const writable = dir === null ? null : isAbsolute(dir) ? resolve(dir) : resolve(options.cwd, dir);
  const perms = [
    "--allow-read",
    `--allow-env=${COMMAND_ENV.join(",")}`,
    ...(writable ? [`--allow-write=${writable}`] : []),
    ...(spec.ffi ? ["--allow-ffi"] : []),
    // inspect reads video clips through the system decoder, and may run nothing else.
    ...(spec.script === "scripts/inspect.ts" ? ["--allow-run=ffmpeg,ffprobe"] : []),
  ];
  return {
    args: [
      "run",
      "--no-prompt",
      `--config=${join(root, "deno.json")}`,
      `--v8-flags=${COMMAND_V8_FLAGS.join(",")}`,
      ...perms,
      join(root, script),
      ...rest,
    ],
    cwd: options.cwd,
    writable,
  };
}

if (import.meta.main) {
  const [command, ...args] = Deno.args;
  // `deno task` runs in the project folder and says where the user was in INIT_CWD.
  const cwd = Deno.env.get("INIT_CWD") || Deno.cwd();
  let plan: ChildPlan;
  try {
    plan = planChild(command ?? "", args, { cwd });
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    Deno.exit(2);
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: plan.args,
    cwd: plan.cwd,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Ctrl-C reaches the child too (same process group): wait for it to finish cleaning up.
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => {
      if (sig === "SIGTERM") child.kill(sig);
    });
  }
  const status = await child.status;
  Deno.exit(status.signal ? 128 + (status.signal === "SIGINT" ? 2 : 15) : status.code);
}
