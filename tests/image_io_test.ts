// Tests of inspector/image_io.ts: PNG/JPEG decoding and encoding, the antialiased resize (against
// a NumPy implementation of PIL's triangle-filter resampling and exact analytic cases) and the
// frame normalisation.

import assert from "node:assert/strict";
import * as jpeg from "npm:jpeg-js@0.4.4";
import {
  axisWeights,
  decodeImage,
  detectImageFormat,
  frameToTensor,
  resizeRgb,
  type RgbaImage,
} from "../inspector/image_io.ts";
import { InspectorError } from "../core/errors.ts";
import { encodePng } from "../render/png.ts";
import { HAVE_REAL_FRAMES, haveNumpy, REAL_FRAMES } from "./helpers.ts";

const HAS_NUMPY = haveNumpy();
if (!HAS_NUMPY) console.warn("image_io_test: python3 with numpy not found, skipping NumPy checks");

if (!HAVE_REAL_FRAMES) {
  console.warn(`image_io_test: ${REAL_FRAMES} absent, skipping real-frame checks`);
}

/** Deterministic pseudo-random bytes (xorshift32). */
function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}

function image(width: number, height: number, f: (x: number, y: number, c: number) => number) {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 4; c++) data[(y * width + x) * 4 + c] = c === 3 ? 255 : f(x, y, c);
    }
  }
  return { width, height, data };
}

async function python(script: string, args: string[]): Promise<string> {
  const r = await new Deno.Command("python3", { args: ["-c", script, ...args] }).output();
  const err = new TextDecoder().decode(r.stderr);
  assert.ok(r.success, `python3 failed: ${err}`);
  return new TextDecoder().decode(r.stdout);
}

// ---------------------------------------------------------------- PNG

Deno.test("encodePng then decodeImage returns the exact pixels", () => {
  const w = 19, h = 7;
  const data = randomBytes(w * h * 4, 7);
  const png = encodePng({ width: w, height: h, data });
  assert.equal(detectImageFormat(png), "png");
  const back = decodeImage(png, { name: "x.png" });
  assert.equal(back.width, w);
  assert.equal(back.height, h);
  assert.deepEqual(back.data, data);
  // The same pixels give the same bytes.
  assert.deepEqual(encodePng({ width: w, height: h, data }), png);
  assert.throws(() => encodePng({ width: w + 1, height: h, data }), RangeError);
});

const PY_PNG_READ = `
import sys, zlib, struct, numpy as np
b = open(sys.argv[1], 'rb').read()
assert b[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
pos, idat = 8, b''
while pos < len(b):
    n, = struct.unpack('>I', b[pos:pos+4]); t = b[pos+4:pos+8]; d = b[pos+8:pos+8+n]; pos += 12 + n
    if t == b'IHDR': w, h, depth, ct = struct.unpack('>IIBB', d[:10])
    if t == b'IDAT': idat += d
assert depth == 8 and ct in (2, 6)
bpp = 4 if ct == 6 else 3
raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * bpp)
out, prev = np.zeros((h, w * bpp), np.int64), np.zeros(w * bpp, np.int64)
for y in range(h):
    f, line = raw[y, 0], raw[y, 1:].astype(np.int64); cur = np.zeros(w * bpp, np.int64)
    for i in range(w * bpp):
        a = cur[i - bpp] if i >= bpp else 0; up = prev[i]; c = prev[i - bpp] if i >= bpp else 0
        if f == 0: p = 0
        elif f == 1: p = a
        elif f == 2: p = up
        elif f == 3: p = (a + up) // 2
        else:
            pa, pb, pc = abs(up - c), abs(a - c), abs(a + up - 2 * c)
            p = a if (pa <= pb and pa <= pc) else (up if pb <= pc else c)
        cur[i] = (line[i] + p) & 255
    out[y] = cur; prev = cur
out = out.reshape(h, w, bpp)
if bpp == 3: out = np.concatenate([out, np.full((h, w, 1), 255, np.int64)], -1)
sys.stdout.write(f"{w} {h} " + out.astype(np.uint8).tobytes().hex())
`;

Deno.test({
  name: "encodePng output is read by an independent PNG decoder (python zlib + unfilter)",
  ignore: !HAS_NUMPY,
  fn: async () => {
    const w = 13, h = 9;
    // A mix of smooth, repeated and noisy rows so that the encoder uses both its filters.
    const data = image(w, h, (x, y, c) => (y % 3 === 0 ? (x * 20 + c * 40) & 255 : 0));
    const noise = randomBytes(w * h * 4, 3);
    for (let i = 0; i < data.data.length; i++) if ((i >> 2) % 5 === 1) data.data[i] = noise[i];
    // Opaque (written as RGB) and translucent (written as RGBA).
    const opaque = { ...data, data: data.data.map((v, i) => i % 4 === 3 ? 255 : v) };
    const dir = await Deno.makeTempDir();
    try {
      for (const img of [data, opaque]) {
        await Deno.writeFile(`${dir}/a.png`, encodePng(img));
        const [pw, ph, hex] = (await python(PY_PNG_READ, [`${dir}/a.png`])).split(" ");
        assert.equal(Number(pw), w);
        assert.equal(Number(ph), h);
        const bytes = Uint8Array.from(hex.match(/../g)!.map((s) => parseInt(s, 16)));
        assert.deepEqual(bytes, img.data);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const PY_PNG_WRITE = `
import sys, zlib, struct, numpy as np
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
def write(path, arr, ct):
    h, w = arr.shape[:2]
    raw = b''.join(b'\\x00' + arr[y].tobytes() for y in range(h))
    png = b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, ct, 0, 0, 0))
    png += chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
    open(path, 'wb').write(png)
y, x = np.mgrid[0:6, 0:11]
rgb = np.stack([x * 23, y * 40, (x * y * 7) % 256], -1).astype(np.uint8)
write(sys.argv[1] + '/rgb.png', rgb, 2)
write(sys.argv[1] + '/grey.png', ((x * 13 + y * 29) % 256).astype(np.uint8), 0)
`;

Deno.test({
  name: "decodeImage reads RGB and greyscale PNGs written by python as RGBA",
  ignore: !HAS_NUMPY,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      await python(PY_PNG_WRITE, [dir]);
      const rgb = decodeImage(await Deno.readFile(`${dir}/rgb.png`));
      const grey = decodeImage(await Deno.readFile(`${dir}/grey.png`));
      for (const img of [rgb, grey]) assert.deepEqual([img.width, img.height], [11, 6]);
      for (let y = 0; y < 6; y++) {
        for (let x = 0; x < 11; x++) {
          const i = (y * 11 + x) * 4;
          assert.deepEqual([...rgb.data.subarray(i, i + 4)], [
            (x * 23) & 255,
            y * 40,
            (x * y * 7) % 256,
            255,
          ]);
          const g = (x * 13 + y * 29) % 256;
          assert.deepEqual([...grey.data.subarray(i, i + 4)], [g, g, g, 255]);
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------- JPEG

Deno.test("JPEG round trip stays within JPEG tolerance; format comes from the bytes", () => {
  const w = 48, h = 32;
  const src = image(w, h, (x, y, c) => [x * 5, y * 7, 128 + ((x - y) * 2)][c]);
  const jpg = jpeg.encode(src, 95).data as Uint8Array;
  assert.equal(detectImageFormat(jpg), "jpeg");
  const back = decodeImage(jpg, { name: "frame.png" }); // misleading name: bytes decide
  assert.deepEqual([back.width, back.height], [w, h]);
  let sum = 0, max = 0;
  for (let i = 0; i < src.data.length; i++) {
    const d = Math.abs(back.data[i] - src.data[i]);
    sum += d;
    max = Math.max(max, d);
    if (i % 4 === 3) assert.equal(back.data[i], 255);
  }
  const mean = sum / src.data.length;
  assert.ok(mean < 1.5, `mean abs error ${mean}`);
  assert.ok(max <= 16, `max abs error ${max}`);
});

Deno.test({
  name: "decodeImage reads the real 320x240 JPEG frames",
  ignore: !HAVE_REAL_FRAMES,
  fn: async () => {
    const img = decodeImage(await Deno.readFile(`${REAL_FRAMES}/img_00001.jpg`));
    assert.deepEqual([img.width, img.height], [320, 240]);
    let sum = 0;
    for (let i = 0; i < img.data.length; i += 4) sum += img.data[i] + img.data[i + 1];
    const mean = sum / (img.data.length / 2);
    assert.ok(mean > 20 && mean < 235, `implausible mean ${mean}`);
  },
});

Deno.test("decodeImage rejects unknown, truncated and corrupt data naming the file", () => {
  const png = encodePng({ width: 16, height: 16, data: randomBytes(16 * 16 * 4, 5) });
  const jpg = jpeg.encode(image(16, 16, (x) => x * 10), 90).data as Uint8Array;
  const cases: [Uint8Array, RegExp][] = [
    [new TextEncoder().encode("GIF89a not an image"), /clip\/f\.png.*not a PNG or JPEG/],
    [new Uint8Array(0), /not a PNG or JPEG/],
    [png.slice(0, png.length - 30), /clip\/f\.png.*corrupt or truncated PNG/],
    [jpg.slice(0, 40), /clip\/f\.png.*corrupt or truncated JPEG/],
  ];
  const flipped = png.slice();
  flipped[40] ^= 0xff; // inside IDAT: zlib or CRC failure
  cases.push([flipped, /clip\/f\.png.*corrupt/]);
  for (const [bytes, re] of cases) {
    assert.throws(() => decodeImage(bytes, { name: "clip/f.png" }), (err: unknown) => {
      assert.ok(err instanceof InspectorError, String(err));
      assert.match(err.message, re);
      assert.ok(!err.message.includes("\n"));
      return true;
    });
  }
});

// ---------------------------------------------------------------- resize

Deno.test("axisWeights: PIL's triangle coefficients, rows sum to 1", () => {
  const w = axisWeights(4, 2);
  assert.deepEqual([...w.start], [0, 1]);
  assert.deepEqual([...w.count], [3, 3]);
  const row = (i: number) => [...w.weights.subarray(i * w.kernelSize, i * w.kernelSize + 3)];
  row(0).forEach((v, k) => assert.ok(Math.abs(v - [3 / 7, 3 / 7, 1 / 7][k]) < 1e-12));
  row(1).forEach((v, k) => assert.ok(Math.abs(v - [1 / 7, 3 / 7, 3 / 7][k]) < 1e-12));
  // Upscaling 2 -> 4: bilinear with half-pixel centres, edges clamped.
  const u = axisWeights(2, 4);
  const expect = [[1], [0.75, 0.25], [0.25, 0.75], [1]];
  for (let i = 0; i < 4; i++) {
    const got = [...u.weights.subarray(i * u.kernelSize, i * u.kernelSize + u.count[i])];
    assert.deepEqual(got.map((v) => Math.round(v * 1e12) / 1e12), expect[i]);
  }
  for (const [a, b] of [[320, 112], [7, 30], [100, 99], [5, 5]]) {
    const x = axisWeights(a, b);
    for (let i = 0; i < b; i++) {
      let s = 0;
      for (let k = 0; k < x.count[i]; k++) s += x.weights[i * x.kernelSize + k];
      assert.ok(Math.abs(s - 1) < 1e-12);
      assert.ok(x.start[i] >= 0 && x.start[i] + x.count[i] <= a);
    }
  }
});

const PY_RESIZE = `
import sys, numpy as np
def coeffs(n_in, n_out):
    scale = n_in / n_out; fs = max(scale, 1.0); support = fs
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        c = (i + 0.5) * scale
        lo = max(int(c - support + 0.5), 0); hi = min(int(c + support + 0.5), n_in)
        x = np.arange(lo, hi)
        w = np.maximum(0.0, 1.0 - np.abs((x - c + 0.5) / fs))
        m[i, lo:hi] = w / w.sum()
    return m
path, w, h, ow, oh = sys.argv[1], *map(int, sys.argv[2:6])
img = np.fromfile(path, np.uint8).reshape(h, w, 4)[..., :3].astype(np.float64)
wx, wy = coeffs(w, ow), coeffs(h, oh)
out = np.stack([wy @ img[..., c] @ wx.T for c in range(3)])
out.astype('<f8').tofile(path + '.out')
`;

Deno.test({
  name: "resizeRgb matches a NumPy implementation of PIL's antialiased bilinear resize",
  ignore: !HAS_NUMPY,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const cases = [[37, 23, 16, 16], [10, 7, 24, 31], [40, 9, 13, 20], [320, 240, 112, 112], [
        33,
        33,
        33,
        10,
      ]];
      for (const [w, h, ow, oh] of cases) {
        const img: RgbaImage = { width: w, height: h, data: randomBytes(w * h * 4, w * 31 + h) };
        const path = `${dir}/img_${w}x${h}`;
        await Deno.writeFile(path, img.data);
        await python(PY_RESIZE, [path, String(w), String(h), String(ow), String(oh)]);
        const ref = new Float64Array((await Deno.readFile(path + ".out")).buffer);
        const got = resizeRgb(img, { width: ow, height: oh });
        assert.deepEqual([got.width, got.height, got.data.length], [ow, oh, ref.length]);
        let max = 0;
        for (let i = 0; i < ref.length; i++) max = Math.max(max, Math.abs(got.data[i] - ref[i]));
        assert.ok(max < 1e-3, `${w}x${h}->${ow}x${oh}: max abs diff ${max}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("resizeRgb analytic cases: constant, linear ramp, checkerboard mean, no aliasing", () => {
  // Constant images stay constant, up or down, alpha ignored.
  const flat = image(30, 20, (_x, _y, c) => [10, 200, 77][c]);
  flat.data.forEach((_, i) => i % 4 === 3 && (flat.data[i] = i % 7));
  for (const [ow, oh] of [[7, 5], [64, 48], [30, 9]]) {
    const r = resizeRgb(flat, { width: ow, height: oh });
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < ow * oh; i++) {
        assert.ok(Math.abs(r.data[c * ow * oh + i] - [10, 200, 77][c]) < 1e-9);
      }
    }
  }
  // A linear ramp in x stays linear (away from the clamped edges): up by 3 and down by 2.
  const ramp = image(40, 4, (x) => 3 * x + 10);
  const up = resizeRgb(ramp, { width: 120, height: 4 });
  for (let i = 2; i < 118; i++) {
    const srcX = (i + 0.5) / 3 - 0.5;
    assert.ok(Math.abs(up.data[i] - (3 * srcX + 10)) < 1e-9, `up ${i}`);
  }
  const down = resizeRgb(ramp, { width: 20, height: 4 });
  for (let i = 1; i < 19; i++) {
    const srcX = (i + 0.5) * 2 - 0.5;
    assert.ok(Math.abs(down.data[i] - (3 * srcX + 10)) < 1e-9, `down ${i}`);
  }
  // Halving a one-pixel checkerboard gives its mean everywhere away from the border.
  const checker = image(16, 16, (x, y) => ((x + y) % 2 ? 250 : 50));
  const half = resizeRgb(checker, { width: 8, height: 8 });
  for (let y = 1; y < 7; y++) {
    for (let x = 1; x < 7; x++) assert.ok(Math.abs(half.data[y * 8 + x] - 150) < 1e-9);
  }
  // Downscaling fine stripes by 4 averages them (a non-antialiased resize would alias to 0/255).
  const stripes = image(64, 8, (x) => (x % 2 ? 255 : 0));
  const quarter = resizeRgb(stripes, { width: 16, height: 8 });
  for (let x = 1; x < 15; x++) assert.ok(Math.abs(quarter.data[x] - 127.5) < 1e-9);
  // Same size: an exact copy; writing into an existing array at an offset.
  const same = resizeRgb(checker, { width: 16, height: 16 });
  assert.equal(same.data[0], 50);
  assert.equal(same.data[1], 250);
  const out = new Float32Array(5 + 3 * 16 * 16).fill(-1);
  const view = resizeRgb(checker, { width: 16, height: 16, out, offset: 5 });
  assert.equal(out[4], -1);
  assert.equal(out[5], 50);
  assert.equal(view.data.length, 3 * 256);
  assert.throws(() => resizeRgb(checker, { width: 16, height: 16, out, offset: 6 }), RangeError);
});

// ---------------------------------------------------------------- normalisation

Deno.test("frameToTensor scales to [0,1] and normalises with mean/std per channel", () => {
  const png = encodePng(image(9, 5, (_x, _y, c) => [255, 128, 0][c]));
  const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
  const t = frameToTensor(png, { size: 4, mean, std });
  assert.equal(t.length, 3 * 16);
  const expect = [(1 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (0 - 0.406) / 0.225];
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < 16; i++) assert.ok(Math.abs(t[c * 16 + i] - expect[c]) < 1e-6);
  }
  assert.ok(Math.abs(expect[0] - 2.2489082969432315) < 1e-12); // the ImageNet maximum for red
});
