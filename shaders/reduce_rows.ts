/**
 * The `reduce_rows.wgsl` kernel: per-run moments (see `stats/moments.ts` `reduceRows`), as f32
 * partials per (row, chunk) on the GPU, merged per row in f64 on the host under the merge rules
 * of `stats/descriptors.ts`.
 *
 * @module
 */

import {
  ACCUMULATOR_NAMES,
  type AccumulatorName,
  ACCUMULATORS,
  emptyMerged,
  emptyPart,
  mergePart,
} from "../stats/descriptors.ts";
import { emptyMoments, type RowMoments } from "../stats/moments.ts";
import { checkLength, type GpuInput, type KernelDispatcher } from "./dispatch.ts";
import type { UnitLayout } from "./plan.ts";

/** How `reduce_rows` spreads a row over threads. */
export type ReduceStrategy = "workgroup" | "serial";

/** Options of {@linkcode gpuReduceRows}. */
export interface GpuReduceRowsOptions {
  /** `[rows, width]`: `rows` contiguous runs of `width` values. */
  shape: readonly [rows: number, width: number];
  /**
   * `workgroup` (256 threads per chunk of 4096 values, tree reductions) or `serial` (one thread
   * per chunk of 1024 values); default `workgroup`.
   */
  strategy?: ReduceStrategy;
}

/** Values per row below which `reduce_small` (one thread per row) is used. */
const SMALL_WIDTH = 64;
/** Values per work item of `reduce_chunks` (256 threads x 16). */
const CHUNK = 4096;
/** Values per thread of `reduce_small` in the serial strategy. */
const SERIAL_CHUNK = 1024;
/** Bytes of one `Partial` (8 words). */
const PARTIAL_BYTES = 32;

/**
 * Moments of `rows` runs of `width` values on the GPU.
 *
 * @example Usage
 * ```ts ignore
 * import { openGpu } from "./gpu_context.ts";
 * import { KernelDispatcher } from "./dispatch.ts";
 * import { gpuReduceRows } from "./reduce_rows.ts";
 * const gpu = await openGpu();
 * if (!("reason" in gpu)) {
 *   const m = await gpuReduceRows(new KernelDispatcher(gpu), new Float32Array([1, 2, 3, 4]), {
 *     shape: [2, 2],
 *   });
 *   console.log(m.sum); // Float64Array [3, 7]
 * }
 * ```
 */
export async function gpuReduceRows(
  d: KernelDispatcher,
  input: GpuInput,
  options: GpuReduceRowsOptions,
): Promise<RowMoments> {
  const { shape, strategy = "workgroup" } = options;
  const [rows, width] = shape;
  checkLength(input, rows * width, `${rows} rows of ${width}`);
  const out = emptyMoments(rows, width);
  if (rows === 0 || width === 0) return out;
  const { limits } = d.gpu;
  const slack = Math.max(0, limits.alignment - 4);
  const maxValues = Math.max(1, Math.floor((limits.maxBindingBytes - slack) / 4));
  // Serial: one thread per (row, chunk) (no barriers; best on CPU-backed adapters such as
  // llvmpipe). Workgroup: 256 threads per (row, chunk) with tree reductions (best on GPUs).
  const serial = strategy === "serial";
  const small = serial || (width <= SMALL_WIDTH && width <= maxValues);
  const chunk = serial
    ? Math.min(width, SERIAL_CHUNK, maxValues)
    : small
    ? width
    : Math.min(CHUNK, maxValues);
  const cpr = Math.ceil(width / chunk);
  const units: UnitLayout = {
    count: rows * cpr,
    start: (u) => Math.floor(u / cpr) * width + (u % cpr) * chunk,
    end: (u) => Math.floor(u / cpr) * width + Math.min(width, (u % cpr + 1) * chunk),
  };
  const threadsPerGroup = small ? 64 : 1;
  const parts = await d.run({
    file: "reduce_rows.wgsl",
    entry: small ? "reduce_small" : "reduce_chunks",
    input,
    units,
    outBytesPerUnit: PARTIAL_BYTES,
    unitsPerGroup: threadsPerGroup,
    params: (seg, bound, groupsX) =>
      new Uint32Array([
        width,
        chunk,
        cpr,
        seg.u0,
        seg.u1 - seg.u0,
        Math.floor(seg.u0 / cpr),
        seg.u0 % cpr,
        bound.shift,
        groupsX,
        0,
        0,
        0,
      ]),
  });
  mergeRowPartials(parts, out, cpr);
  return out;
}

/** Words of one `Partial` (see `reduce_rows.wgsl`): u32 counts, then f32 values. */
const W = { n: 0, zeros: 1, bad: 2, mean: 3, sd: 4, sd2: 5, min: 6, max: 7 } as const;

/**
 * Each accumulator from one chunk's partial (`nb` finite values; `sd` = sum(x - mean)).
 * `finiteOnly`: undefined without finite values (the accumulator's empty value is used then).
 */
const FROM_PARTIAL: {
  readonly [K in AccumulatorName]: {
    read(u: Uint32Array, f: Float32Array, o: number, nb: number): number;
    finiteOnly: boolean;
  };
} = {
  // Corrected two-pass: sum = n * mean + sd and m2 = sd2 - sd^2 / n, in f64.
  sum: { read: (_u, f, o, nb) => nb * f[o + W.mean] + f[o + W.sd], finiteOnly: true },
  m2: {
    read: (_u, f, o, nb) => Math.max(0, f[o + W.sd2] - f[o + W.sd] * f[o + W.sd] / nb),
    finiteOnly: true,
  },
  min: { read: (_u, f, o) => f[o + W.min], finiteOnly: true },
  max: { read: (_u, f, o) => f[o + W.max], finiteOnly: true },
  zeros: { read: (u, _f, o) => u[o + W.zeros], finiteOnly: false },
  nonfinite: { read: (u, _f, o) => u[o + W.bad], finiteOnly: false },
};

/** Merge per-chunk partials (f32, corrected two-pass) into per-row moments in f64. */
function mergeRowPartials(bytes: Uint8Array, out: RowMoments, cpr: number): void {
  const u = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const f = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const part = emptyPart();
  for (let r = 0; r < out.rows; r++) {
    const acc = emptyMerged();
    for (let c = 0; c < cpr; c++) {
      const o = (r * cpr + c) * (PARTIAL_BYTES / 4);
      const nb = u[o + W.n];
      for (const k of ACCUMULATOR_NAMES) {
        const p = FROM_PARTIAL[k];
        part[k] = nb === 0 && p.finiteOnly ? ACCUMULATORS[k].empty : p.read(u, f, o, nb);
      }
      part.count = nb + part.nonfinite;
      mergePart(acc, part);
    }
    for (const k of ACCUMULATOR_NAMES) out[k][r] = acc[k];
  }
}
