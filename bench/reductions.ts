/**
 * Throughput of the WGSL kernels next to the CPU references, on the same tensors.
 *
 * {@linkcode benchReductions} times, per tensor shape and kernel: the CPU reference, the GPU
 * kernel on host data (upload + kernel + readback of the results), and the GPU kernel on data
 * already on the device (as with onnxruntime-web's `gpu-buffer` outputs). Throughput is input
 * bytes per second (GB/s = 1e9 B/s). It also reports the bytes a statistics pass reads back
 * versus a full readback of the tensor.
 *
 * Run on its own: `deno run --allow-read bench/reductions.ts [--quick]`.
 *
 * @module
 */

import { reduceRows } from "../stats/moments.ts";
import { histogram, histogramEdges } from "../stats/histogram.ts";
import { spatialMaps } from "../stats/spatial.ts";
import { openGpu } from "../shaders/gpu_context.ts";
import { GpuKernels } from "../shaders/gpu_kernels.ts";
import { timeIt } from "./_timing.ts";

/** One measured kernel on one tensor. */
export interface BenchRow {
  /** Kernel: `reduce_rows`, `histogram` or `spatial_maps`. */
  kernel: string;
  /** Tensor shape (frames, channels, H, W). */
  shape: number[];
  /** Input bytes. */
  bytes: number;
  /** CPU reference throughput, GB/s. */
  cpuGBs: number;
  /** GPU kernel on host data (upload + kernel + readback), GB/s; null without an adapter. */
  gpuHostGBs: number | null;
  /** GPU kernel on data already on the device (kernel + readback), GB/s; null without one. */
  gpuDeviceGBs: number | null;
  /** Bytes the GPU path read back for this kernel. */
  bytesReadBack: number | null;
}

/** Result of {@linkcode benchReductions}. */
export interface BenchReport {
  /** Adapter description, or null without an adapter. */
  adapter: string | null;
  /** Whether the adapter is a software one. */
  fallbackAdapter: boolean;
  /** Why there is no GPU column, when there is none. */
  reason?: string;
  /** Measurements. */
  rows: BenchRow[];
  /** Statistics readback per tensor versus a full readback (bytes). */
  readback: { shape: number[]; statistics: number; full: number }[];
}

/** Options of {@linkcode benchReductions}. */
export interface BenchOptions {
  /** Tensor shapes (frames, channels, H, W); default: ResNet-like activations of a clip batch. */
  shapes?: number[][];
  /** Kernels to time (default all three). */
  kernels?: ("reduce_rows" | "histogram" | "spatial_maps")[];
  /** Minimum seconds per measurement (default 0.3); each runs at least twice. */
  minSeconds?: number;
}

/** Default shapes: layer1..layer4 of a ResNet-18 on a 16-frame batch at 224 px. */
export const DEFAULT_SHAPES: number[][] = [
  [16, 64, 56, 56],
  [16, 128, 28, 28],
  [16, 256, 14, 14],
  [16, 512, 7, 7],
];

/**
 * Measure the kernels and the CPU references on the same tensors.
 *
 * @example Usage
 * ```ts ignore
 * import { benchReductions } from "./reductions.ts";
 * const report = await benchReductions({ shapes: [[4, 16, 28, 28]], minSeconds: 0.05 });
 * console.log(report.rows[0].cpuGBs, report.rows[0].gpuDeviceGBs);
 * ```
 */
export async function benchReductions(options: BenchOptions = {}): Promise<BenchReport> {
  const shapes = options.shapes ?? DEFAULT_SHAPES;
  const which = options.kernels ?? ["reduce_rows", "histogram", "spatial_maps"];
  const minSeconds = options.minSeconds ?? 0.3;
  const opened = await openGpu();
  const k = "reason" in opened ? undefined : new GpuKernels(opened);
  const report: BenchReport = {
    adapter: k ? k.gpu.adapter.description : null,
    fallbackAdapter: k ? k.gpu.adapter.isFallbackAdapter : false,
    reason: "reason" in opened ? opened.reason : undefined,
    rows: [],
    readback: [],
  };
  const edges = histogramEdges(-4, 4, { bins: 64 });
  try {
    for (const shape of shapes) {
      const [f, c, h, w] = shape;
      const n = f * c * h * w;
      const data = new Float32Array(n);
      let s = 12345;
      for (let i = 0; i < n; i++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        const v = (s / 4294967296) * 4 - 1.5;
        data[i] = v > 0 ? v : 0; // ReLU-like, many exact zeros
      }
      const rows = f * c, width = h * w;
      const dev = k?.upload(data);
      try {
        const jobs: Record<
          string,
          {
            cpu: () => unknown;
            gpu: (x: typeof data | NonNullable<typeof dev>) => Promise<unknown>;
          }
        > = {
          reduce_rows: {
            cpu: () => reduceRows(data, rows, width),
            gpu: (x) => k!.reduceRows(x, [rows, width]),
          },
          histogram: { cpu: () => histogram(data, edges), gpu: (x) => k!.histogram(x, edges) },
          spatial_maps: {
            cpu: () => spatialMaps(data, [f, c, width]),
            gpu: (x) => k!.spatialMaps(x, [f, c, width]),
          },
        };
        for (const name of which) {
          const job = jobs[name];
          const cpu = await timeIt(job.cpu, minSeconds);
          let gpuHost: number | null = null, gpuDev: number | null = null, rb: number | null = null;
          if (k && dev) {
            gpuHost = await timeIt(() => job.gpu(data), minSeconds);
            gpuDev = await timeIt(() => job.gpu(dev), minSeconds);
            const before = k.bytesReadBack;
            await job.gpu(dev);
            rb = k.bytesReadBack - before;
          }
          const gb = (sec: number | null) => sec === null ? null : n * 4 / sec / 1e9;
          report.rows.push({
            kernel: name,
            shape,
            bytes: n * 4,
            cpuGBs: gb(cpu)!,
            gpuHostGBs: gb(gpuHost),
            gpuDeviceGBs: gb(gpuDev),
            bytesReadBack: rb,
          });
        }
        report.readback.push({ shape, statistics: rows * 32, full: n * 4 });
      } finally {
        dev?.buffer.destroy();
      }
    }
  } finally {
    k?.destroy();
  }
  return report;
}

/**
 * Format a report as a plain-text table.
 *
 * @example Usage
 * ```ts
 * import { formatBench } from "./reductions.ts";
 * console.log(formatBench({ adapter: null, fallbackAdapter: false, rows: [], readback: [] }));
 * ```
 */
export function formatBench(report: BenchReport): string {
  const lines = [
    `adapter: ${report.adapter ?? `none (${report.reason ?? "no WebGPU"})`}` +
    (report.fallbackAdapter ? " [software fallback]" : ""),
    "",
    "kernel        shape                 MB      CPU GB/s  GPU host GB/s  GPU device GB/s",
  ];
  const f = (v: number | null) => v === null ? "-" : v.toFixed(3);
  for (const r of report.rows) {
    lines.push(
      `${r.kernel.padEnd(13)} ${`(${r.shape.join(",")})`.padEnd(20)} ` +
        `${(r.bytes / 1e6).toFixed(1).padStart(6)}  ${f(r.cpuGBs).padStart(9)}  ` +
        `${f(r.gpuHostGBs).padStart(13)}  ${f(r.gpuDeviceGBs).padStart(15)}`,
    );
  }
  lines.push("", "statistics readback per tensor (reduce_rows partials) vs full readback:");
  for (const r of report.readback) {
    lines.push(
      `  (${r.shape.join(",")}): ${r.statistics} B vs ${r.full} B ` +
        `(${(100 * r.statistics / r.full).toFixed(3)} %)`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const report = await benchReductions(
    quick ? { shapes: [[16, 16, 56, 56], [16, 128, 7, 7]], minSeconds: 0.1 } : {},
  );
  console.log(formatBench(report));
}
