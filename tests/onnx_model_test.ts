import assert from "node:assert/strict";
import { join } from "node:path";
import onnxproto from "npm:onnx-proto@8.0.1";
import {
  extendModel,
  loadOnnxModel,
  parseOnnxModel,
  tapAdditions,
  tapModel,
  tensorNames,
  withExtendedModel,
} from "../inspector/onnx_model.ts";
import { createSession } from "../inspector/runtime.ts";
import { InspectorError } from "../core/errors.ts";
import { HAVE_SHARED, ROOT, SHARED, skip } from "./helpers.ts";

// deno-lint-ignore no-explicit-any
const { onnx } = onnxproto as any;

const FIXTURE = join(ROOT, "fixtures", "resnet18_video.onnx");

/** `sha256sum`'s digest of a file (an independent implementation). */
async function sha256sum(path: string): Promise<string> {
  const r = await new Deno.Command("sha256sum", { args: [path] }).output();
  assert.ok(r.success, "sha256sum failed");
  return new TextDecoder().decode(r.stdout).split(" ")[0];
}

/** What `extendModel` must equal: the decoded model with the additions, encoded in full. */
// deno-lint-ignore no-explicit-any
function encodedWith(bytes: Uint8Array, outputs: string[], node: any[] = []): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  m.graph.output = [...m.graph.output, ...outputs.map((name) => ({ name }))];
  m.graph.node = [...m.graph.node, ...node];
  return onnx.ModelProto.encode(m).finish();
}

function canonical(bytes: Uint8Array): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.decode(bytes)).finish();
}

Deno.test("onnx model: sha256 equals sha256sum of the file", async () => {
  const models = [FIXTURE, join(ROOT, "fixtures", "r3d_video.onnx")];
  if (HAVE_SHARED) models.push(join(SHARED, "real", "mobilenetv2_int8", "model.onnx"));
  else skip("../shared absent: sha256 of the real quantized model skipped");
  for (const path of models) {
    const g = await loadOnnxModel(path);
    assert.equal(g.sha256, await sha256sum(path), path);
  }
  const bytes = await Deno.readFile(FIXTURE);
  assert.equal((await parseOnnxModel(bytes)).sha256, await sha256sum(FIXTURE));
});

Deno.test("onnx model: the whole file is read (sizes that are not a multiple of any chunk)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = await Deno.readFile(FIXTURE);
    // Append an unknown field (number 1000, bytes) of an odd length: protobuf skips it, so the
    // model stays valid, and only a complete read gives the file's digest.
    const tail = new Uint8Array(4093).fill(7);
    const key = [0xc2, 0x3e]; // (1000 << 3) | 2 as a varint
    const len = [0xfd, 0x1f]; // 4093
    const path = join(dir, "odd.onnx");
    await Deno.writeFile(path, new Uint8Array([...bytes, ...key, ...len, ...tail]));
    const g = await loadOnnxModel(path);
    assert.equal(g.sha256, await sha256sum(path));
    assert.equal(g.nodes.length, (await loadOnnxModel(FIXTURE)).nodes.length);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("onnx model: a file whose size stat does not know (a named pipe) is read whole", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fifo = join(dir, "model.onnx");
    const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    if (!mk.success) return skip("mkfifo failed: named-pipe read skipped");
    const writer = new Deno.Command("sh", { args: ["-c", `cat "$0" > "$1"`, FIXTURE, fifo] })
      .spawn();
    const g = await loadOnnxModel(fifo);
    assert.ok((await writer.status).success);
    assert.equal(g.sha256, await sha256sum(FIXTURE));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("onnx model: a folder or a missing file is a clear error", async () => {
  await assert.rejects(loadOnnxModel(join(ROOT, "fixtures")), (e: unknown) => {
    assert.ok(e instanceof InspectorError);
    assert.match(e.message, /is a folder: pass options\.checkpoint/);
    return true;
  });
  await assert.rejects(loadOnnxModel(join(ROOT, "fixtures", "nope.onnx")), /not found/);
});

Deno.test("onnx model: tapModel splices outputs into the file's bytes = a full re-encode", async () => {
  const models = [FIXTURE, join(ROOT, "fixtures", "r3d_video.onnx")];
  if (HAVE_SHARED) models.push(join(SHARED, "real", "mobilenetv2_int8", "model.onnx"));
  for (const path of models) {
    const bytes = await Deno.readFile(path);
    const g = await loadOnnxModel(path);
    const taps = tensorNames(g).filter((_, k) => k % 3 === 0);
    const tapped = tapModel(g, [...taps, g.outputs[0].name, g.inputs[0].name]);
    const fresh = taps.filter((t) => !g.outputs.some((o) => o.name === t));
    assert.deepEqual(canonical(tapped), encodedWith(bytes, fresh), path);
    // The parsed model is left as it was.
    assert.deepEqual(onnx.ModelProto.encode(g.proto).finish(), canonical(bytes), path);
  }
});

Deno.test("onnx model: extendModel appends nodes and outputs that onnxruntime runs", async () => {
  const g = await loadOnnxModel(FIXTURE);
  const bytes = await Deno.readFile(FIXTURE);
  const logits = g.outputs[0].name;
  const node = onnx.NodeProto.create({
    name: "/extra/Neg",
    opType: "Neg",
    input: [logits],
    output: ["extra_neg"],
  });
  const extended = extendModel(g, {
    node: [node],
    output: [onnx.ValueInfoProto.create({ name: "extra_neg" })],
  });
  assert.deepEqual(canonical(extended), encodedWith(bytes, ["extra_neg"], [node]));
  const dims = [1, 2, 3, 32, 32];
  const data = new Float32Array(dims.reduce((a, b) => a * b)).map((_, i) => Math.sin(i * 0.01));
  await using s = await createSession(extended, { ep: "wasm", threads: 1 });
  const out = await s.run({ [g.inputs[0].name]: { data, dims } });
  const a = out[logits].data as Float32Array, b = out.extra_neg.data as Float32Array;
  assert.equal(a.length, b.length);
  assert.ok(a.length > 0);
  for (let i = 0; i < a.length; i++) assert.equal(b[i], -a[i]);
  for (const o of Object.values(out)) o.dispose();
});

Deno.test("onnx model: withExtendedModel lends the model with its additions, in place", async () => {
  const g = await loadOnnxModel(FIXTURE);
  const logits = g.outputs[0].name;
  const neg = (out: string) => ({
    node: [onnx.NodeProto.create({ name: out, opType: "Neg", input: [logits], output: [out] })],
    output: [onnx.ValueInfoProto.create({ name: out })],
  });
  const dims = [1, 2, 3, 32, 32];
  const data = new Float32Array(dims.reduce((a, b) => a * b)).map((_, i) => Math.cos(i * 0.01));
  const feeds = { [g.inputs[0].name]: { data, dims } };
  const size = (await Deno.stat(FIXTURE)).size;
  // Two calls at once on one model take turns; each session sees its own additions only.
  const seen: number[] = [];
  const runWith = (name: string) =>
    withExtendedModel(g, neg(name), async (bytes) => {
      seen.push(bytes.length);
      assert.equal(bytes.byteLength, bytes.length);
      assert.ok(bytes.buffer.byteLength > bytes.length, "written in the room behind the model");
      await using s = await createSession(bytes, { ep: "wasm", threads: 1 });
      const out = await s.run(feeds);
      assert.deepEqual(Object.keys(out).sort(), [logits, name].sort());
      const r = { a: out[logits].data as Float32Array, b: out[name].data as Float32Array };
      return Array.from(r.b, (v, i) => v + r.a[i]);
    });
  const [x, y] = await Promise.all([runWith("neg_x"), runWith("neg_y")]);
  assert.ok(x.length > 0);
  assert.deepEqual(x, new Array(x.length).fill(0));
  assert.deepEqual(y, x);
  assert.ok(seen.every((n) => n > size && n < size + 200), `lent sizes ${seen}`);
  // The parsed model and its bytes are untouched: tapModel still encodes the plain model.
  const tapped = onnx.ModelProto.decode(tapModel(g, [g.nodes[3].outputs[0]]));
  assert.equal(tapped.graph.output.length, 2);
  // Bytes without room behind them get extendModel's copy.
  const tight = await parseOnnxModel(await Deno.readFile(FIXTURE));
  const additions = tapAdditions(tight, [g.nodes[3].outputs[0]]);
  const lent = await withExtendedModel(tight, additions, (b) => Promise.resolve(b.slice()));
  assert.deepEqual(lent, extendModel(tight, additions));
});

Deno.test("onnx model: a model whose external data was inlined is encoded in full", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const m = onnx.ModelProto.decode(await Deno.readFile(FIXTURE));
    const init = m.graph.initializer[0];
    const raw: Uint8Array = init.rawData.length
      ? init.rawData
      : new Uint8Array(new Float32Array(init.floatData).buffer);
    await Deno.writeFile(join(dir, "weights.bin"), raw);
    init.dataLocation = 1;
    init.externalData = [{ key: "location", value: "weights.bin" }];
    init.rawData = new Uint8Array();
    init.floatData = [];
    await Deno.writeFile(join(dir, "ext.onnx"), onnx.ModelProto.encode(m).finish());
    const g = await loadOnnxModel(join(dir, "ext.onnx"));
    const tap = tensorNames(g)[0];
    const tapped = onnx.ModelProto.decode(tapModel(g, [tap]));
    const t = tapped.graph.initializer[0];
    assert.equal(t.dataLocation, 0);
    assert.deepEqual(new Uint8Array(t.rawData), new Uint8Array(raw));
    assert.equal(tapped.graph.output.at(-1).name, tap);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
