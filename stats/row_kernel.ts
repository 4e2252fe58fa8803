/**
 * The fused row kernel: {@linkcode reduceRowsHistogram} gives what `moments.ts`'s
 * {@linkcode reduceRows} gives for every contiguous run of a tensor (sum, m2 by two passes in
 * float64, min, max, exact zeros, non-finite values) and counts every value into the fixed-edge
 * histogram of `dataset_statistics.ts` (`histBin`), in one pass over the values with WebAssembly
 * SIMD (`row_kernel.wat`; its bytes are embedded in `_row_kernel_wasm.ts` by `deno task wasm`).
 *
 * Dataset mode reads every tapped value once this way instead of computing the moments in the
 * ONNX graph and the histogram in JavaScript (`deno task bench` times both: the `row kernel`
 * line). The values are copied into the kernel's memory a block of rows at a time (a few hundred
 * KiB, so the second pass reads them from cache). A run holding a NaN or +-Inf is reduced again
 * by {@linkcode reduceRows}, so such runs give the reference's numbers exactly; finite runs agree
 * with it to float64 rounding (sums are added in four lanes).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { ROW_KERNEL_WASM } from "./_row_kernel_wasm.ts";
import {
  ACCUMULATOR_NAMES,
  type AccumulatorName,
  ACCUMULATORS,
  type RowMoments,
} from "./descriptors.ts";
import { emptyMoments, reduceRows } from "./moments.ts";
import { HIST_BINS } from "./dataset_statistics.ts";

/** The accumulators the kernel writes, in its output order. */
const KERNEL_OUTPUTS: readonly AccumulatorName[] = [
  "sum",
  "m2",
  "min",
  "max",
  "zeros",
  "nonfinite",
];

/** Options of {@linkcode reduceRowsHistogram}. */
export interface RowHistogramOptions {
  /** Histogram counts ({@linkcode HIST_BINS} bins of `histBin`) the values are added to. */
  histogram: number[];
  /**
   * Also fill these moments (`rows` x `width`, as {@linkcode emptyMoments} makes them) with those
   * of `max(x, 0)`, the values through a ReLU, in the same pass over the values: for a tapped
   * `Relu(x)` whose input is tapped too. Rows of `x` holding NaN/Inf are left at their empty
   * values (the result's `nonfinite` says which). Its histogram is {@linkcode positiveHistogram}
   * of `histogram`.
   */
  positive?: RowMoments;
}

interface Kernel {
  memory: WebAssembly.Memory;
  rows: (data: number, rows: number, width: number, out: number, hist: number) => void;
  pos_rows: (data: number, rows: number, width: number, out: number) => void;
}

let kernel: Kernel | null = null;

function instance(): Kernel {
  if (kernel) return kernel;
  const bytes = Buffer.from(ROW_KERNEL_WASM, "base64");
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
  const e = inst.exports as unknown as Kernel;
  kernel = { memory: e.memory, rows: e.rows, pos_rows: e.pos_rows };
  return kernel;
}

/** Count tables (4 x 192 uint32) at 0, outputs from 4 KiB, values after them. */
const HIST_BYTES = 4 * 192 * 4, OUT_AT = 4096;
/** Values per block copied into the kernel's memory (256 KiB). */
const BLOCK_VALUES = 65536;

/**
 * The moments of `rows` contiguous runs of `width` values (as {@linkcode reduceRows}), with every
 * finite value also counted into `options.histogram`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { reduceRowsHistogram } from "./row_kernel.ts";
 * import { HIST_BINS, histBin } from "./dataset_statistics.ts";
 * const histogram = new Array(HIST_BINS).fill(0);
 * const m = reduceRowsHistogram(new Float32Array([0, 1, 2, 3, NaN, -5]), [2, 3], { histogram });
 * assert.deepEqual([...m.sum], [3, -2]);
 * assert.deepEqual([...m.nonfinite], [0, 1]);
 * assert.equal(histogram[histBin(-5)], 1);
 * assert.equal(histogram.reduce((a, b) => a + b, 0), 5); // NaN has no bin
 * ```
 */
export function reduceRowsHistogram(
  data: Float32Array,
  shape: readonly [number, number],
  options: RowHistogramOptions,
): RowMoments {
  const [rows, width] = shape;
  if (rows * width > data.length) {
    throw new RangeError(
      `${rows} rows of ${width} need ${rows * width} values, got ${data.length}`,
    );
  }
  if (options.histogram.length !== HIST_BINS) {
    throw new RangeError(
      `options.histogram needs ${HIST_BINS} bins, got ${options.histogram.length}`,
    );
  }
  const out = emptyMoments(rows, width);
  if (rows === 0 || width === 0) return out;
  const k = instance();
  const block = Math.max(1, Math.floor(BLOCK_VALUES / width));
  const posAt = OUT_AT + 8 * KERNEL_OUTPUTS.length * block;
  const dataAt = posAt + (options.positive ? 8 * KERNEL_OUTPUTS.length * block : 0);
  const need = dataAt + 4 * block * width;
  if (k.memory.buffer.byteLength < need) {
    k.memory.grow(Math.ceil((need - k.memory.buffer.byteLength) / 65536));
  }
  const mem = k.memory.buffer;
  const counts = new Uint32Array(mem, 0, HIST_BYTES / 4);
  counts.fill(0);
  const values = new Float32Array(mem, dataAt, block * width);
  const res = new Float64Array(mem, OUT_AT, KERNEL_OUTPUTS.length * block);
  const pos = options.positive;
  if (pos && (pos.rows !== rows || pos.width !== width)) {
    throw new RangeError(
      `options.positive needs ${rows} rows of ${width}, has ${pos.rows} of ${pos.width}`,
    );
  }
  const posRes = new Float64Array(mem, posAt, pos ? KERNEL_OUTPUTS.length * block : 0);
  for (let r0 = 0; r0 < rows; r0 += block) {
    const n = Math.min(block, rows - r0);
    values.set(data.subarray(r0 * width, (r0 + n) * width));
    k.rows(dataAt, n, width, OUT_AT, 0);
    for (const [j, name] of KERNEL_OUTPUTS.entries()) {
      out[name].set(res.subarray(j * n, j * n + n), r0);
    }
    if (pos) {
      // The block is still in cache.
      k.pos_rows(dataAt, n, width, posAt);
      for (const [j, name] of KERNEL_OUTPUTS.entries()) {
        pos[name].set(posRes.subarray(j * n, j * n + n), r0);
      }
    }
    for (let r = r0; r < r0 + n; r++) {
      if (out.nonfinite[r] === 0) continue;
      if (pos) { for (const name of ACCUMULATOR_NAMES) pos[name][r] = ACCUMULATORS[name].empty; }
      // A row with NaN/Inf: the reference's numbers.
      const ref = reduceRows(data.subarray(r * width, (r + 1) * width), 1, width);
      for (const name of ACCUMULATOR_NAMES) out[name][r] = ref[name][0];
    }
  }
  const h = options.histogram;
  for (let b = 0; b < HIST_BINS; b++) {
    h[b] += counts[b] + counts[192 + b] + counts[384 + b] + counts[576 + b];
  }
  return out;
}
