// Input pipelines of real models (issue 14 item 5) through runInspect: a fixed non-square
// batch-1 model, a two-input model fed from clips and .npy, and the preprocessing block.
import assert from "node:assert/strict";
import { join } from "node:path";
import { runInspect } from "../inspector/run_inspect.ts";
import { InspectorError } from "../core/errors.ts";
import { encodePlainNpy } from "../core/npy.ts";
import { buildFixedNonSquare, buildTwoInput } from "../fixtures/generator/input_models.ts";

const BASE = { ep: "wasm", threads: 1 } as const;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function rejectsWith(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof InspectorError, `expected an InspectorError, got ${e}`);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("input pipeline: a fixed 24x32 batch-1 model is fed from frames at its own size", async () => {
  await withDir(async (dir) => {
    const model = join(dir, "fixed.onnx");
    await Deno.writeFile(model, buildFixedNonSquare());
    const opts = { ...BASE, checkpoint: model, batchSize: 1, maxLen: 1, layers: ["conv1"] };
    const r = await runInspect({ ...opts, saveDir: join(dir, "a") });
    const m = JSON.parse(await Deno.readTextFile(r.json));
    assert.equal(m.data.size, "24x32");
    assert.deepEqual(m.data.input_shape, [1, 1, 3, 24, 32]);
    assert.equal(r.extraction.layers[0].frames[0][0].length, 4 * 24 * 32);
    // The same size given as HxW gives the same features; another size says which to pass.
    const again = await runInspect({ ...opts, size: "24x32", saveDir: join(dir, "b") });
    assert.deepEqual(again.extraction.layers[0].frames[0][0], r.extraction.layers[0].frames[0][0]);
    await rejectsWith(
      runInspect({ ...opts, size: 32, saveDir: join(dir, "c") }),
      /takes 24x32 frames; pass options.size 24x32/,
    );
    // A batch of 2 clips x 8 frames for a fixed batch of 1: the error says what to pass.
    await rejectsWith(
      runInspect({ ...opts, batchSize: 2, maxLen: 8, saveDir: join(dir, "d") }),
      /fixed batch of 1 frame: pass options.batchSize 1 and options.maxLen 1/,
    );
  });
});

Deno.test("input pipeline: a two-input model takes frames from dset and bias from .npy", async () => {
  await withDir(async (dir) => {
    const model = join(dir, "two.onnx");
    await Deno.writeFile(model, buildTwoInput());
    const bias = [0.25, -1, 2, 0.5];
    const write = async (name: string, values: number[]) => {
      const path = join(dir, name);
      await Deno.writeFile(
        path,
        encodePlainNpy(new Float32Array(values), [1, 4, 1, 1]),
      );
      return path;
    };
    const zero = await write("zero.npy", [0, 0, 0, 0]);
    const some = await write("bias.npy", bias);
    const opts = {
      ...BASE,
      checkpoint: model,
      dset: "fixture",
      batchSize: 1,
      maxLen: 1,
      size: 16,
      layers: ["add"],
    };
    const a = await runInspect({ ...opts, input: [`bias=${zero}`], saveDir: join(dir, "a") });
    const b = await runInspect({ ...opts, input: [`bias=${some}`], saveDir: join(dir, "b") });
    const m = JSON.parse(await Deno.readTextFile(b.json));
    assert.equal(m.data.frame_input, "frames");
    assert.deepEqual(m.data.npy_inputs.inputs, { bias: some });
    const fa = a.extraction.layers[0].frames[0][0], fb = b.extraction.layers[0].frames[0][0];
    assert.equal(fa.length, 4 * 16 * 16);
    // Add's output moves by exactly the bias of its channel, everywhere.
    let worst = 0;
    for (let i = 0; i < fa.length; i++) {
      worst = Math.max(worst, Math.abs(fb[i] - fa[i] - bias[Math.floor(i / 256)]));
    }
    assert.ok(worst < 1e-5, `worst ${worst}`);
    await rejectsWith(
      runInspect({ ...opts, input: [`bias=${zero}`, `frames=${zero}`], saveDir: join(dir, "c") }),
      /gives every input/,
    );
  });
});

Deno.test("input pipeline: resize short + crop, channel order and scale are recorded and applied", async () => {
  await withDir(async (dir) => {
    const base = { ...BASE, batchSize: 1, maxLen: 1, size: 32, layers: ["conv1"] };
    const r = await runInspect({
      ...base,
      resize: "short:40",
      crop: "32",
      channelOrder: "bgr",
      saveDir: join(dir, "a"),
    });
    const p = JSON.parse(await Deno.readTextFile(r.json)).data.preprocessing;
    assert.equal(p.resize, "short:40 (aspect kept)");
    assert.equal(p.crop, "centre 32x32");
    assert.equal(p.channel_order, "bgr");
    assert.equal(p.scale, 1);
    // Without any of them the manifest has no block and today's features stay.
    const plain = await runInspect({ ...base, saveDir: join(dir, "b") });
    assert.equal(JSON.parse(await Deno.readTextFile(plain.json)).data.preprocessing, undefined);
    const rgb = await runInspect({ ...base, channelOrder: "rgb", saveDir: join(dir, "c") });
    assert.deepEqual(
      rgb.extraction.layers[0].frames[0][0],
      plain.extraction.layers[0].frames[0][0],
    );
    assert.notDeepEqual(
      r.extraction.layers[0].frames[0][0],
      plain.extraction.layers[0].frames[0][0],
    );
    await rejectsWith(
      runInspect({ ...base, crop: "24", saveDir: join(dir, "d") }),
      /options.crop 24x24 and the frame size 32x32 differ/,
    );
  });
});

Deno.test("input pipeline: a non-square pipeline decodes the same on the calling thread and on workers", async () => {
  const { decodeClips, planClips } = await import("../inspector/clips.ts");
  const pipeline = {
    size: { height: 20, width: 28 },
    resize: { kind: "exact" as const, height: 24, width: 32 },
    crop: { height: 20, width: 28 },
    channelOrder: "bgr" as const,
    scale: 255,
  };
  const plan = await planClips("fixture", { batchSize: 2, maxLen: 2, pipeline });
  assert.deepEqual(plan.shape, [2, 2, 3, 20, 28]);
  const here = await decodeClips(plan);
  const there = await decodeClips(plan, { workers: 2 });
  assert.equal(here.data.length, 2 * 2 * 3 * 20 * 28);
  assert.deepEqual(there.data, here.data);
  assert.deepEqual(here.pipeline, pipeline);
});
