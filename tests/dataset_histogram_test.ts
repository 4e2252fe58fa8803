import assert from "node:assert/strict";
import {
  addHistogram,
  emptyLayerAccumulator,
  HIST_BINS,
  HIST_EDGES,
  histBin,
} from "../stats/dataset_statistics.ts";
import { prng } from "../stats/prng.ts";

Deno.test("addHistogram (table of the top 16 bits) bins every float32 as histBin does", () => {
  const rand = prng(7);
  const bits = new Uint32Array(1 << 20);
  for (let i = 0; i < bits.length; i++) bits[i] = (rand() * 2 ** 32) >>> 0;
  const values = new Float32Array(bits.buffer);
  // Every edge, one float32 step either side, both signs, zeros, denormals, Inf and NaN.
  const edge: number[] = [0, -0, 1e-45, -1e-45, 1e-39, Infinity, -Infinity, NaN];
  const f = new Float32Array(1), u = new Uint32Array(f.buffer);
  for (const e of HIST_EDGES) {
    f[0] = e;
    for (const d of [-1, 0, 1]) {
      const w = new Uint32Array([u[0] + d]);
      const v = new Float32Array(w.buffer)[0];
      edge.push(v, -v);
    }
  }
  const frames = [values, new Float32Array(edge)];
  const acc = emptyLayerAccumulator("x", { channels: 1, spatial: 1 });
  addHistogram(acc, frames);
  const want = new Array(HIST_BINS).fill(0);
  for (const fr of frames) for (const v of fr) if (Number.isFinite(v)) want[histBin(v)]++;
  assert.deepEqual(acc.histogram, want);
  // The random patterns cover most bins, so the comparison is not vacuous.
  assert.ok(want.filter((c) => c > 0).length > HIST_BINS - 4);
});
