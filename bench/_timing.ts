/**
 * The one timer of the benchmarks (one warm-up call, then at least two timed calls and at least
 * `minSeconds` in all), their median, and the `/proc` readings they share.
 *
 * @module
 */

/** Mean seconds per call of `fn` (after one warm-up call: pipeline compilation, JIT). */
export async function timeIt(fn: () => unknown, minSeconds: number): Promise<number> {
  await fn();
  let reps = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (reps < 2 || elapsed < minSeconds * 1000) {
    await fn();
    reps++;
    elapsed = performance.now() - t0;
  }
  return elapsed / 1000 / reps;
}

/**
 * Median of numbers (the mean of the two middle ones for an even count); NaN for none.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { median } from "./_timing.ts";
 * assert.equal(median([3, 1, 2]), 2);
 * assert.equal(median([4, 1, 3, 2]), 2.5);
 * ```
 */
export function median(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Run `sh -c command` and return its stdout, or null when it fails. Deno asks for `--allow-all`
 * to open `/proc/<pid>` itself, so the benchmarks read `/proc` through `sh` (`--allow-run`).
 */
export function shell(command: string): string | null {
  try {
    const out = new Deno.Command("sh", { args: ["-c", command], stderr: "null" }).outputSync();
    return out.success ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}

/** The 1-minute load average, or null off Linux. */
export function loadAverage(): number | null {
  const v = Number(shell("cat /proc/loadavg")?.split(" ")[0]);
  return Number.isFinite(v) ? v : null;
}
