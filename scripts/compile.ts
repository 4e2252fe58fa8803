/**
 * `deno task compile`: build `dist/feature-inspector`, one self-contained binary with the
 * subcommands `inspect`, `analyze` and `compare`, the WGSL shaders, the default fixtures and the
 * onnxruntime-web `.wasm` files embedded, and its permissions baked in.
 *
 * `deno compile` needs its runtime (`denort`), which it normally downloads; where that host is
 * unreachable, point `DENORT_BIN` at a local `denort` binary.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { InspectorError } from "../core/errors.ts";
import { runMain } from "./cli_args.ts";

/** Project root. */
const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Files and folders embedded next to the module graph (paths relative to the root). */
export const COMPILE_INCLUDES: readonly string[] = [
  "shaders",
  "fixtures/resnet18_video.onnx",
  "fixtures/clips",
  "inspector/decode_worker.ts",
];

/** Permissions baked into the binary: no network, no subprocesses, no FFI. */
export const COMPILE_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-env=FEATURE_INSPECTOR_DATA,FEATURE_INSPECTOR_DEBUG",
];

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

if (import.meta.main) {
  await runMain(async () => {
    const missing = await missingAssets();
    if (missing.length) {
      throw new InspectorError(
        `assets to embed are missing: ${missing.join(", ")}; run deno task fixtures first`,
      );
    }
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
      if (/denort|download/i.test(err) && !Deno.env.get("DENORT_BIN")) {
        throw new InspectorError(
          `deno compile could not fetch its runtime (denort): set DENORT_BIN=/path/to/denort ` +
            `(the denort of Deno ${Deno.version.deno}) and run deno task compile again`,
        );
      }
      throw new InspectorError(`deno compile failed: ${err.trim().split("\n").slice(-1)[0]}`);
    }
    console.log(`built ${output}`);
  });
}
