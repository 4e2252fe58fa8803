/**
 * The one timer of the benchmarks: one warm-up call, then at least two timed calls and at least
 * `minSeconds` in all.
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
