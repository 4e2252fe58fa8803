// Tests of inspector/runtime.ts: every execution provider against PyTorch's own references
// (../shared/torch, forward hooks) and against each other, plus error messages.
import assert from "node:assert/strict";
import { createSession, type EpChoice, loadNativeOrt, probeGpu } from "../inspector/runtime.ts";
import { InspectorError } from "../core/errors.ts";
import { readPlainNpy } from "../core/npy.ts";
import { loadOnnxModel, tapModel, tensorNames } from "../inspector/onnx_model.ts";
import {
  estimateForwardBytes,
  forwardInChunks,
  planBatches,
  sliceBatch,
} from "../inspector/batch_plan.ts";
import { FIXTURE_CLIPS, fixtureBatch } from "../fixtures/generate.ts";

const TORCH = new URL("../../shared/torch/resnet18w16_video/", import.meta.url).pathname;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

const haveTorch = await exists(`${TORCH}model.onnx`);
if (!haveTorch) console.warn(`runtime_test: ${TORCH} absent; skipping the PyTorch-reference tests`);
const haveNative = await loadNativeOrt().then(() => true, (err) => {
  console.warn(`runtime_test: skipping --ep cpu tests: ${(err as Error).message}`);
  return false;
});
const gpu = await probeGpu();
if (!gpu.adapter) console.warn(`runtime_test: skipping WebGPU tests: ${gpu.why}`);

/** Tapped tensors of the torch model: PyTorch module -> ONNX tensor (BN folded into conv1). */
const TAPS: Record<string, string> = {
  bn1: "/backbone/conv1/Conv_output_0",
  relu: "/backbone/relu/Relu_output_0",
  maxpool: "/backbone/maxpool/MaxPool_output_0",
  layer1: "/backbone/layer1/layer1.1/relu_1/Relu_output_0",
  layer2: "/backbone/layer2/layer2.1/relu_1/Relu_output_0",
  layer3: "/backbone/layer3/layer3.1/relu_1/Relu_output_0",
  layer4: "/backbone/layer4/layer4.1/relu_1/Relu_output_0",
};

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length, "lengths differ");
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function eps(): EpChoice[] {
  const out: EpChoice[] = ["wasm"];
  if (haveNative) out.push("cpu");
  return out;
}

Deno.test({
  name: "runtime: logits and tapped layers equal PyTorch's on every CPU execution provider",
  ignore: !haveTorch,
  async fn() {
    const ref = JSON.parse(await Deno.readTextFile(`${TORCH}ref.json`));
    const input = await readPlainNpy(`${TORCH}input.npy`);
    const graph = await loadOnnxModel(`${TORCH}model.onnx`);
    const model = tapModel(graph, Object.values(TAPS));
    const [, T] = input.shape;
    const frame = ref.batch_idx * T + ref.timestep; // (B*T, C, H, W) layout
    for (const ep of eps()) {
      // (Multi-threaded WASM is opt-in and can stall in Deno: the suite keeps WASM at 1 thread.)
      await using s = await createSession(model, { ep, threads: ep === "wasm" ? 1 : 2 });
      assert.equal(s.info.ep, ep);
      assert.deepEqual(s.inputNames, ["frames"]);
      assert.ok(s.outputNames.includes("logits") && s.outputNames.includes(TAPS.layer4));
      const out = await s.run({ frames: { data: input.data, dims: input.shape } });
      const logits = out.logits.data!;
      assert.deepEqual(out.logits.dims, [2, ref.logits[0].length]);
      assert.ok(
        maxAbsDiff(logits, Float32Array.from(ref.logits.flat())) <= 1e-4,
        `${ep}: logits differ from PyTorch's`,
      );
      for (const [layer, tensor] of Object.entries(TAPS)) {
        const o = out[tensor];
        assert.equal(o.location, "cpu");
        const per = o.dims.slice(1).reduce((a, b) => a * b, 1);
        const refArr = await readPlainNpy(`${TORCH}ref_${layer}.npy`);
        assert.deepEqual(o.dims.slice(1), refArr.shape, `${ep} ${layer} shape`);
        const got = o.data!.subarray(frame * per, (frame + 1) * per);
        const err = maxAbsDiff(got, refArr.data);
        assert.ok(err <= 1e-4, `${ep} ${layer}: max abs error ${err} vs PyTorch`);
      }
      assert.equal(s.stats().runs, 1);
      assert.equal(s.stats().gpuBytesRead, 0);
    }
  },
});

Deno.test({
  name: "runtime: auto picks WebGPU only on a hardware adapter and explains its choice",
  async fn() {
    const { chooseBackend } = await import("../inspector/runtime.ts");
    const c = await chooseBackend("auto");
    if (gpu.adapter && gpu.fallback === false) assert.equal(c.ep, "webgpu");
    else assert.equal(c.ep, haveNative ? "cpu" : "wasm");
    assert.ok(c.reason.length > 10);
    await assert.rejects(
      () => chooseBackend("tpu" as EpChoice),
      (e) => e instanceof InspectorError && /options\.ep tpu/.test(e.message),
    );
  },
});

Deno.test({
  name: "runtime: corrupt model and rejected input shapes are one-line InspectorErrors",
  ignore: !haveTorch,
  async fn() {
    for (const ep of eps()) {
      await assert.rejects(
        () => createSession(new TextEncoder().encode("not an onnx model at all"), { ep }),
        (e) =>
          e instanceof InspectorError && /cannot load the model/.test(e.message) &&
          !e.message.includes("\n"),
      );
      await using s = await createSession(await Deno.readFile(`${TORCH}model.onnx`), { ep });
      await assert.rejects(
        () =>
          s.run({
            frames: { data: new Float32Array(2 * 3 * 100 * 100), dims: [1, 2, 3, 100, 100] },
          }),
        (e) =>
          e instanceof InspectorError &&
          /rejected the input frames \(1, 2, 3, 100, 100\)/.test(e.message) &&
          !e.message.includes("\n"),
      );
      await assert.rejects(
        () => s.run({}),
        (e) => e instanceof InspectorError && /needs input 'frames'/.test(e.message),
      );
    }
  },
});

// ---- Fixture models (committed in fixtures/): EPs agree, and split batches equal unsplit ones ---

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;
const CLIPS = FIXTURE_CLIPS.slice(0, 2).map((c) => c.id);

/** The tensors the default layers resolve to: stem conv (=bn1), relu, maxpool, every stage. */
async function fixtureModel(
  file: string,
): Promise<{ bytes: Uint8Array; taps: string[] }> {
  const graph = await loadOnnxModel(`${FIXTURES}${file}`);
  const taps = tensorNames(graph).filter((n) =>
    /^\/backbone\/(conv1\/Conv|relu\/Relu|maxpool\/MaxPool|stem\/stem\.\d\/(Conv|Relu))_output_0$/
      .test(n) || /^\/backbone\/layer\d\/layer\d\.\d\/relu_1\/Relu_output_0$/.test(n)
  );
  return { bytes: tapModel(graph, taps), taps };
}

Deno.test({
  name: "runtime: native CPU EP, WASM and WebGPU give the same activations on the fixture model",
  async fn() {
    const { bytes, taps } = await fixtureModel("resnet18_video.onnx");
    const input = fixtureBatch({ frames: [0, 3, 5], size: 64, clips: CLIPS });
    const feeds = { frames: { data: input.data, dims: [...input.shape] } };
    await using w = await createSession(bytes, { ep: "wasm" });
    const want = await w.run(feeds);
    const others: EpChoice[] = [];
    if (haveNative) others.push("cpu");
    if (gpu.adapter) others.push("webgpu");
    for (const ep of others) {
      await using s = await createSession(bytes, { ep });
      assert.equal(s.info.ep, ep);
      // WebGPU: half the taps stay on ORT's device as GPU buffers, the rest come back.
      const keep = taps.filter((_, k) => k % 2 === 0);
      const got = await s.run(feeds, { keepOnGpu: keep });
      let downloaded = s.stats().gpuBytesRead;
      for (const name of [...taps, "logits"]) {
        assert.deepEqual(got[name].dims, want[name].dims);
        const onGpu = ep === "webgpu" && keep.includes(name);
        assert.equal(got[name].location, onGpu ? "gpu-buffer" : "cpu", `${ep} ${name} location`);
        if (onGpu) assert.ok(got[name].gpuBuffer && s.device);
        const data = await got[name].download();
        if (onGpu) downloaded += data.byteLength;
        const err = maxAbsDiff(data, want[name].data!);
        assert.ok(err <= 1e-4, `${ep} vs wasm, ${name}: max abs error ${err}`);
        got[name].dispose();
      }
      assert.equal(s.stats().gpuBytesRead, ep === "webgpu" ? downloaded : 0);
    }
    assert.ok(taps.length >= 7, `fixture taps: ${taps.join(", ")}`);
  },
});

Deno.test({
  name:
    "runtime: cpu reuseOutputs writes each run into the same arrays, with the values of fresh runs",
  ignore: !haveNative,
  async fn() {
    const { bytes, taps } = await fixtureModel("resnet18_video.onnx");
    const batch = (clips: string[], frames: number[]) => {
      const b = fixtureBatch({ frames, size: 64, clips });
      return { frames: { data: b.data, dims: [...b.shape] } };
    };
    const a = batch(CLIPS, [0, 3, 5]), b = batch([...CLIPS].reverse(), [1, 2, 4]);
    const last = batch(CLIPS.slice(0, 1), [0, 3, 5]); // a smaller last batch: other shapes
    await using fresh = await createSession(bytes, { ep: "cpu" });
    await using reusing = await createSession(bytes, { ep: "cpu", reuseOutputs: true });
    const names = [...taps, "logits"];
    // Fresh runs: every output is its own array, untouched by later runs.
    const fa = await fresh.run(a), fb = await fresh.run(b), fl = await fresh.run(last);
    const fa2 = await fresh.run(a);
    for (const n of names) {
      assert.notEqual(fa[n].data, fb[n].data);
      assert.equal(maxAbsDiff(fa[n].data!, fa2[n].data!), 0, `${n}: a fresh run was overwritten`);
    }
    // Reusing runs: two sets of arrays in turn, once the shapes are known.
    const ra = await reusing.run(a);
    const snapshot = Object.fromEntries(names.map((n) => [n, ra[n].data!.slice()]));
    const rb = await reusing.run(b);
    const rb2 = await reusing.run(b);
    const rb3 = await reusing.run(b);
    for (const n of names) {
      // A run's outputs hold while the next run computes.
      assert.equal(maxAbsDiff(rb[n].data!, fb[n].data!), 0, `${n}: overwritten by the next run`);
    }
    const rl = await reusing.run(last);
    const ra2 = await reusing.run(a);
    for (const n of names) {
      assert.equal(rb[n].data, rb3[n].data, `${n}: not written into the same array`);
      assert.notEqual(rb2[n].data, rb3[n].data, `${n}: one set of arrays, not two`);
      assert.equal(maxAbsDiff(snapshot[n], fa[n].data!), 0, n);
      assert.equal(maxAbsDiff(rb3[n].data!, fb[n].data!), 0, n);
      assert.deepEqual(rl[n].dims, fl[n].dims);
      assert.equal(maxAbsDiff(rl[n].data!, fl[n].data!), 0, `${n}: smaller last batch`);
      assert.equal(maxAbsDiff(ra2[n].data!, fa[n].data!), 0, n);
    }
    // Garbage between runs (the forward runs off the main thread; nothing it reads may move).
    for (let k = 0; k < 3; k++) {
      const junk = Array.from({ length: 20000 }, (_, i) => new Float32Array(i % 16 + 1));
      const r = await reusing.run(b);
      assert.equal(maxAbsDiff(r.logits.data!, fb.logits.data!), 0);
      assert.ok(junk.length > 0);
    }
  },
});

/** Run `feed` in the chunks of a plan and put each frame's activation back at (b, t). */
async function runChunks(
  s: Awaited<ReturnType<typeof createSession>>,
  feed: { data: Float32Array; dims: number[] },
  chunks: ReturnType<typeof planBatches>["chunks"],
  tensor: string,
  layout: "bt" | "b",
): Promise<Float32Array[]> {
  const [B, T] = feed.dims;
  const frames: Float32Array[] = new Array(layout === "bt" ? B * T : B);
  for (const c of chunks) {
    const out = (await s.run({ frames: sliceBatch(feed, c, { timeAxis: true }) }))[tensor];
    const nt = c.frames[1] - c.frames[0];
    const rows = layout === "bt" ? (c.clips[1] - c.clips[0]) * nt : c.clips[1] - c.clips[0];
    const per = out.data!.length / rows;
    for (let b = c.clips[0]; b < c.clips[1]; b++) {
      if (layout === "b") {
        frames[b] = out.data!.slice((b - c.clips[0]) * per, (b - c.clips[0] + 1) * per);
        continue;
      }
      for (let t = c.frames[0]; t < c.frames[1]; t++) {
        const r = (b - c.clips[0]) * nt + (t - c.frames[0]);
        frames[b * T + t] = out.data!.slice(r * per, (r + 1) * per);
      }
    }
  }
  return frames;
}

Deno.test({
  name: "batch plan: a split batch gives the same activations as an unsplit one (2D and 3D)",
  async fn() {
    for (
      const [file, layout, splitFrames] of [
        ["resnet18_video.onnx", "bt", true],
        ["r3d_video.onnx", "b", false],
      ] as const
    ) {
      const { bytes, taps } = await fixtureModel(file);
      const input = fixtureBatch({ frames: [0, 1, 2, 3, 4, 5, 6, 7], size: 32, clips: CLIPS });
      const feed = { data: input.data, dims: [...input.shape] };
      await using s = await createSession(bytes, { ep: haveNative ? "cpu" : "wasm" });
      const whole = await s.run({ frames: feed });
      // A budget of ~3 frames forces 2D frames (and 3D clips) apart.
      const perFrame = estimateForwardBytes(1, {
        ep: "cpu",
        tapBytesPerFrame: 1000,
        largestTensorBytesPerFrame: 1000,
      });
      const plan = planBatches(2, 8, {
        ep: "cpu",
        tapBytesPerFrame: 1000,
        largestTensorBytesPerFrame: 1000,
        splitFrames,
        budgetBytes: 3 * perFrame,
      });
      assert.ok(plan.split && plan.note, `${file}: the plan splits`);
      assert.equal(plan.chunks.length, splitFrames ? 6 : 2);
      for (const tensor of taps) {
        const parts = await runChunks(s, feed, plan.chunks, tensor, layout);
        const all = whole[tensor].data!;
        const per = all.length / parts.length;
        parts.forEach((p, k) => {
          const err = maxAbsDiff(p, all.subarray(k * per, (k + 1) * per));
          assert.ok(err <= 1e-5, `${file} ${tensor} frame/clip ${k}: split differs by ${err}`);
        });
      }
    }
  },
});

Deno.test("batch plan: chunks cover every frame once, and limits give clear errors", () => {
  const opts = {
    ep: "wasm" as const,
    tapBytesPerFrame: 2 ** 20,
    largestTensorBytesPerFrame: 2 ** 20,
  };
  assert.deepEqual(planBatches(2, 8, opts).chunks, [{ clips: [0, 2], frames: [0, 8] }]);
  for (
    const [budget, splitFrames, n] of [[10, true, 8], [40, true, 2], [80, true, 1], [
      10,
      false,
      2,
    ]] as const
  ) {
    const p = planBatches(2, 8, { ...opts, splitFrames, budgetBytes: budget * 2 ** 20 });
    const seen = new Set<string>();
    for (const c of p.chunks) {
      for (let b = c.clips[0]; b < c.clips[1]; b++) {
        for (let t = c.frames[0]; t < c.frames[1]; t++) {
          assert.ok(!seen.has(`${b},${t}`));
          seen.add(`${b},${t}`);
        }
      }
    }
    assert.equal(seen.size, 16);
    assert.equal(p.chunks.length, n, `budget ${budget} MiB, splitFrames ${splitFrames}`);
  }
  // A 3D model whose single clip exceeds WASM's heap: the error names the memory it needs.
  assert.throws(
    () =>
      planBatches(1, 8, {
        ep: "wasm",
        tapBytesPerFrame: 400 * 2 ** 20,
        largestTensorBytesPerFrame: 256 * 2 ** 20,
      }),
    (e) =>
      e instanceof InspectorError &&
      /needs about 9\.1\d GiB for one clip of 8 frames/.test(e.message) &&
      /WASM's 4\.00 GiB heap/.test(e.message),
  );
  // WebGPU's buffer cap limits frames per pass.
  const g = planBatches(2, 8, {
    ep: "webgpu",
    tapBytesPerFrame: 2 ** 20,
    largestTensorBytesPerFrame: 2 ** 20,
    splitFrames: true,
    maxBufferBytes: 4 * 2 ** 20,
  });
  assert.equal(g.chunks.length, 4);
});

Deno.test({
  name: "batch plan: forwardInChunks probes, splits big batches, checks frame independence",
  async fn() {
    for (
      const [file, tryFrames, framesSplit] of [
        ["resnet18_video.onnx", true, true],
        ["r3d_video.onnx", false, false],
        // A 3D model offered a frame split: the check refuses it, clips are split instead.
        ["r3d_video.onnx", true, false],
      ] as const
    ) {
      const { bytes, taps } = await fixtureModel(file);
      const input = fixtureBatch({ frames: [0, 1, 2, 3, 4, 5, 6, 7], size: 32, clips: CLIPS });
      const feed = { data: input.data, dims: [...input.shape] };
      await using s = await createSession(bytes, { ep: "wasm" });
      const whole = await s.run({ frames: feed });
      const tensor = taps[taps.length - 2];
      const got = new Map<string, Float32Array>();
      const lines: string[] = [];
      // A budget of a few frames' memory: the batch must be split.
      const r = await forwardInChunks(s, { frames: feed }, {
        input: "frames",
        splitFrames: tryFrames,
        verify: taps,
        budgetBytes: feed.data.byteLength / 4,
        onInfo: (l) => lines.push(l),
        onChunk: async (chunk, outputs) => {
          const out = outputs[tensor];
          const data = await out.download();
          const nb = chunk.clips[1] - chunk.clips[0], nt = chunk.frames[1] - chunk.frames[0];
          const rows = framesSplit ? nb * nt : nb;
          const per = data.length / rows;
          for (let k = 0; k < rows; k++) {
            const key = framesSplit
              ? `${chunk.clips[0] + Math.floor(k / nt)},${chunk.frames[0] + (k % nt)}`
              : `${chunk.clips[0] + k}`;
            assert.ok(!got.has(key), `${key} covered once`);
            got.set(key, data.slice(k * per, (k + 1) * per));
          }
          for (const o of Object.values(outputs)) o.dispose();
        },
      });
      assert.equal(r.framesSplit, framesSplit, file);
      assert.ok(r.chunks.length > (framesSplit ? 2 : 1), `${file}: ${r.chunks.length} passes`);
      assert.equal(got.size, framesSplit ? 16 : 2);
      const all = whole[tensor].data!;
      const per = all.length / got.size;
      for (const [key, part] of got) {
        const [b, t] = key.split(",").map(Number);
        const k = framesSplit ? b * 8 + t : b;
        const err = maxAbsDiff(part, all.subarray(k * per, (k + 1) * per));
        assert.ok(err <= 1e-5, `${file} ${key}: ${err}`);
      }
      assert.ok(r.note && lines.includes(r.note) && /passes/.test(r.note), String(r.note));
      if (tryFrames && !framesSplit) assert.match(r.note, /frames cannot be split/);
    }
  },
});
