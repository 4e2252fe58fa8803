// Input pipelines of real models (issue 14 item 5): inspector/preprocess.ts against torchvision
// (Resize + CenterCrop on PIL images) and MobileNetV2 fed from its real photos.
import assert from "node:assert/strict";
import { join } from "node:path";
import * as ort from "npm:onnxruntime-web@1.30.0";
import { decodeImage } from "../inspector/image_io.ts";
import {
  centreCropOrigin,
  parseFrameSize,
  parseResize,
  preprocessImage,
  resizedSize,
} from "../inspector/preprocess.ts";
import { encodePng } from "../render/png.ts";
// Imported statically: a dynamic import here, after the test above, left the decode worker's
// answer undelivered (a Deno module-loading quirk seen only in the test runner).
import { runInspect } from "../inspector/run_inspect.ts";
import { exists, ROOT, skip } from "./helpers.ts";

ort.env.wasm.numThreads = 1;

const MOBILENET = join(ROOT, "..", "shared", "real", "mobilenetv2_int8");
const PY = "/usr/bin/python3";

function haveTorchvision(): boolean {
  try {
    const r = new Deno.Command(PY, { args: ["-c", "import torchvision, PIL"] }).outputSync();
    return r.success;
  } catch {
    return false;
  }
}

Deno.test("preprocess: sizes and resize rules parse, bad ones name the option", () => {
  assert.deepEqual(parseFrameSize("240x320"), { height: 240, width: 320 });
  assert.deepEqual(parseFrameSize("64"), { height: 64, width: 64 });
  assert.throws(() => parseFrameSize("0x3"), /options.size "0x3"/);
  assert.deepEqual(parseResize("long:320"), { kind: "long", length: 320 });
  assert.throws(() => parseResize("short:0"), /short:N/);
  // torchvision: Resize(256) on 640x480 (WxH) gives 341x256; a portrait frame keeps its aspect.
  assert.deepEqual(resizedSize({ height: 480, width: 640 }, { kind: "short", length: 256 }), {
    height: 256,
    width: 341,
  });
  assert.deepEqual(resizedSize({ height: 500, width: 375 }, { kind: "short", length: 256 }), {
    height: 341,
    width: 256,
  });
  assert.deepEqual(resizedSize({ height: 480, width: 640 }, { kind: "long", length: 320 }), {
    height: 240,
    width: 320,
  });
  // round half to even, as Python's round: (225 - 224) / 2 = 0.5 -> 0, (227 - 224) / 2 = 1.5 -> 2
  assert.deepEqual(centreCropOrigin({ height: 225, width: 227 }, { height: 224, width: 224 }), {
    top: 0,
    left: 2,
  });
  assert.throws(
    () => centreCropOrigin({ height: 100, width: 300 }, { height: 224, width: 224 }),
    /options.crop 224x224 is larger/,
  );
});

Deno.test("preprocess: resize short + centre crop equals torchvision Resize + CenterCrop", async () => {
  if (!haveTorchvision()) return skip("python3 with torchvision/PIL absent");
  const dir = await Deno.makeTempDir();
  try {
    // A deterministic non-square RGB frame, 37 high x 61 wide, with structure on both axes.
    const width = 61, height = 37;
    const data = new Uint8Array(width * height * 4);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const p = (y * width + x) * 4;
        data[p] = (x * 7 + y * 3) % 256;
        data[p + 1] = (x * y * 5) % 256;
        data[p + 2] = ((x - y) * (x - y)) % 256;
        data[p + 3] = 255;
      }
    }
    const png = join(dir, "frame.png");
    await Deno.writeFile(png, encodePng({ width, height, data }));
    const cases = [
      { resize: "short:20", crop: "16x18", order: "rgb" },
      { resize: "long:90", crop: "40", order: "bgr" },
    ];
    for (const c of cases) {
      const crop = parseFrameSize(c.crop);
      const resize = parseResize(c.resize);
      const ours = preprocessImage(decodeImage(await Deno.readFile(png)), {
        resize,
        crop,
        channelOrder: c.order as "rgb" | "bgr",
        scale: 255,
        mean: [10, 20, 30],
        std: [2, 4, 8],
      });
      const target = resizedSize({ height, width }, resize);
      const resizeLine = resize.kind === "short"
        ? `img = T.Resize(${resize.length}, interpolation=T.InterpolationMode.BILINEAR)(img)`
        : `img = img.resize((${target.width}, ${target.height}), Image.BILINEAR)`;
      const script = [
        "import sys, numpy as np, torchvision.transforms as T",
        "from PIL import Image",
        "img = Image.open(sys.argv[1]).convert('RGB')",
        resizeLine,
        `img = T.CenterCrop((${crop.height}, ${crop.width}))(img)`,
        "a = np.asarray(img).astype(np.float64).transpose(2, 0, 1)",
        c.order === "bgr" ? "a = a[::-1]" : "",
        "a = (a - np.array([10, 20, 30.])[:, None, None]) / np.array([2, 4, 8.])[:, None, None]",
        "sys.stdout.write(' '.join(repr(float(v)) for v in a.ravel()))",
      ].join("\n");
      const r = new Deno.Command(PY, { args: ["-c", script, png] }).outputSync();
      assert.ok(r.success, new TextDecoder().decode(r.stderr));
      const ref = new TextDecoder().decode(r.stdout).split(" ").map(Number);
      assert.deepEqual([ours.height, ours.width], [crop.height, crop.width]);
      assert.equal(ours.data.length, ref.length);
      // PIL rounds to 8 bits after each of its two passes (under 1 of 255), then / std (>= 2).
      let worst = 0;
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours.data[i] - ref[i]));
      assert.ok(worst <= 1 / 2 + 1e-4, `${c.resize} ${c.crop}: worst ${worst}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("preprocess: MobileNetV2 from its real photos (short:256, crop 224) gets each top-1", async () => {
  if (!exists(join(MOBILENET, "model.onnx"))) return skip("../shared/real/mobilenetv2_int8 absent");
  const rows = (await Deno.readTextFile(join(MOBILENET, "eval_manifest.csv"))).trim().split("\n")
    .slice(1).map((l) => l.split(","));
  assert.ok(rows.length >= 5);
  const session = await ort.InferenceSession.create(join(MOBILENET, "model.onnx"), {
    executionProviders: ["wasm"],
  });
  // quantization_report.md (the model's own repo): tiger_cat.jpg is "jaguar" (290) with the FP32,
  // FP16 and INT8 models alike; every other photo gets its label.
  const knownMiss: Record<string, number> = { "tiger_cat.jpg": 290 };
  let correct = 0, seen = 0;
  try {
    for (const [file, label] of rows) {
      if (!exists(join(MOBILENET, "images", file))) {
        skip(`${file} is in eval_manifest.csv but not in images/`);
        continue;
      }
      seen++;
      const img = decodeImage(await Deno.readFile(join(MOBILENET, "images", file)), { name: file });
      const t = preprocessImage(img, {
        resize: parseResize("short:256"),
        crop: parseFrameSize("224"),
        channelOrder: "rgb",
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
      });
      const out = await session.run({ input: new ort.Tensor("float32", t.data, [1, 3, 224, 224]) });
      const logits = out.output.data as Float32Array;
      assert.equal(logits.length, 1000);
      let best = 0;
      for (let k = 1; k < logits.length; k++) if (logits[k] > logits[best]) best = k;
      const want = knownMiss[file] ?? Number(label);
      assert.equal(best, want, `${file}: top-1 ${best}, manifest ${label}, expected ${want}`);
      if (best === Number(label)) correct++;
    }
    assert.ok(seen >= 6, `only ${seen} photos found`);
    assert.equal(correct, seen - Object.keys(knownMiss).length);
  } finally {
    await session.release();
  }
});

Deno.test("preprocess: inspect --resize short:256 --crop 224 on MobileNetV2's photos gets each top-1", async () => {
  if (!exists(join(MOBILENET, "model.onnx"))) return skip("../shared/real/mobilenetv2_int8 absent");
  const rows = (await Deno.readTextFile(join(MOBILENET, "eval_manifest.csv"))).trim().split("\n")
    .slice(1).map((l) => l.split(",")).filter(([f]) => exists(join(MOBILENET, "images", f)));
  const dir = await Deno.makeTempDir();
  try {
    // One clip folder per photo (names keep the manifest's order: natural order of c0, c1 ...).
    for (const [k, [file]] of rows.entries()) {
      await Deno.mkdir(join(dir, "clips", `c${k}`), { recursive: true });
      await Deno.copyFile(join(MOBILENET, "images", file), join(dir, "clips", `c${k}`, file));
    }
    const r = await runInspect({
      checkpoint: join(MOBILENET, "model.onnx"),
      dset: join(dir, "clips"),
      batchSize: rows.length,
      maxLen: 1,
      size: 224,
      resize: "short:256",
      crop: "224",
      layers: ["features.0"],
      ep: "wasm",
      threads: 1,
      saveDir: join(dir, "out"),
    });
    const m = JSON.parse(await Deno.readTextFile(r.json));
    assert.equal(m.data.preprocessing.resize, "short:256 (aspect kept)");
    assert.equal(m.data.preprocessing.crop, "centre 224x224");
    const out = r.extraction.modelOutputs.output;
    assert.deepEqual(out.dims, [rows.length, 1000]);
    const knownMiss: Record<string, number> = { "tiger_cat.jpg": 290 }; // see the test above
    for (const [b, [file, label]] of rows.entries()) {
      const logits = out.data.subarray(b * 1000, (b + 1) * 1000);
      let best = 0;
      for (let k = 1; k < 1000; k++) if (logits[k] > logits[best]) best = k;
      const want = knownMiss[file] ?? Number(label);
      assert.equal(best, want, `${file}: top-1 ${best}, manifest ${label}, expected ${want}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
