/**
 * `deno task compile`: build `dist/feature-inspector`, one self-contained binary with the
 * subcommands `inspect`, `analyze` and `compare`, the WGSL shaders, the default fixtures and the
 * onnxruntime-web `.wasm` files embedded, and its permissions baked in.
 *
 * `deno compile` needs its runtime (`denort`), which it normally downloads; where that host is
 * unreachable, point `DENORT_BIN` at a local `denort` binary. `deno compile` takes any file there
 * without a look, so the task first checks that it really is a denort of this Deno's version
 * ({@linkcode checkDenort}), and after the build runs `--version` of the binary before it says
 * "built" ({@linkcode smokeTest}).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { InspectorError } from "../core/errors.ts";
import { TOOL } from "../core/manifest.ts";
import { runMain } from "./cli_args.ts";

/** Project root. */
const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Files and folders embedded next to the module graph (paths relative to the root). */
export const COMPILE_INCLUDES: readonly string[] = [
  "shaders",
  "fixtures/resnet18_video.onnx",
  "fixtures/clips",
  "inspector/decode_worker.ts",
  "render/_raster_worker.ts",
];

/** Permissions baked into the binary: no network, no subprocesses, no FFI. */
export const COMPILE_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-env=FEATURE_INSPECTOR_DATA,FEATURE_INSPECTOR_DEBUG,FEATURE_INSPECTOR_PROFILE",
];

/** How long the denort probe and the smoke test of the built binary may run. */
const PROBE_TIMEOUT_MS = 30_000;

/** The `deno compile` arguments for `output`. */
export function compileArgs(output: string): string[] {
  return [
    "compile",
    "--no-check",
    ...COMPILE_PERMISSIONS,
    ...COMPILE_INCLUDES.flatMap((p) => ["--include", join(ROOT, p)]),
    "--output",
    output,
    join(ROOT, "scripts", "cli.ts"),
  ];
}

/**
 * Check that every embedded asset exists (the part of a build that can be checked without
 * `denort`).
 *
 * @example Usage
 * ```ts ignore
 * import { missingAssets } from "./compile.ts";
 * console.log(await missingAssets()); // []
 * ```
 */
export async function missingAssets(): Promise<string[]> {
  const missing: string[] = [];
  for (const p of COMPILE_INCLUDES) {
    try {
      await Deno.stat(join(ROOT, p));
    } catch {
      missing.push(p);
    }
  }
  return missing;
}

/** What to do, appended to every refusal of a `DENORT_BIN`. */
function denortHint(): string {
  const v = Deno.version.deno;
  return `point it at the denort ${v} binary (denort-${Deno.build.target}.zip of Deno's v${v} ` +
    `release, unzipped) or unset DENORT_BIN so that deno compile downloads it`;
}

/** The first line of a program's output, shortened for an error message. */
function firstLine(text: string): string {
  const line = text.trim().split("\n")[0].trim();
  return line.length > 70 ? `${line.slice(0, 67)}...` : line;
}

/** Run `program args` with no stdin and a time limit; `null` when it did not finish in time. */
async function probe(
  program: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string } | null> {
  const signal = AbortSignal.timeout(PROBE_TIMEOUT_MS);
  const r = await new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  if (signal.aborted) return null;
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

/**
 * Whether a runtime binary is of Deno `version` (its `Deno/<version>` user agent), and the
 * highest Deno version it names otherwise.
 */
function runtimeVersion(bytes: Uint8Array, version: string): { matches: boolean; names?: string } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let names: number[] | undefined;
  for (let i = buf.indexOf("Deno/"); i >= 0; i = buf.indexOf("Deno/", i + 5)) {
    const after = buf.toString("latin1", i + 5, i + 45);
    if (after.startsWith(version) && !/^[0-9.]/.test(after.slice(version.length))) {
      return { matches: true };
    }
    const m = /^(\d+)\.(\d+)\.(\d+)/.exec(after);
    const v = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
    const higher = (a: number[], b: number[]) => (a[0] - b[0] || a[1] - b[1] || a[2] - b[2]) > 0;
    if (v && (!names || higher(v, names))) names = v;
  }
  return { matches: false, names: names?.join(".") };
}

/**
 * Check that `path` (the value of `DENORT_BIN`) is a denort of this Deno's version, the only
 * runtime `deno compile` can turn into a working binary; throws an {@linkcode InspectorError}
 * naming `DENORT_BIN` and what to do otherwise.
 *
 * A denort is Deno's runtime without the CLI: started without an embedded program it prints
 * `error: Could not find standalone binary section.` and exits with 1, whatever its arguments
 * (the `deno` CLI prints its version for `--version`). Its version is the `Deno/<version>` user
 * agent compiled into it.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkDenort } from "./compile.ts";
 * await assert.rejects(checkDenort("/no/such/denort"), /DENORT_BIN=\/no\/such\/denort does not exist/);
 * await assert.rejects(checkDenort(Deno.execPath()), /is the deno CLI, not a denort/);
 * ```
 */
export async function checkDenort(path: string): Promise<void> {
  const refuse = (what: string): never => {
    throw new InspectorError(`DENORT_BIN=${path} ${what}; ${denortHint()}`);
  };
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch {
    return refuse("does not exist");
  }
  if (!info.isFile) refuse("is not a file");
  if (info.mode !== null && (info.mode & 0o111) === 0) {
    refuse("is not executable (chmod +x it if it is a denort)");
  }
  let r: Awaited<ReturnType<typeof probe>>;
  try {
    r = await probe(path, ["--version"]);
  } catch (err) {
    return refuse(`cannot be run (${firstLine(String((err as Error).message ?? err))})`);
  }
  if (r === null) return refuse(`did not exit within ${PROBE_TIMEOUT_MS / 1000} s of --version`);
  if (/^deno \d/.test(r.stdout)) {
    return refuse(`is the deno CLI, not a denort (--version prints "${firstLine(r.stdout)}")`);
  }
  if (r.code !== 1 || !/standalone binary section/i.test(r.stderr)) {
    const out = firstLine(r.stdout) || firstLine(r.stderr);
    const said = /Usage: deno|A modern JavaScript and TypeScript runtime/.test(r.stdout + r.stderr)
      ? "it prints Deno's CLI help"
      : out
      ? `it prints "${out}" and exits with ${r.code}`
      : `it prints nothing and exits with ${r.code}`;
    return refuse(`is not a denort (${said})`);
  }
  const v = runtimeVersion(await Deno.readFile(path), Deno.version.deno);
  if (!v.matches) {
    const names = v.names ? `it names Deno ${v.names}` : "it names no Deno version";
    refuse(`is a denort, but not of this Deno ${Deno.version.deno} (${names})`);
  }
}

/**
 * Run `binary --version` and check that it prints the tool's name and version; otherwise remove
 * the binary and throw an {@linkcode InspectorError} saying why.
 *
 * @example Usage
 * ```ts ignore
 * import { smokeTest } from "./compile.ts";
 * await smokeTest("dist/feature-inspector"); // resolves: it printed "feature-inspector 0.1.0"
 * ```
 */
export async function smokeTest(binary: string): Promise<void> {
  const want = `${TOOL.name} ${TOOL.version}`;
  let why: string | null = null;
  try {
    const r = await probe(binary, ["--version"]);
    if (r === null) why = `did not exit within ${PROBE_TIMEOUT_MS / 1000} s`;
    else if (r.code !== 0 || r.stdout.trim() !== want) {
      const out = firstLine(r.stdout) || firstLine(r.stderr);
      why = `printed ${out ? `"${out}"` : "nothing"} (exit ${r.code})`;
    }
  } catch (err) {
    why = `could not be run (${firstLine(String((err as Error).message ?? err))})`;
  }
  if (why === null) return;
  await Deno.remove(binary).catch(() => {});
  throw new InspectorError(
    `the built ${binary} does not work: --version ${why} instead of "${want}", so it was ` +
      `removed; check that DENORT_BIN is the denort ${Deno.version.deno} binary (or unset it) ` +
      `and run deno task compile again`,
  );
}

if (import.meta.main) {
  await runMain(async () => {
    const missing = await missingAssets();
    if (missing.length) {
      throw new InspectorError(
        `assets to embed are missing: ${missing.join(", ")}; run deno task fixtures first`,
      );
    }
    const denort = Deno.env.get("DENORT_BIN");
    if (denort !== undefined) await checkDenort(denort);
    const output = join(
      ROOT,
      "dist",
      Deno.build.os === "windows" ? "feature-inspector.exe" : "feature-inspector",
    );
    await Deno.mkdir(join(ROOT, "dist"), { recursive: true });
    const r = await new Deno.Command(Deno.execPath(), {
      args: compileArgs(output),
      cwd: ROOT,
      stdout: "inherit",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(r.stderr);
    if (!r.success) {
      if (/denort|download/i.test(err) && !denort) {
        throw new InspectorError(
          `deno compile could not fetch its runtime (denort): set DENORT_BIN=/path/to/denort ` +
            `(the denort of Deno ${Deno.version.deno}) and run deno task compile again`,
        );
      }
      throw new InspectorError(`deno compile failed: ${err.trim().split("\n").slice(-1)[0]}`);
    }
    await smokeTest(output);
    console.log(`built ${output}`);
  });
}
