import assert from "node:assert/strict";
import { HIST_BINS, HIST_EDGES, histBin, positiveHistogram } from "../stats/dataset_statistics.ts";
import { ACCUMULATOR_NAMES, type RowMoments } from "../stats/descriptors.ts";
import { emptyMoments, reduceRows } from "../stats/moments.ts";
import { reduceRowsHistogram } from "../stats/row_kernel.ts";
import { prng } from "../stats/prng.ts";
import { haveNumpy, python, runScript, skip } from "./helpers.ts";

/** The kernel against the CPU reference (`reduceRows`) and `histBin` on the same values. */
function compare(data: Float32Array, rows: number, width: number): void {
  const histogram = new Array(HIST_BINS).fill(0);
  const positive = emptyMoments(rows, width);
  const got = reduceRowsHistogram(data, [rows, width], { histogram, positive });
  const ref = reduceRows(data, rows, width);
  close(got, ref, data, rows, width);
  // options.positive: the moments of max(x, 0) on rows without NaN/Inf, left empty on others.
  const relu = data.map((v) => Math.max(v, 0));
  const refPos = reduceRows(relu, rows, width);
  const empty = emptyMoments(rows, width);
  for (let r = 0; r < rows; r++) {
    if (ref.nonfinite[r] === 0) continue;
    for (const k of ACCUMULATOR_NAMES) refPos[k][r] = empty[k][r];
    relu.fill(0, r * width, (r + 1) * width);
  }
  close(positive, refPos, relu, rows, width);
  if (ref.nonfinite.every((n) => n === 0)) {
    const want = new Array(HIST_BINS).fill(0);
    for (const v of relu) want[histBin(v)]++;
    assert.deepEqual(positiveHistogram(histogram), want);
  }
  const want = new Array(HIST_BINS).fill(0);
  for (const v of data) if (Number.isFinite(v)) want[histBin(v)]++;
  assert.deepEqual(histogram, want);
  // Without options.positive: the same moments.
  const alone = reduceRowsHistogram(data, [rows, width], {
    histogram: new Array(HIST_BINS).fill(0),
  });
  for (const k of ACCUMULATOR_NAMES) assert.deepEqual(alone[k], got[k]);
}

/** Each accumulator of `got` equals `ref`'s: exactly, or within float64 rounding for the sums. */
function close(
  got: RowMoments,
  ref: RowMoments,
  data: Float32Array,
  rows: number,
  width: number,
): void {
  for (const k of ACCUMULATOR_NAMES) {
    for (let r = 0; r < rows; r++) {
      const a = got[k][r], b = ref[k][r];
      if (k === "sum" || k === "m2") {
        // Sums are added in four lanes, not in order: within float64 rounding of the width's
        // worth of additions (n * eps of the values' magnitudes).
        let scale = 0;
        for (let i = r * width; i < (r + 1) * width; i++) {
          if (Number.isFinite(data[i])) scale += k === "sum" ? Math.abs(data[i]) : data[i] ** 2;
        }
        assert.ok(Math.abs(a - b) <= 4 * width * 2 ** -52 * scale, `${k}[${r}] ${a} vs ${b}`);
      } else {
        assert.equal(a, b, `${k}[${r}] of ${rows}x${width}`);
      }
    }
  }
}

Deno.test("row kernel: moments equal reduceRows and bins equal histBin, edges and specials too", () => {
  const rand = prng(11);
  // Every edge, one float32 step either side, both signs; zeros, denormals, Inf and NaN.
  const special: number[] = [0, -0, 1e-45, -1e-45, 1e-39, 3e38, -3e38];
  const f = new Float32Array(1), u = new Uint32Array(f.buffer);
  for (const e of HIST_EDGES) {
    f[0] = e;
    for (const d of [-1, 0, 1]) {
      const v = new Float32Array(new Uint32Array([u[0] + d]).buffer)[0];
      special.push(v, -v);
    }
  }
  const pick = () => special[(rand() * special.length) | 0];
  const fill = (n: number, gen: () => number) => Float32Array.from({ length: n }, gen);
  // Widths with and without a tail of 1-3 values, and width 1 (a vector layer).
  for (const [rows, width] of [[40, 3136], [9, 13], [50, 1], [7, 6], [3, 70000]]) {
    compare(fill(rows * width, () => Math.max(0, rand() - 0.5) * 3), rows, width);
    compare(fill(rows * width, pick), rows, width);
    compare(fill(rows * width, () => (rand() - 0.5) * 2 ** ((rand() * 90 - 45) | 0)), rows, width);
  }
  // Rows with NaN / Inf go through the reference: exactly its numbers.
  const bad = fill(20 * 50, () => (rand() < 0.02 ? NaN : rand() < 0.02 ? -Infinity : rand()));
  compare(bad, 20, 50);
  // Random bit patterns reach nearly every bin, so the comparison is not vacuous.
  const bits = new Uint32Array(1 << 18).map(() => (rand() * 2 ** 32) >>> 0);
  const h = new Array(HIST_BINS).fill(0);
  reduceRowsHistogram(new Float32Array(bits.buffer), [64, 4096], { histogram: h });
  assert.ok(h.filter((c) => c > 0).length > HIST_BINS - 4);
  compare(new Float32Array(bits.buffer), 64, 4096);
});

Deno.test("row kernel: mean and std per row equal NumPy's float64 ones", async () => {
  const rand = prng(4);
  const rows = 6, width = 1001;
  const data = Float32Array.from({ length: rows * width }, () => (rand() - 0.2) * 7);
  const m = reduceRowsHistogram(data, [rows, width], { histogram: new Array(HIST_BINS).fill(0) });
  if (!haveNumpy()) return skip("python3 with numpy absent");
  const ref = await python(
    "import json, sys, numpy as np\n" +
      "a = np.array(json.loads(sys.argv[1]), dtype=np.float32).reshape(6, 1001)" +
      ".astype(np.float64)\n" +
      "print(json.dumps({'mean': a.mean(1).tolist(), 'std': a.std(1).tolist()}))",
    [JSON.stringify(Array.from(data))],
  ) as { mean: number[]; std: number[] };
  for (let r = 0; r < rows; r++) {
    const mean = m.sum[r] / width, std = Math.sqrt(m.m2[r] / width);
    assert.ok(Math.abs(mean - ref.mean[r]) <= 1e-12 * Math.abs(ref.mean[r]));
    assert.ok(Math.abs(std - ref.std[r]) <= 1e-12 * ref.std[r]);
  }
});

Deno.test("row kernel: the embedded bytes are those of stats/row_kernel.wat", async () => {
  const r = await runScript("scripts/build_wasm.ts", ["--check"], {
    permissions: ["--allow-read", "--allow-env"],
  });
  assert.equal(r.code, 0, r.stderr);
});

Deno.test("row kernel: options.histogram must have the bins of histBin", () => {
  assert.throws(
    () => reduceRowsHistogram(new Float32Array(4), [1, 4], { histogram: [0, 0] }),
    /options\.histogram needs 181 bins/,
  );
});
