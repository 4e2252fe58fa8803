/**
 * The WGSL kernels against the CPU references, on the system's adapter (llvmpipe in CI).
 * Skips, saying so, when no WebGPU adapter exists.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert";
import { reduceRows, type RowMoments } from "../stats/moments.ts";
import { histogram, histogramEdges } from "../stats/histogram.ts";
import { type SpatialMaps, spatialMaps } from "../stats/spatial.ts";
import { colorizeRows } from "../render/colormap.ts";
import { createReducer, tensorInput } from "../shaders/reduce.ts";
import { type GpuContext, openGpu } from "../shaders/gpu_context.ts";
import { GpuKernels, type GpuTensor } from "../shaders/gpu_kernels.ts";
import { planSegments } from "../shaders/plan.ts";
import { prng } from "./helpers.ts";

const opened = await openGpu();
const gpu: GpuContext | undefined = "reason" in opened ? undefined : opened;
if (!gpu) console.log(`shaders_test: skipping GPU tests: ${(opened as { reason: string }).reason}`);
const kernels = gpu ? new GpuKernels(gpu) : undefined;
// Both reduce_rows strategies, whatever the adapter's default.
const strategies = gpu
  ? (["workgroup", "serial"] as const).map((strategy) => new GpuKernels(gpu, { strategy }))
  : [];
// Narrow limits on the same device: a 4 KiB binding and 3 workgroups per dimension.
const SMALL_BINDING = 4096;
const narrow = gpu
  ? new GpuKernels({
    ...gpu,
    owned: false,
    limits: { ...gpu.limits, maxBindingBytes: SMALL_BINDING, maxWorkgroupsPerDimension: 3 },
  }, { strategy: "workgroup" })
  : undefined;

function gpuTest(name: string, fn: (k: GpuKernels) => Promise<void>): void {
  Deno.test({
    name,
    ignore: !kernels,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () => fn(kernels!),
  });
}

/** Activation-like values: ReLU-ish with exact zeros, some negatives, offset. */
function randomTensor(n: number, seed: number, opts: { offset?: number; special?: boolean } = {}) {
  const r = prng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = r();
    out[i] = u < 0.2 ? 0 : (opts.offset ?? 0) + (r() * 2 - 0.4) * 3;
  }
  if (opts.special && n > 5) {
    for (let i = 0; i < Math.max(3, n / 97); i++) {
      const k = Math.floor(r() * n);
      out[k] = [NaN, Infinity, -Infinity][i % 3];
    }
  }
  return out;
}

function relErr(a: number, b: number): number {
  if (a === b) return 0;
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
}

function assertMomentsMatch(g: RowMoments, c: RowMoments, what: string): void {
  assertEquals(g.rows, c.rows);
  for (let r = 0; r < c.rows; r++) {
    const at = `${what} row ${r}`;
    assertEquals(g.zeros[r], c.zeros[r], `${at}: zeros`);
    assertEquals(g.nonfinite[r], c.nonfinite[r], `${at}: nonfinite`);
    assertEquals(g.min[r], c.min[r], `${at}: min`);
    assertEquals(g.max[r], c.max[r], `${at}: max`);
    const n = c.width - c.nonfinite[r];
    if (n === 0) {
      assertEquals([g.sum[r], g.m2[r]], [0, 0], `${at}: empty row`);
      continue;
    }
    // Rows whose finite values are all equal have m2 == 0 exactly on the CPU.
    assert(relErr(g.sum[r], c.sum[r]) <= 1e-5, `${at}: sum ${g.sum[r]} vs ${c.sum[r]}`);
    assert(relErr(g.sum[r] / n, c.sum[r] / n) <= 1e-5, `${at}: mean`);
    const tol = c.m2[r] === 0 ? 0 : 1e-5;
    assert(relErr(g.m2[r], c.m2[r]) <= tol, `${at}: m2 ${g.m2[r]} vs ${c.m2[r]}`);
    assert(
      relErr(Math.sqrt(g.m2[r] / n), Math.sqrt(c.m2[r] / n)) <= 1e-5,
      `${at}: std`,
    );
  }
}

function assertMapsMatch(g: SpatialMaps, c: SpatialMaps, what: string): void {
  for (let i = 0; i < c.mean.length; i++) {
    const at = `${what} position ${i}`;
    if (Number.isNaN(c.mean[i])) {
      assert(Number.isNaN(g.mean[i]) && Number.isNaN(g.std[i]) && Number.isNaN(g.max[i]), at);
      continue;
    }
    assertEquals(g.max[i], c.max[i], `${at}: max`);
    assert(relErr(g.mean[i], c.mean[i]) <= 1e-5, `${at}: mean ${g.mean[i]} vs ${c.mean[i]}`);
    assert(
      Math.abs(g.std[i] - c.std[i]) <= 1e-5 * Math.max(c.std[i], 1e-6 * Math.abs(c.mean[i])),
      `${at}: std ${g.std[i]} vs ${c.std[i]}`,
    );
  }
}

const REDUCE_CASES: { name: string; rows: number; width: number; data: Float32Array }[] = [
  { name: "7x13 maps", rows: 6, width: 7 * 13, data: randomTensor(6 * 91, 1) },
  { name: "1x1 maps", rows: 37, width: 1, data: randomTensor(37, 2) },
  { name: "512 channels of 3x3", rows: 2 * 512, width: 9, data: randomTensor(1024 * 9, 3) },
  { name: "all zeros", rows: 4, width: 129, data: new Float32Array(4 * 129) },
  { name: "NaN and Inf", rows: 9, width: 67, data: randomTensor(9 * 67, 4, { special: true }) },
  { name: "long rows (chunked)", rows: 3, width: 10007, data: randomTensor(30021, 5) },
  { name: "large offset", rows: 5, width: 300, data: randomTensor(1500, 6, { offset: 1000 }) },
  {
    name: "rows without finite values",
    rows: 3,
    width: 70,
    data: new Float32Array(210).map((_, i) => i < 70 ? NaN : i < 140 ? Infinity : 5),
  },
];

for (const c of REDUCE_CASES) {
  gpuTest(`reduce_rows matches the CPU reference: ${c.name}`, async () => {
    const cpu = reduceRows(c.data, c.rows, c.width);
    for (const k of strategies) {
      const what = `${c.name} (${k.strategy})`;
      assertMomentsMatch(await k.reduceRows(c.data, [c.rows, c.width]), cpu, what);
    }
  });
}

gpuTest("reduce_rows reads a device buffer at an offset in place", async (k) => {
  const rows = 11, width = 45;
  const data = randomTensor(rows * width, 7, { special: true });
  const pad = 13; // values before the tensor: a byte offset that is not binding-aligned
  const all = new Float32Array(pad + data.length + 5);
  all.set(data, pad);
  const t = k.upload(all);
  try {
    const before = k.bytesReadBack;
    const m = await k.reduceRows({ buffer: t.buffer, byteOffset: pad * 4, length: data.length }, [
      rows,
      width,
    ]);
    assertMomentsMatch(m, reduceRows(data, rows, width), "offset tensor");
    assertEquals(k.bytesReadBack - before, rows * 32, "only one 32-byte partial per row");
  } finally {
    t.buffer.destroy();
  }
});

gpuTest("WebGPU validation errors surface instead of returning zeros", async (k) => {
  const t = k.upload(new Float32Array(64).fill(1));
  t.buffer.destroy();
  let message = "";
  try {
    await k.reduceRows(t, [4, 16]);
  } catch (err) {
    message = (err as Error).message;
  }
  assert(/WebGPU kernel reduce_\w+ failed/.test(message), `got "${message}"`);
  // The kernels still work afterwards.
  const m = await k.reduceRows(new Float32Array([1, 2, 3, 4]), [2, 2]);
  assertEquals(Array.from(m.sum), [3, 7]);
});

gpuTest("tensors larger than the binding limit are split into many dispatches", async () => {
  const k = narrow!;
  const rows = 23, width = 517; // 47 KiB > 4 KiB binding; rows longer than a chunk
  const data = randomTensor(rows * width, 8, { special: true });
  assert(data.byteLength > 10 * SMALL_BINDING);
  const cpu = reduceRows(data, rows, width);
  const d0 = k.dispatches;
  assertMomentsMatch(await k.reduceRows(data, [rows, width]), cpu, "split host");
  assert(k.dispatches - d0 > 10, `expected many dispatches, got ${k.dispatches - d0}`);
  const serial = new GpuKernels(k.gpu, { strategy: "serial" });
  assertMomentsMatch(await serial.reduceRows(data, [rows, width]), cpu, "split host, serial");
  const t = k.upload(data);
  try {
    const dev: GpuTensor = { buffer: t.buffer, byteOffset: 0, length: data.length };
    assertMomentsMatch(await k.reduceRows(dev, [rows, width]), cpu, "split device");
    // Many short rows: more workgroups than a 3 x 3 grid holds in one dispatch.
    const short = randomTensor(2000, 9);
    assertMomentsMatch(await k.reduceRows(short, [400, 5]), reduceRows(short, 400, 5), "rows");
    const edges = histogramEdges(-1, 4, { bins: 33 });
    const h = await k.histogram(dev, edges);
    const hc = histogram(data, edges);
    assertEquals([Array.from(h.counts), h.below, h.above, h.nonfinite], [
      Array.from(hc.counts),
      hc.below,
      hc.above,
      hc.nonfinite,
    ]);
    const sp = randomTensor(3 * 40 * 35, 10, { special: true }); // frames of 5.6 KiB > 4 KiB
    assertMapsMatch(
      await k.spatialMaps(sp, [3, 40, 35]),
      spatialMaps(sp, [3, 40, 35]),
      "split spatial",
    );
    assertEquals(
      await k.colorize(dev, [rows, width]),
      colorizeRows(data, [rows, width]),
      "split colorize",
    );
  } finally {
    t.buffer.destroy();
  }
});

gpuTest("histogram counts are exact, values on edges included", async (k) => {
  const edges = histogramEdges(-1, 3, { bins: 40 });
  const data = randomTensor(50_003, 11, { special: true });
  data.set(edges, 100); // every edge value, including the last (closed) one
  data[200] = -1.5, data[201] = 3.5;
  const c = histogram(data, edges);
  const g = await k.histogram(data, edges);
  assertEquals(Array.from(g.counts), Array.from(c.counts));
  assertEquals([g.below, g.above, g.nonfinite], [c.below, c.above, c.nonfinite]);
  const total = c.counts.reduce((a, b) => a + b, 0) + c.below + c.above + c.nonfinite;
  assertEquals(total, data.length);
  // All zeros, on the first edge of a range that starts at 0.
  const zeros = new Float32Array(1001);
  const z = await k.histogram(zeros, histogramEdges(0, 1, { bins: 7 }));
  assertEquals([z.counts[0], z.below, z.above, z.nonfinite], [1001, 0, 0, 0]);
  // Log-spaced bins; zeros and negatives fall below.
  const logEdges = histogramEdges(1e-3, 10, { bins: 25, scale: "log" });
  const gl = await k.histogram(data, logEdges);
  const cl = histogram(data, logEdges);
  assertEquals(Array.from(gl.counts), Array.from(cl.counts));
  assertEquals([gl.below, gl.above], [cl.below, cl.above]);
});

gpuTest("histogram agrees with NumPy on the same edges", async (k) => {
  const edges = histogramEdges(0, 2, { bins: 8 });
  const data = randomTensor(4001, 12);
  const g = await k.histogram(data, edges);
  const py = new Deno.Command("python3", {
    args: [
      "-c",
      [
        "import sys, numpy as np",
        "d = np.frombuffer(bytes.fromhex(sys.argv[1]), '<f4')",
        "e = np.frombuffer(bytes.fromhex(sys.argv[2]), '<f4')",
        "print(' '.join(str(int(c)) for c in np.histogram(d, bins=e)[0]))",
      ].join("\n"),
      hex(data),
      hex(edges),
    ],
  });
  let out;
  try {
    out = await py.output();
  } catch {
    console.log("python3 not available: NumPy cross-check skipped");
    return;
  }
  if (!out.success) {
    console.log("NumPy not available: cross-check skipped");
    return;
  }
  assertEquals(
    Array.from(g.counts),
    new TextDecoder().decode(out.stdout).trim().split(" ").map(Number),
  );
});

function hex(a: Float32Array): string {
  return Array.from(
    new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

const SPATIAL_CASES: { name: string; shape: [number, number, number] }[] = [
  { name: "2 frames, 16 channels of 7x13", shape: [2, 16, 91] },
  { name: "1x1 maps, 64 channels", shape: [3, 64, 1] },
  { name: "512 channels of 2x3", shape: [1, 512, 6] },
  { name: "one channel", shape: [2, 1, 10] },
];

for (const c of SPATIAL_CASES) {
  gpuTest(`spatial maps match the CPU reference: ${c.name}`, async (k) => {
    const n = c.shape[0] * c.shape[1] * c.shape[2];
    const data = randomTensor(n, 20 + n, { special: n > 100 });
    assertMapsMatch(await k.spatialMaps(data, c.shape), spatialMaps(data, c.shape), c.name);
  });
}

gpuTest("spatial maps: positions with only NaN give NaN, all zeros give zeros", async (k) => {
  const data = new Float32Array(2 * 3 * 4); // 2 frames, 3 channels, 4 positions
  for (let c = 0; c < 3; c++) data[c * 4 + 1] = NaN;
  const g = await k.spatialMaps(data, [2, 3, 4]);
  assert(Number.isNaN(g.mean[1]) && Number.isNaN(g.std[1]) && Number.isNaN(g.max[1]));
  assertEquals(Array.from(g.mean.subarray(4)), [0, 0, 0, 0]);
  assertEquals(Array.from(g.std.subarray(4)), [0, 0, 0, 0]);
});

gpuTest("colorize gives the CPU colormap's bytes exactly", async (k) => {
  const rows = 16, width = 13 * 7;
  const data = randomTensor(rows * width, 30, { special: true });
  data.fill(2.5, 3 * width, 4 * width); // a constant map
  data.fill(NaN, 5 * width, 6 * width); // a map of NaN
  assertEquals(await k.colorize(data, [rows, width]), colorizeRows(data, [rows, width]));
  // 1x1 maps: every map is constant, so every pixel takes the darkest colour (or NaN colour).
  const ones = randomTensor(37, 31, { special: true });
  assertEquals(await k.colorize(ones, [37, 1]), colorizeRows(ones, [37, 1]));
  const opts = { colormap: "magma" as const, min: -0.5, max: 1.5 };
  assertEquals(
    await k.colorize(data, [rows, width], opts),
    colorizeRows(data, [rows, width], opts),
  );
});

Deno.test("planSegments keeps every binding within the limit", () => {
  const units = { count: 50, start: (u: number) => u * 37, end: (u: number) => u * 37 + 37 };
  const segs = planSegments(units, {
    maxBindingBytes: 1024,
    alignment: 256,
    outBytesPerUnit: 32,
    maxUnits: 4,
  });
  assertEquals(segs[0].u0, 0);
  assertEquals(segs.at(-1)!.u1, 50);
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    assert(s.u1 - s.u0 <= 4 && (s.e1 - s.e0) * 4 + 252 <= 1024, JSON.stringify(s));
    if (i) assertEquals(s.u0, segs[i - 1].u1);
  }
});

Deno.test({
  name: "createReducer: off, on and auto pick the documented paths",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const data = randomTensor(4 * 50, 40);
    const cpu = reduceRows(data, 4, 50);
    const lines: string[] = [];
    {
      await using off = await createReducer({ gpu: "off", onInfo: (l) => lines.push(l) });
      assertEquals(off.info.where, "cpu");
      assertMomentsMatch(await off.reduceRows(data, [4, 50]), cpu, "off");
      assertEquals(off.usage().cpu, 1);
      assertEquals(off.info.ran, "cpu");
    }
    if (!gpu) {
      const auto = await createReducer({ gpu: "auto", onInfo: (l) => lines.push(l) });
      assertEquals(auto.info.where, "cpu");
      assertEquals(lines.length, 1, "one line says the CPU reference runs");
      return;
    }
    await using on = await createReducer({ gpu: "on" });
    assertEquals(on.info.where, "webgpu");
    assertMomentsMatch(await on.reduceRows(data, [4, 50]), cpu, "on");
    assertEquals(on.usage().webgpu, 1);
    assertEquals(on.usage().bytesReadBack, 4 * 32);
    await using auto = await createReducer({ gpu: "auto", onInfo: (l) => lines.push(l) });
    assertEquals(auto.info.whereDeviceTensors, "webgpu");
    assertEquals(auto.info.where, auto.info.fallbackAdapter ? "cpu" : "webgpu");
    // Host arrays are not uploaded where they run on the CPU.
    const t = auto.upload(data);
    assertEquals(t instanceof Float32Array, auto.info.where === "cpu");
    auto.release(t);
    // Device tensors always run on the GPU in auto mode, on the device they live on.
    const dev = kernels!.upload(data);
    try {
      await using ondev = await createReducer({ gpu: "auto", device: gpu.device });
      assertMomentsMatch(await ondev.reduceRows(dev, [4, 50]), cpu, "auto device tensor");
      assertEquals(ondev.usage().webgpu, 1);
      assertEquals(ondev.info.ran, "webgpu");
      // With --gpu off, a device tensor is read back whole and reduced on the CPU.
      await using offdev = await createReducer({ gpu: "off", device: gpu.device });
      assertMomentsMatch(await offdev.reduceRows(dev, [4, 50]), cpu, "off device tensor");
      assertEquals(offdev.usage().bytesReadBack, data.byteLength);
    } finally {
      dev.buffer.destroy();
    }
  },
});

Deno.test({
  name: "onnxruntime-web WebGPU outputs are reduced in place on ORT's device",
  ignore: !gpu,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const ort = await import("npm:onnxruntime-web@1.30.0/webgpu");
    const { default: onnxproto } = await import("npm:onnx-proto@8.0.1");
    const { onnx } = onnxproto;
    const shape = [2, 24, 7, 13]; // (B*T, C, H, W)
    const dims = shape.map((d) => ({ dimValue: d }));
    const type = { tensorType: { elemType: 1, shape: { dim: dims } } };
    const model = onnx.ModelProto.encode(onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: "", version: 17 }],
      producerName: "feature-inspector-test",
      graph: {
        name: "tap",
        node: [
          { opType: "Relu", input: ["x"], output: ["act"], name: "relu" },
          { opType: "Neg", input: ["act"], output: ["y"], name: "neg" },
        ],
        input: [{ name: "x", type }],
        output: [{ name: "y", type }, { name: "act", type }],
      },
    })).finish();
    ort.env.logLevel = "error";
    let session;
    try {
      session = await ort.InferenceSession.create(model, {
        executionProviders: ["webgpu"],
        preferredOutputLocation: "gpu-buffer",
      });
    } catch (err) {
      console.log(`onnxruntime-web WebGPU EP unavailable, skipped: ${(err as Error).message}`);
      return;
    }
    try {
      const n = shape.reduce((a, b) => a * b);
      const x = new ort.Tensor("float32", randomTensor(n, 50, { special: true }), shape);
      const out = await session.run({ x });
      const act = out.act;
      assertEquals(act.location, "gpu-buffer");
      const device = await ort.env.webgpu.device as GPUDevice;
      await using reducer = await createReducer({ gpu: "auto", device });
      assertEquals(reducer.info.whereDeviceTensors, "webgpu");
      const input = tensorInput({
        location: act.location,
        dims: act.dims,
        gpuBuffer: act.gpuBuffer as unknown as GPUBuffer,
      });
      const rows = shape[0] * shape[1], width = shape[2] * shape[3];
      const m = await reducer.reduceRows(input, [rows, width]);
      const readBack = reducer.usage().bytesReadBack;
      assertEquals(readBack, rows * 32, "only the per-row partials crossed back");
      assert(readBack < n * 4 / 10);
      const data = await act.getData() as Float32Array; // reference only, after the kernel
      assertMomentsMatch(m, reduceRows(data, rows, width), "ORT gpu-buffer");
      for (const t of Object.values(out)) t.dispose();
    } finally {
      await session.release();
    }
  },
});
