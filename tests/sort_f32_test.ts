import assert from "node:assert/strict";
import { sortFloat32 } from "../stats/_sort_f32.ts";

/** Deterministic values with -0, +0, subnormals, infinities and NaNs mixed in. */
function values(n: number, seed: number): Float32Array {
  const special = [0, -0, 1e-40, -1e-40, Infinity, -Infinity, NaN, 3.5, -3.5];
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s % 11 === 0 ? special[s % special.length] : ((s / 2 ** 32) - 0.3) * 10 ** (s % 7 - 3);
  }
  return out;
}

Deno.test("sortFloat32 gives exactly Float32Array.prototype.sort's order (-0 before +0, NaN last)", () => {
  for (const [n, seed] of [[10, 1], [2047, 2], [2048, 3], [100_003, 4], [300_000, 5]]) {
    const a = values(n, seed);
    const want = a.slice().sort(), got = sortFloat32(a.slice());
    for (let i = 0; i < n; i++) {
      if (Number.isNaN(want[i])) assert.ok(Number.isNaN(got[i]), `n=${n} i=${i}: NaN expected`);
      else {assert.ok(
          Object.is(want[i], got[i]),
          `n=${n} i=${i}: ${want[i]} expected, got ${got[i]}`,
        );}
    }
  }
});

Deno.test("sortFloat32 sorts a subarray view in place and leaves the rest of the buffer alone", () => {
  const buf = values(10_000, 9);
  const copy = buf.slice();
  const view = buf.subarray(1000, 9000);
  assert.equal(sortFloat32(view), view);
  assert.deepEqual(Array.from(view), Array.from(copy.subarray(1000, 9000).sort()));
  assert.deepEqual(Array.from(buf.subarray(0, 1000)), Array.from(copy.subarray(0, 1000)));
  assert.deepEqual(Array.from(buf.subarray(9000)), Array.from(copy.subarray(9000)));
});
