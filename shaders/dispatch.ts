/**
 * The kernel dispatcher: runs one WGSL entry point over an input that may be split into several
 * dispatches (see `plan.ts`), under error scopes, one job at a time per device, and counts the
 * bytes moved. Each kernel (`reduce_rows.ts`, `histogram.ts`, `spatial_maps.ts`,
 * `colorize.ts`) builds a {@linkcode RunJob} and decodes what {@linkcode KernelDispatcher.run}
 * reads back.
 *
 * Inputs are either a `Float32Array` (uploaded segment by segment; use
 * {@linkcode KernelDispatcher.upload} to upload once for several kernels) or a
 * {@linkcode GpuTensor}: a storage buffer on the same device, e.g. an onnxruntime-web output kept
 * on the GPU. Only small results are read back; {@linkcode KernelDispatcher.bytesReadBack}
 * counts them.
 *
 * @module
 */

import { type GpuContext, pipeline } from "./gpu_context.ts";
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

const PARAMS_BYTES = 48;

/** The input binding of one segment. */
export interface Bound {
  /** The buffer bound. */
  buffer: GPUBuffer;
  /** Aligned byte offset of the binding. */
  offset: number;
  /** Byte size of the binding. */
  size: number;
  /** Values between the binding's start and the segment's first value. */
  shift: number;
}

interface Source {
  bind(seg: Segment): Bound;
  /** Host sources upload each segment before its dispatch; each then needs its own submit. */
  prepare?(seg: Segment): void;
  release(): void;
}

/** One kernel run: which entry point, over which units, with which bindings and parameters. */
export interface RunJob {
  /** The `.wgsl` file. */
  file: string;
  /** Its entry point. */
  entry: string;
  /** The values (binding 0). */
  input: GpuInput;
  /** The work units, in element order. */
  units: UnitLayout;
  /** Output bytes per unit (0 with `fixedOutput`). */
  outBytesPerUnit: number;
  /** Units per workgroup (may be fractional: units spanning several workgroups). */
  unitsPerGroup: number;
  /** The uniform parameters of one segment (at most 48 bytes). */
  params: (seg: Segment, bound: Bound, groupsX: number) => Uint32Array;
  /** Exact output bytes of a segment, when the output is read back packed. */
  exactOutput?: (seg: Segment) => number;
  /** One output buffer shared by every segment (cleared first), e.g. histogram counts. */
  fixedOutput?: GPUBuffer;
  /** More bindings. */
  extra?: GPUBindGroupEntry[];
  /** Binding of the output (default 1). */
  outBinding?: number;
  /** Binding of the parameters (default 2). */
  paramsBinding?: number;
}

/**
 * Runs kernel jobs on one device. Pipelines are compiled once per device and cached.
 *
 * @example Usage
 * ```ts ignore
 * import { openGpu } from "./gpu_context.ts";
 * import { KernelDispatcher } from "./dispatch.ts";
 * const gpu = await openGpu();
 * if (!("reason" in gpu)) {
 *   const d = new KernelDispatcher(gpu);
 *   const t = d.upload(new Float32Array([1, 2, 3, 4]));
 *   console.log(d.bytesUploaded); // 16
 *   t.buffer.destroy();
 * }
 * ```
 */
export class KernelDispatcher {
  /** The device context. */
  readonly gpu: GpuContext;
  /** Bytes copied from the device to the host so far. */
  bytesReadBack = 0;
  /** Bytes uploaded from the host so far. */
  bytesUploaded = 0;
  /** Compute dispatches issued so far (more than one per call when a tensor is split). */
  dispatches = 0;
  #cache = new Map<string, GPUBuffer>();
  #queue: Promise<unknown> = Promise.resolve();

  /** A dispatcher on the device of `gpu`. */
  constructor(gpu: GpuContext) {
    this.gpu = gpu;
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
   * A device buffer made once by `make` and kept under `key` until {@linkcode destroy}
   * (e.g. a colormap's lookup table).
   */
  cached(key: string, make: (device: GPUDevice) => GPUBuffer): GPUBuffer {
    let buf = this.#cache.get(key);
    if (!buf) {
      buf = make(this.gpu.device);
      this.#cache.set(key, buf);
    }
    return buf;
  }

  /** Release cached buffers (the device itself is destroyed only if this context owns it). */
  destroy(): void {
    for (const b of this.#cache.values()) b.destroy();
    this.#cache.clear();
    if (this.gpu.owned) this.gpu.device.destroy();
  }

  /** Most f32 values one storage binding can hold at any alignment. */
  maxValuesPerBinding(): number {
    const { maxBindingBytes, alignment } = this.gpu.limits;
    return Math.floor((maxBindingBytes - Math.max(0, alignment - 4)) / 4);
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
  run(job: RunJob): Promise<Uint8Array> {
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

/**
 * Number of values of a kernel input.
 *
 * @example Usage
 * ```ts
 * import { inputLength } from "./dispatch.ts";
 * console.log(inputLength(new Float32Array(3))); // 3
 * ```
 */
export function inputLength(input: GpuInput): number {
  return input instanceof Float32Array ? input.length : input.length;
}

/**
 * Throw when `input` holds fewer than `need` values (or `need` does not fit a u32 index).
 *
 * @example Usage
 * ```ts
 * import { checkLength } from "./dispatch.ts";
 * checkLength(new Float32Array(4), 4, "2 rows of 2"); // fine
 * ```
 */
export function checkLength(input: GpuInput, need: number, what: string): void {
  const have = inputLength(input);
  if (need > have) throw new RangeError(`${what} need ${need} values, got ${have}`);
  if (need >= 2 ** 32) throw new RangeError(`${what}: more than 2^32 values in one call`);
}

/**
 * Copy a device tensor back to the host (the full readback the kernels avoid).
 *
 * @example Usage
 * ```ts ignore
 * import { downloadTensor } from "./dispatch.ts";
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
