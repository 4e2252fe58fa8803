import assert from "node:assert/strict";
import { join } from "node:path";
import {
  decodePlainNpy,
  encodePlainNpy,
  parseNpyHeader,
  StructuredNpyReader,
  StructuredNpyWriter,
} from "../core/npy.ts";
import { InspectorError } from "../core/errors.ts";
import { haveNumpy, maxAbsDiff, python, skip, tempDir } from "./helpers.ts";

function ramp(n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * scale);
}

Deno.test("npy: plain round trip and header", () => {
  const data = ramp(24);
  const bytes = encodePlainNpy(data, [2, 3, 4]);
  assert.deepEqual(bytes.length % 64, 0 + (data.byteLength % 64));
  const h = parseNpyHeader(bytes);
  assert.deepEqual(h.shape, [2, 3, 4]);
  assert.deepEqual(h.scalar, "f4");
  assert.deepEqual(h.dataOffset % 64, 0);
  const back = decodePlainNpy(bytes);
  assert.deepEqual(Array.from(back.data), Array.from(data));
});

Deno.test("npy: truncated and foreign files give clear errors", () => {
  const bytes = encodePlainNpy(ramp(10), [10]);
  assert.throws(
    () => decodePlainNpy(bytes.subarray(0, bytes.length - 4), "x.npy"),
    (e: Error) => e instanceof InspectorError && e.message.includes("truncated"),
  );
  assert.throws(
    () => decodePlainNpy(new TextEncoder().encode("hello world!"), "x.npy"),
    (e: Error) => e instanceof InspectorError && e.message.includes("not a NumPy"),
  );
});

Deno.test("npy: structured writer streams fields; reader reads them back", async () => {
  const dir = tempDir();
  const path = join(dir, "f.npy");
  const fields = [
    { name: "conv1", scalar: "f4" as const, shape: [4, 5, 5] },
    { name: "layer1", scalar: "f4" as const, shape: [8, 3, 3] },
  ];
  const w = await StructuredNpyWriter.create(path, { shape: [2, 3], fields });
  const expect = new Map<string, Float32Array>();
  // write layer by layer (the streaming order), records out of order
  for (const f of fields) {
    const per = f.shape.reduce((a, b) => a * b, 1);
    for (const r of [5, 0, 3, 1, 4, 2]) {
      const d = ramp(per, r + 1 + f.name.length);
      expect.set(`${f.name}:${r}`, d);
      await w.writeField(f.name, r, d);
    }
  }
  await assert.rejects(() => Deno.stat(path)); // not visible before commit
  await w.commit();
  using rd = await StructuredNpyReader.open(path);
  assert.deepEqual(rd.fieldNames, ["conv1", "layer1"]);
  assert.deepEqual(rd.header.shape, [2, 3]);
  for (const [k, v] of expect) {
    const [name, r] = k.split(":");
    assert.deepEqual(maxAbsDiff(await rd.readField(name, Number(r)), v), 0);
  }
  await assert.rejects(
    () => rd.readField("layer9", 0),
    (e: Error) => e instanceof InspectorError && e.message.includes("holds: conv1, layer1"),
  );
});

Deno.test("npy: NumPy reads the structured file (float32 and float16)", async () => {
  if (!haveNumpy()) return skip("python3 with numpy not available");
  const dir = tempDir();
  for (const scalar of ["f4", "f2"] as const) {
    const path = join(dir, `f_${scalar}.npy`);
    const fields = [{ name: "layer1", scalar, shape: [3, 2, 2] }, {
      name: "x/y",
      scalar,
      shape: [5],
    }];
    const w = await StructuredNpyWriter.create(path, { shape: [1, 2], fields });
    await w.writeField("layer1", 0, ramp(12, 1));
    await w.writeField("layer1", 1, ramp(12, 2));
    await w.writeField("x/y", 0, ramp(5, 3));
    await w.writeField("x/y", 1, ramp(5, 4));
    await w.commit();
    const r = await python(
      `import numpy as np, json, sys
a = np.load(sys.argv[1])
print(json.dumps({"names": list(a.dtype.names), "shape": list(a.shape),
  "sub": list(a["layer1"][0, 1].shape), "dt": a.dtype["layer1"].base.str,
  "v": a["layer1"][0, 1].ravel().astype(float).tolist(), "w": a["x/y"][0, 0].astype(float).tolist()}))`,
      [path],
    ) as { names: string[]; shape: number[]; sub: number[]; dt: string; v: number[]; w: number[] };
    assert.deepEqual(r.names, ["layer1", "x/y"]);
    assert.deepEqual(r.shape, [1, 2]);
    assert.deepEqual(r.sub, [3, 2, 2]);
    assert.deepEqual(r.dt, scalar === "f4" ? "<f4" : "<f2");
    const tol = scalar === "f4" ? 0 : 2e-3;
    assert.ok(maxAbsDiff(r.v, ramp(12, 2)) <= tol * 2);
    assert.ok(maxAbsDiff(r.w, ramp(5, 3)) <= tol * 3);
  }
});

Deno.test("npy: reads files NumPy wrote (plain and structured)", async () => {
  if (!haveNumpy()) return skip("python3 with numpy not available");
  const dir = tempDir();
  await python(
    `import numpy as np, sys, json
np.save(sys.argv[1] + "/plain.npy", np.arange(24, dtype=np.float64).reshape(2, 3, 4))
a = np.zeros((2, 1), dtype=[("conv1", "<f2", (2, 3)), ("layer1", "<f4", (4,))])
a["conv1"] = np.arange(12).reshape(2, 1, 2, 3) / 4
a["layer1"] = -np.arange(8).reshape(2, 1, 4)
np.save(sys.argv[1] + "/struct.npy", a)
print("{}")`,
    [dir],
  );
  const p = decodePlainNpy(await Deno.readFile(join(dir, "plain.npy")));
  assert.deepEqual(p.shape, [2, 3, 4]);
  assert.deepEqual(p.data[23], 23);
  using s = await StructuredNpyReader.open(join(dir, "struct.npy"));
  assert.deepEqual(Array.from(await s.readField("conv1", 1)), [1.5, 1.75, 2, 2.25, 2.5, 2.75]);
  assert.deepEqual(Array.from(await s.readField("layer1", 1)), [-4, -5, -6, -7]);
});
