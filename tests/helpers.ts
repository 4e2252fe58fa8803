/**
 * Test helpers shared by the test files: paths of the shared test material, python3/numpy
 * detection, and small assertions.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

/** Project root. */
export const ROOT: string = fromFileUrl(new URL("../", import.meta.url));

/** `../shared` beside the project (may not exist on a user's clone). */
export const SHARED: string = join(ROOT, "..", "shared");

/** Whether a path exists. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether `../shared` (the real test material) is present. */
export const HAVE_SHARED: boolean = exists(join(SHARED, "torch"));

/** The real video frames in `../shared` (relative to the working directory, the project root). */
export const REAL_FRAMES = "../shared/real/clips/mmaction2/frames";

/** Whether {@linkcode REAL_FRAMES} is present. */
export const HAVE_REAL_FRAMES: boolean = exists(REAL_FRAMES);

let numpyChecked: boolean | null = null;

/** Whether python3 with numpy is available. */
export function haveNumpy(): boolean {
  if (numpyChecked !== null) return numpyChecked;
  try {
    const r = new Deno.Command("python3", { args: ["-c", "import numpy"], stderr: "null" })
      .outputSync();
    numpyChecked = r.success;
  } catch {
    numpyChecked = false;
  }
  return numpyChecked;
}

/** Run a python3 snippet and parse its stdout as JSON. */
export async function python(code: string, args: string[] = []): Promise<unknown> {
  const r = await new Deno.Command("python3", { args: ["-c", code, ...args] }).output();
  const err = new TextDecoder().decode(r.stderr);
  if (!r.success) throw new Error(`python3 failed: ${err}`);
  return JSON.parse(new TextDecoder().decode(r.stdout));
}

/** Print why a test is skipped. */
export function skip(why: string): void {
  console.log(`  skipped: ${why}`);
}

/** Largest absolute difference between two arrays of equal length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Deterministic PRNG (mulberry32) returning [0, 1): the library's own. */
export { prng } from "../stats/prng.ts";

/** A fresh temporary directory. */
export function tempDir(prefix = "fi_test_"): string {
  return Deno.makeTempDirSync({ prefix });
}

/** Run a project script with deno and capture its output. */
export async function runScript(
  script: string,
  args: string[],
  options: { permissions?: string[]; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const perms = options.permissions ?? ["--allow-read", "--allow-write", "--allow-env"];
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...perms, join(ROOT, script), ...args],
    cwd: options.cwd ?? ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}
