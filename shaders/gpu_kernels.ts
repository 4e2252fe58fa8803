/**
 * The WGSL kernels, dispatched: per-run moments, fixed-edge histograms, spatial maps over
 * channels and colormapped grids, on host arrays or on buffers that already live on the device.
 *
 * Inputs are either a `Float32Array` (uploaded once per call; use {@linkcode GpuKernels.upload}
 * to upload once for several kernels) or a {@linkcode GpuTensor}: a storage buffer on the same
 * device, e.g. an onnxruntime-web output kept on the GPU. Large inputs are split into dispatches
 * that respect the device's binding and workgroup limits (see `plan.ts`). Only small results
 * (per-run partials, bin counts, maps, RGBA) are read back; {@linkcode GpuKernels.bytesReadBack}
 * counts them.
 *
 * Partials are computed in f32 on the GPU (corrected two-pass per chunk) and merged in f64 on the
 * host, so that results agree with the f64 CPU references in `analysis/`.
 *
 * @module
 */

import { emptyMoments, type RowMoments } from "../stats/moments.ts";
import { type Histogram, MAX_BINS } from "../stats/histogram.ts";
import type { SpatialMaps } from "../stats/spatial.ts";
import {
  type ColorizeOptions,
  colormapWords,
  NAN_COLOR,
  rowNormalizations,
} from "../render/colormap.ts";
import { type GpuContext, pipeline } from "./gpu_context.ts";
export type { RowMoments } from "../stats/moments.ts";
export type { Histogram } from "../stats/histogram.ts";
export type { SpatialMaps } from "../stats/spatial.ts";
export type { ColorizeOptions } from "../render/colormap.ts";
import { alignUp, grid2d, planSegments, type Segment, type UnitLayout } from "./plan.ts";

/** A tensor already in a storage buffer on the kernels' device. */
export interface GpuTensor {
  /** The buffer (needs STORAGE usage, or COPY_SRC so that it can be copied on the device). */
  buffer: GPUBuffer;
  /** Byte offset of the first value (a multiple of 4). */
  byteOffset?: number;
  /** Number of f32 values. */
  length: number;
}

/** A kernel input: host values or a device tensor. */
export type GpuInput = Float32Array | GpuTensor;

/** Values per row below which `reduce_small` (one thread per row) is used. */
const SMALL_WIDTH = 64;
/** Values per work item of `reduce_chunks` (256 threads x 16). */
const CHUNK = 4096;
/** Values per thread of `reduce_small` in the serial strategy. */
const SERIAL_CHUNK = 1024;
/** Values per histogram workgroup. */
const HIST_BLOCK = 4096;
const PARTIAL_BYTES = 32;
const PARAMS_BYTES = 48;

interface Bound {
  buffer: GPUBuffer;
  offset: number;
  size: number;
  shift: number;
}

interface Source {
  bind(seg: Segment): Bound;
  /** Host sources upload each segment before its dispatch; each then needs its own submit. */
  prepare?(seg: Segment): void;
  release(): void;
}

interface RunJob {
  file: string;
  entry: string;
  input: GpuInput;
  units: UnitLayout;
  outBytesPerUnit: number;
  unitsPerGroup: number;
  params: (seg: Segment, bound: Bound, groupsX: number) => Uint32Array;
  exactOutput?: (seg: Segment) => number;
  fixedOutput?: GPUBuffer;
  extra?: GPUBindGroupEntry[];
  outBinding?: number;
  paramsBinding?: number;
}

/**
 * Kernels on one device. Pipelines are compiled once per device and cached.
 *
 * @example Usage
 * ```ts ignore
 * import { openGpu } from "./gpu_context.ts";
 * import { GpuKernels } from "./gpu_kernels.ts";
 * const gpu = await openGpu();
 * if (!("reason" in gpu)) {
 *   const k = new GpuKernels(gpu);
 *   const m = await k.reduceRows(new Float32Array([1, 2, 3, 4]), [2, 2]);
 *   console.log(m.sum); // Float64Array [3, 7]
 * }
 * ```
 */
export class GpuKernels {
  /** The device context. */
  readonly gpu: GpuContext;
  /** Bytes copied from the device to the host so far. */
  bytesReadBack = 0;
  /** Bytes uploaded from the host so far. */
  bytesUploaded = 0;
  /** Compute dispatches issued so far (more than one per call when a tensor is split). */
  dispatches = 0;
  #luts = new Map<string, GPUBuffer>();
  #queue: Promise<unknown> = Promise.resolve();

  /**
   * How `reduceRows` spreads a row over threads: `workgroup` (256 threads per chunk of 4096
   * values, tree reductions) or `serial` (one thread per chunk of 1024 values). The default is
   * `serial` on a software adapter, where the bench shows it 5-10x faster, else `workgroup`.
   */
  readonly strategy: "workgroup" | "serial";

  /** Kernels on the device of `gpu`. */
  constructor(gpu: GpuContext, options: { strategy?: "workgroup" | "serial" } = {}) {
    this.gpu = gpu;
    this.strategy = options.strategy ?? (gpu.adapter.isFallbackAdapter ? "serial" : "workgroup");
  }

  /**
   * Upload host values once into a storage buffer, to run several kernels on them.
   * The caller destroys `tensor.buffer` when done.
   */
  upload(data: Float32Array): GpuTensor {
    const { device, limits } = this.gpu;
    if (data.byteLength > limits.maxBufferBytes) {
      throw new RangeError(
        `${data.byteLength} bytes exceed the device's ${limits.maxBufferBytes}-byte buffer ` +
          `limit: pass the Float32Array itself, which is uploaded piece by piece`,
      );
    }
    const buffer = device.createBuffer({
      label: "fi-upload",
      size: alignUp(Math.max(4, data.byteLength), 4),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
    });
    device.queue.writeBuffer(
      buffer,
      0,
      data.buffer as ArrayBuffer,
      data.byteOffset,
      data.byteLength,
    );
    this.bytesUploaded += data.byteLength;
    return { buffer, byteOffset: 0, length: data.length };
  }

  /**
   * Moments of `rows` runs of `width` values (see `stats/moments.ts` `reduceRows`).
   */
  async reduceRows(
    input: GpuInput,
    shape: readonly [rows: number, width: number],
  ): Promise<RowMoments> {
    const [rows, width] = shape;
    checkLength(input, rows * width, `${rows} rows of ${width}`);
    const out = emptyMoments(rows, width);
    if (rows === 0 || width === 0) return out;
    const { limits } = this.gpu;
    const slack = Math.max(0, limits.alignment - 4);
    const maxValues = Math.max(1, Math.floor((limits.maxBindingBytes - slack) / 4));
    // Serial: one thread per (row, chunk) (no barriers; best on CPU-backed adapters such as
    // llvmpipe). Workgroup: 256 threads per (row, chunk) with tree reductions (best on GPUs).
    const serial = this.strategy === "serial";
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
    const parts = await this.#run({
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

  /**
   * Count the values into the fixed bins of `edges` (see `stats/histogram.ts`).
   */
  async histogram(input: GpuInput, edges: Float32Array): Promise<Histogram> {
    const nb = edges.length - 1;
    if (nb < 1 || nb > MAX_BINS) {
      throw new RangeError(`histogram needs 2..${MAX_BINS + 1} edges, got ${edges.length}`);
    }
    const { device } = this.gpu;
    const count = inputLength(input);
    const block = Math.max(1, Math.min(HIST_BLOCK, this.#maxValuesPerBinding()));
    const edgeBuf = device.createBuffer({
      label: "fi-hist-edges",
      size: alignUp(edges.byteLength, 4),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(
      edgeBuf,
      0,
      edges.buffer as ArrayBuffer,
      edges.byteOffset,
      edges.byteLength,
    );
    const counts = device.createBuffer({
      label: "fi-hist-counts",
      size: alignUp((nb + 3) * 4, 16),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    try {
      const raw = await this.#run({
        file: "histogram.wgsl",
        entry: "histogram",
        input,
        units: {
          count: Math.ceil(count / block),
          start: (u) => u * block,
          end: (u) => Math.min(count, (u + 1) * block),
        },
        outBytesPerUnit: 0,
        unitsPerGroup: 1,
        fixedOutput: counts,
        extra: [{ binding: 1, resource: { buffer: edgeBuf } }],
        outBinding: 2,
        paramsBinding: 3,
        params: (seg, bound, groupsX) =>
          new Uint32Array([seg.e1 - seg.e0, bound.shift, block, nb, groupsX, 0, 0, 0]),
      });
      const c = new Uint32Array(raw.buffer, raw.byteOffset, nb + 3);
      return {
        edges,
        counts: Float64Array.from(c.subarray(0, nb)),
        below: c[nb],
        above: c[nb + 1],
        nonfinite: c[nb + 2],
      };
    } finally {
      edgeBuf.destroy();
      counts.destroy();
    }
  }

  /**
   * Mean, std and max over channels per position of `frames` (C, H*W) frames
   * (see `stats/spatial.ts`).
   */
  async spatialMaps(
    input: GpuInput,
    shape: readonly [frames: number, channels: number, hw: number],
  ): Promise<SpatialMaps> {
    const [frames, channels, hw] = shape;
    checkLength(input, frames * channels * hw, `spatial maps of (${frames}, ${channels}, ${hw})`);
    const { limits } = this.gpu;
    const slack = Math.max(0, limits.alignment - 4);
    const fit = Math.floor((limits.maxBindingBytes - slack) / (hw * 4));
    if (fit < 1) {
      throw new RangeError(
        `one ${hw}-value channel map exceeds the ${limits.maxBindingBytes}-byte binding limit`,
      );
    }
    const group = Math.min(channels, fit);
    const gpf = Math.ceil(channels / group);
    const result: SpatialMaps = {
      frames,
      hw,
      mean: new Float32Array(frames * hw),
      std: new Float32Array(frames * hw),
      max: new Float32Array(frames * hw),
    };
    if (frames * hw === 0) return result;
    if (channels === 0) {
      result.mean.fill(NaN), result.std.fill(NaN), result.max.fill(NaN);
      return result;
    }
    const parts = await this.#run({
      file: "spatial_maps.wgsl",
      entry: "spatial_maps",
      input,
      units: {
        count: frames * gpf,
        start: (u) => (Math.floor(u / gpf) * channels + (u % gpf) * group) * hw,
        end: (u) =>
          (Math.floor(u / gpf) * channels + Math.min(channels, (u % gpf + 1) * group)) * hw,
      },
      outBytesPerUnit: hw * PARTIAL_BYTES,
      unitsPerGroup: 64 / hw,
      params: (seg, bound, groupsX) =>
        new Uint32Array([
          hw,
          channels,
          group,
          gpf,
          seg.u0,
          seg.u1 - seg.u0,
          Math.floor(seg.u0 / gpf),
          seg.u0 % gpf,
          bound.shift,
          groupsX,
          0,
          0,
        ]),
    });
    mergeSpatialPartials(parts, result, gpf);
    return result;
  }

  /**
   * Colormapped RGBA of `rows` maps of `width` values, each normalised to its own range
   * (see `render/colormap.ts` `colorizeRows`; the bytes are identical).
   */
  async colorize(
    input: GpuInput,
    shape: readonly [rows: number, width: number],
    options: ColorizeOptions = {},
  ): Promise<Uint8ClampedArray> {
    const [rows, width] = shape;
    checkLength(input, rows * width, `${rows} maps of ${width} values`);
    const total = rows * width;
    if (total === 0) return new Uint8ClampedArray(0);
    let ranges = options.ranges;
    if (!ranges && (options.min === undefined || options.max === undefined)) {
      const m = await this.reduceRows(input, shape);
      ranges = {
        min: Array.from(m.min, (v, r) => options.min ?? (m.max[r] >= v ? v : NaN)),
        max: Array.from(m.max, (v, r) => options.max ?? (v >= m.min[r] ? v : NaN)),
      };
    }
    const norms = rowNormalizations(new Float32Array(0), shape, { ...options, ranges });
    const normData = new Float32Array(rows * 2);
    norms.forEach((n, r) => (normData[2 * r] = n.lo, normData[2 * r + 1] = n.scale));
    const { device } = this.gpu;
    const normBuf = device.createBuffer({
      label: "fi-colorize-norms",
      size: normData.byteLength,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(normBuf, 0, normData);
    const nan = options.nanColor ?? NAN_COLOR;
    // Units of `block` values; a workgroup colours 256 values.
    const block = Math.max(1, Math.min(256, this.#maxValuesPerBinding()));
    const nanRgba = (nan[0] | (nan[1] << 8) | (nan[2] << 16) | (255 << 24)) >>> 0;
    try {
      const words = await this.#run({
        file: "colorize.wgsl",
        entry: "colorize",
        input,
        units: {
          count: Math.ceil(total / block),
          start: (u) => u * block,
          end: (u) => Math.min(total, (u + 1) * block),
        },
        outBytesPerUnit: block * 4,
        unitsPerGroup: 256 / block,
        exactOutput: (seg) => (seg.e1 - seg.e0) * 4,
        extra: [
          { binding: 1, resource: { buffer: normBuf } },
          { binding: 2, resource: { buffer: this.#lut(options.colormap ?? "viridis") } },
        ],
        outBinding: 3,
        paramsBinding: 4,
        params: (seg, bound, groupsX) =>
          new Uint32Array([seg.e1 - seg.e0, bound.shift, seg.e0, width, nanRgba, groupsX, 0, 0]),
      });
      return new Uint8ClampedArray(words.buffer, words.byteOffset, total * 4);
    } finally {
      normBuf.destroy();
    }
  }

  /** Release cached buffers (the device itself is destroyed only if this context owns it). */
  destroy(): void {
    for (const b of this.#luts.values()) b.destroy();
    this.#luts.clear();
    if (this.gpu.owned) this.gpu.device.destroy();
  }

  #maxValuesPerBinding(): number {
    const { maxBindingBytes, alignment } = this.gpu.limits;
    return Math.floor((maxBindingBytes - Math.max(0, alignment - 4)) / 4);
  }

  #lut(name: NonNullable<ColorizeOptions["colormap"]>): GPUBuffer {
    let buf = this.#luts.get(name);
    if (!buf) {
      buf = this.gpu.device.createBuffer({
        label: `fi-lut-${name}`,
        size: 1024,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      });
      this.gpu.device.queue.writeBuffer(buf, 0, colormapWords(name).buffer as ArrayBuffer);
      this.#luts.set(name, buf);
    }
    return buf;
  }

  #source(input: GpuInput, maxSegmentBytes: number): Source {
    const { device } = this.gpu;
    if (input instanceof Float32Array) {
      const stage = device.createBuffer({
        label: "fi-stage",
        size: alignUp(Math.max(4, Math.min(maxSegmentBytes, input.byteLength)), 4),
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      });
      return {
        prepare: (seg) => {
          const bytes = (seg.e1 - seg.e0) * 4;
          device.queue.writeBuffer(
            stage,
            0,
            input.buffer as ArrayBuffer,
            input.byteOffset + seg.e0 * 4,
            bytes,
          );
          this.bytesUploaded += bytes;
        },
        bind: (seg) => ({
          buffer: stage,
          offset: 0,
          size: alignUp(Math.max(4, (seg.e1 - seg.e0) * 4), 4),
          shift: 0,
        }),
        release: () => stage.destroy(),
      };
    }
    const base = input.byteOffset ?? 0;
    if (base % 4 !== 0) throw new RangeError(`tensor byte offset ${base} is not a multiple of 4`);
    let buffer = input.buffer;
    let copy: GPUBuffer | undefined;
    if (!(buffer.usage & GPUBufferUsage.STORAGE)) {
      if (!(buffer.usage & GPUBufferUsage.COPY_SRC)) {
        throw new RangeError("the tensor's GPU buffer has neither STORAGE nor COPY_SRC usage");
      }
      // Copy on the device (never through the host) into a storage buffer.
      copy = device.createBuffer({
        label: "fi-storage-copy",
        size: alignUp(input.length * 4, 4),
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      });
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(buffer, base, copy, 0, input.length * 4);
      device.queue.submit([enc.finish()]);
      buffer = copy;
    }
    const byteBase = copy ? 0 : base;
    const align = this.gpu.limits.alignment;
    return {
      bind: (seg) => {
        const first = byteBase + seg.e0 * 4;
        const offset = Math.floor(first / align) * align;
        return {
          buffer,
          offset,
          size: alignUp(Math.max(4, byteBase + seg.e1 * 4 - offset), 4),
          shift: (first - offset) / 4,
        };
      },
      release: () => copy?.destroy(),
    };
  }

  /** Run one job under validation and out-of-memory error scopes, one job at a time. */
  #run(job: RunJob): Promise<Uint8Array> {
    const next = this.#queue.then(async () => {
      const { device } = this.gpu;
      device.pushErrorScope("out-of-memory");
      device.pushErrorScope("validation");
      let result: Uint8Array | undefined;
      let failure: unknown;
      try {
        result = await this.#runInner(job);
      } catch (err) {
        failure = err;
      }
      const validation = await device.popErrorScope();
      const oom = await device.popErrorScope();
      const gpuError = validation ?? oom;
      if (gpuError) throw new Error(`WebGPU kernel ${job.entry} failed: ${gpuError.message}`);
      if (failure !== undefined) throw failure;
      return result!;
    });
    this.#queue = next.catch(() => {});
    return next;
  }

  async #runInner(job: RunJob): Promise<Uint8Array> {
    const { device, limits } = this.gpu;
    const maxGroups = limits.maxWorkgroupsPerDimension ** 2;
    const segments = planSegments(job.units, {
      maxBindingBytes: limits.maxBindingBytes,
      alignment: limits.alignment,
      outBytesPerUnit: job.outBytesPerUnit,
      maxUnits: Math.max(1, Math.floor(maxGroups * job.unitsPerGroup)),
    });
    const pipe = await pipeline(device, job.file, job.entry);
    const maxSeg = Math.max(...segments.map((s) => (s.e1 - s.e0) * 4));
    const source = this.#source(job.input, maxSeg);
    // Output regions, one per segment at aligned offsets (or one shared fixed buffer).
    const outSizes = segments.map((s) =>
      job.exactOutput ? job.exactOutput(s) : (s.u1 - s.u0) * job.outBytesPerUnit
    );
    const outOffsets: number[] = [];
    let outTotal = 0;
    for (const size of outSizes) {
      outOffsets.push(outTotal);
      outTotal = alignUp(outTotal + size, limits.alignment);
    }
    let out = job.fixedOutput;
    const ownOut = !out;
    if (!out) {
      if (outTotal > limits.maxBufferBytes) {
        throw new RangeError(`kernel output of ${outTotal} bytes exceeds the buffer limit`);
      }
      out = device.createBuffer({
        label: `fi-out-${job.entry}`,
        size: Math.max(16, outTotal),
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
      });
    }
    const uni = device.createBuffer({
      label: `fi-params-${job.entry}`,
      size: segments.length * limits.uniformAlignment,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    const lastEnd = outOffsets[segments.length - 1] + outSizes[segments.length - 1];
    const readSize = job.fixedOutput
      ? job.fixedOutput.size
      : alignUp(job.exactOutput ? outSizes.reduce((a, b) => a + b, 0) : lastEnd, 4);
    const read = device.createBuffer({
      label: `fi-read-${job.entry}`,
      size: alignUp(Math.max(16, readSize), 16),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    try {
      if (job.fixedOutput) {
        const enc = device.createCommandEncoder();
        enc.clearBuffer(job.fixedOutput);
        device.queue.submit([enc.finish()]);
      }
      let enc = device.createCommandEncoder({ label: job.entry });
      let packed = 0;
      for (let i = 0; i < segments.length; i++) {
        const seg = segments[i];
        if (source.prepare) {
          source.prepare(seg);
        }
        const bound = source.bind(seg);
        const threads = seg.u1 - seg.u0;
        const groups = Math.ceil(threads / job.unitsPerGroup);
        const [gx, gy] = grid2d(groups, limits.maxWorkgroupsPerDimension);
        const params = job.params(seg, bound, gx);
        const padded = new Uint8Array(PARAMS_BYTES);
        padded.set(new Uint8Array(params.buffer, params.byteOffset, params.byteLength));
        device.queue.writeBuffer(uni, i * limits.uniformAlignment, padded);
        const entries: GPUBindGroupEntry[] = [
          {
            binding: 0,
            resource: { buffer: bound.buffer, offset: bound.offset, size: bound.size },
          },
          {
            binding: job.outBinding ?? 1,
            resource: job.fixedOutput ? { buffer: out } : {
              buffer: out,
              offset: outOffsets[i],
              size: Math.max(4, alignUp(outSizes[i], 4)),
            },
          },
          {
            binding: job.paramsBinding ?? 2,
            resource: { buffer: uni, offset: i * limits.uniformAlignment, size: PARAMS_BYTES },
          },
          ...(job.extra ?? []),
        ];
        const bindGroup = device.createBindGroup({
          layout: pipe.getBindGroupLayout(0),
          entries,
        });
        const pass = enc.beginComputePass();
        pass.setPipeline(pipe);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(gx, gy);
        this.dispatches++;
        pass.end();
        if (job.exactOutput) {
          enc.copyBufferToBuffer(out, outOffsets[i], read, packed, alignUp(outSizes[i], 4));
          packed += outSizes[i];
        }
        if (source.prepare && i < segments.length - 1) {
          // The staging buffer is rewritten for the next segment: submit this one first.
          device.queue.submit([enc.finish()]);
          enc = device.createCommandEncoder({ label: job.entry });
        }
      }
      if (!job.exactOutput) enc.copyBufferToBuffer(out, 0, read, 0, readSize);
      device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ, 0, readSize);
      const bytes = new Uint8Array(read.getMappedRange(0, readSize).slice(0));
      read.unmap();
      this.bytesReadBack += readSize;
      if (job.exactOutput || job.fixedOutput) return bytes;
      // Pack the per-segment regions contiguously.
      const packedOut = new Uint8Array(outSizes.reduce((a, b) => a + b, 0));
      let at = 0;
      for (let i = 0; i < segments.length; i++) {
        packedOut.set(bytes.subarray(outOffsets[i], outOffsets[i] + outSizes[i]), at);
        at += outSizes[i];
      }
      return packedOut;
    } finally {
      source.release();
      uni.destroy();
      read.destroy();
      if (ownOut) out.destroy();
    }
  }
}

function inputLength(input: GpuInput): number {
  return input instanceof Float32Array ? input.length : input.length;
}

function checkLength(input: GpuInput, need: number, what: string): void {
  const have = inputLength(input);
  if (need > have) throw new RangeError(`${what} need ${need} values, got ${have}`);
  if (need >= 2 ** 32) throw new RangeError(`${what}: more than 2^32 values in one call`);
}

/** Merge per-chunk partials (f32, corrected two-pass) into per-row moments in f64. */
function mergeRowPartials(bytes: Uint8Array, out: RowMoments, cpr: number): void {
  const u = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const f = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  for (let r = 0; r < out.rows; r++) {
    let n = 0, mean = 0, m2 = 0, sum = 0, zeros = 0, bad = 0;
    let mn = Infinity, mx = -Infinity;
    for (let c = 0; c < cpr; c++) {
      const o = (r * cpr + c) * 8;
      const nb = u[o];
      zeros += u[o + 1];
      bad += u[o + 2];
      if (nb === 0) continue;
      const sd = f[o + 4];
      const sumB = nb * f[o + 3] + sd;
      const m2B = Math.max(0, f[o + 5] - sd * sd / nb);
      if (f[o + 6] < mn) mn = f[o + 6];
      if (f[o + 7] > mx) mx = f[o + 7];
      const meanB = sumB / nb;
      const tot = n + nb;
      const d = meanB - mean;
      mean += d * nb / tot;
      m2 += m2B + d * d * n * nb / tot;
      n = tot;
      sum += sumB;
    }
    out.sum[r] = sum;
    out.m2[r] = m2;
    out.min[r] = mn;
    out.max[r] = mx;
    out.zeros[r] = zeros;
    out.nonfinite[r] = bad;
  }
}

/** Merge per-(frame, channel group) partials into spatial maps in f64. */
function mergeSpatialPartials(bytes: Uint8Array, out: SpatialMaps, gpf: number): void {
  const u = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const f = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const hw = out.hw;
  for (let fr = 0; fr < out.frames; fr++) {
    for (let p = 0; p < hw; p++) {
      let n = 0, mean = 0, m2 = 0, mx = -Infinity;
      for (let g = 0; g < gpf; g++) {
        const o = ((fr * gpf + g) * hw + p) * 8;
        const nb = u[o];
        if (nb === 0) continue;
        const sd = f[o + 2];
        const meanB = f[o + 1] + sd / nb;
        const m2B = Math.max(0, f[o + 3] - sd * sd / nb);
        if (f[o + 4] > mx) mx = f[o + 4];
        const tot = n + nb;
        const d = meanB - mean;
        mean += d * nb / tot;
        m2 += m2B + d * d * n * nb / tot;
        n = tot;
      }
      const i = fr * hw + p;
      out.mean[i] = n ? mean : NaN;
      out.std[i] = n ? Math.sqrt(m2 / n) : NaN;
      out.max[i] = n ? mx : NaN;
    }
  }
}

/**
 * Copy a device tensor back to the host (the full readback the kernels avoid).
 *
 * @example Usage
 * ```ts ignore
 * import { downloadTensor } from "./gpu_kernels.ts";
 * const values = await downloadTensor(device, { buffer, length: 1024 });
 * ```
 */
export async function downloadTensor(device: GPUDevice, tensor: GpuTensor): Promise<Float32Array> {
  const bytes = tensor.length * 4;
  const read = device.createBuffer({
    label: "fi-download",
    size: alignUp(Math.max(4, bytes), 4),
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(tensor.buffer, tensor.byteOffset ?? 0, read, 0, bytes);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ, 0, bytes);
    const out = new Float32Array(read.getMappedRange(0, bytes).slice(0));
    read.unmap();
    return out;
  } finally {
    read.destroy();
  }
}
