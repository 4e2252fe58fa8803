/**
 * Hostile and unlucky inputs (issue 17, items 2, 5 and 6), each built here: PNG decompression
 * bombs and corrupt data streams, FIFOs and devices where a file is expected, and ONNX external
 * data that points out of the model's folder. Every case ends quickly with one clear error.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import pngjs from "npm:pngjs@7.0.0";
import onnxproto from "npm:onnx-proto@8.0.1";
import { decodeImage, MAX_FRAME_PIXELS } from "../inspector/image_io.ts";
import { loadOnnxModel } from "../inspector/onnx_model.ts";
import { loadClips } from "../inspector/clips.ts";
import { readDatasetConfig } from "../inspector/datasets.ts";
import { readPlainNpy, StructuredNpyReader } from "../core/npy.ts";
import { readFeatures } from "../core/run_folder.ts";
import { encodePng } from "../render/png.ts";
import { prng, ROOT, tempDir } from "./helpers.ts";
import { RESNET_LAYERS, writeSynthetic } from "./analyze_data.ts";

// deno-lint-ignore no-explicit-any
const { onnx } = onnxproto as any;
const FIXTURE = join(ROOT, "fixtures", "resnet18_video.onnx");
const CLIP = join(ROOT, "fixtures", "clips", "c01_bars");

// ---- PNG building ----

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, body.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(body, 8);
  dv.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)) >>> 0);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

interface PngSpec {
  width: number;
  height: number;
  colorType?: number;
  depth?: number;
  interlace?: boolean;
  /** The compressed data stream (valid chunk CRCs whatever it holds). */
  idat: Uint8Array;
  extra?: Uint8Array[]; // chunks between IHDR and IDAT (PLTE, tRNS)
}

function png(spec: PngSpec): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, spec.width);
  dv.setUint32(4, spec.height);
  ihdr[8] = spec.depth ?? 8;
  ihdr[9] = spec.colorType ?? 2;
  ihdr[12] = spec.interlace ? 1 : 0;
  return concat([
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    ...(spec.extra ?? []),
    chunk("IDAT", spec.idat),
    chunk("IEND", new Uint8Array()),
  ]);
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Adam7 pass sizes (as PNG defines them) or the one full image. */
function passes(w: number, h: number, interlaced: boolean): [number, number][] {
  if (!interlaced) return [[w, h]];
  const start = [[0, 0], [4, 0], [0, 4], [2, 0], [0, 2], [1, 0], [0, 1]];
  const step = [[8, 8], [8, 8], [4, 8], [4, 4], [2, 4], [2, 2], [1, 2]];
  return start.map(([x0, y0], i): [number, number] => [
    Math.max(0, Math.ceil((w - x0) / step[i][0])),
    Math.max(0, Math.ceil((h - y0) / step[i][1])),
  ]).filter(([pw, ph]) => pw > 0 && ph > 0);
}

/** Random scanlines (random filter types too) of exactly the size the header declares. */
function randomScanlines(
  w: number,
  h: number,
  colorType: number,
  depth: number,
  interlaced: boolean,
  rnd: () => number,
): Uint8Array {
  const rows: number[] = [];
  for (const [pw, ph] of passes(w, h, interlaced)) {
    const rowBytes = Math.ceil((pw * CHANNELS[colorType] * depth) / 8);
    for (let y = 0; y < ph; y++) {
      rows.push(Math.floor(rnd() * 5));
      for (let x = 0; x < rowBytes; x++) {
        rows.push(Math.floor(rnd() * 256)); // palette: 256 entries, any index is in it
      }
    }
  }
  return new Uint8Array(rows);
}

// ---- running the tools ----

/** Run a CLI script; killed (and reported as timed out) after `ms`. */
async function runTool(
  script: string,
  args: string[],
  ms = 45_000,
): Promise<{ code: number; stderr: string; timedOut: boolean; seconds: number }> {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", join(ROOT, script), ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, ms);
  const r = await child.output();
  clearTimeout(timer);
  return {
    code: r.code,
    stderr: new TextDecoder().decode(r.stderr),
    timedOut,
    seconds: (performance.now() - t0) / 1000,
  };
}

function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** Run inspect or analyze and expect it to end quickly with one `error:` line and no output. */
async function expectToolError(script: string, args: string[], pattern: RegExp): Promise<void> {
  const out = join(tempDir(), "out");
  const r = await runTool(script, [...args, "--save_dir", out]);
  assert.ok(
    !r.timedOut,
    `${script} ${args.join(" ")} hung (killed after ${r.seconds.toFixed(0)} s)`,
  );
  assert.notEqual(r.code, 0, `expected failure for ${args.join(" ")}: ${r.stderr}`);
  const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(lines.length, 1, `one error line expected, got: ${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.deepEqual(listDir(out), [], `output left behind: ${listDir(out)}`);
}

function mkfifo(path: string): string {
  const r = new Deno.Command("mkfifo", { args: [path] }).outputSync();
  assert.ok(r.success, `mkfifo ${path}: ${new TextDecoder().decode(r.stderr)}`);
  return path;
}

/**
 * Run `op`, which is handed a FIFO; when it has not settled after `ms` it is stuck opening or
 * reading the FIFO: open the FIFO for writing and close it, so that the read sees its end and the
 * test can fail instead of hanging.
 */
async function withinSeconds<T>(fifo: string, op: Promise<T>, ms = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<"hung">((r) => timer = setTimeout(() => r("hung"), ms));
  const first = await Promise.race([op.then(() => "done" as const, () => "done" as const), hung]);
  clearTimeout(timer);
  if (first === "hung") {
    (await Deno.open(fifo, { write: true })).close();
    await op.catch(() => {});
    assert.fail(`reading the FIFO ${fifo} hung`);
  }
  return await op;
}

// ---- 2. PNG decompression bombs and corrupt data ----

Deno.test("hostile PNG: a 57-byte file declaring 60000x60000 pixels is refused from its header", async () => {
  const bomb = png({ width: 60000, height: 60000, idat: new Uint8Array() });
  assert.equal(bomb.length, 57);
  assert.throws(
    () => decodeImage(bomb, { name: "clip/bomb.png" }),
    new RegExp(
      `^InspectorError: frame clip/bomb\\.png: PNG declares 60000x60000 pixels, over the limit ` +
        `of ${MAX_FRAME_PIXELS} \\(100 megapixels\\); downscale it`,
    ),
  );
  // With a deflate bomb behind it (1 MB of zeros here; 1.2 GB would compress to ~1.2 MB).
  const deflateBomb = png({
    width: 20000,
    height: 20000,
    idat: deflateSync(new Uint8Array(1 << 20)),
  });
  assert.throws(() => decodeImage(deflateBomb, { name: "b.png" }), /PNG declares 20000x20000/);
  // Through inspect: one line, quickly, nothing written.
  const clips = tempDir();
  await Deno.mkdir(join(clips, "c1"));
  for (let i = 0; i < 3; i++) {
    await Deno.copyFile(join(CLIP, `frame_000${i}.png`), join(clips, "c1", `frame_000${i}.png`));
  }
  await Deno.writeFile(join(clips, "c1", "frame_0003.png"), bomb);
  await expectToolError(
    "scripts/inspect.ts",
    ["--ep", "wasm", "--dset", clips, "--max_len", "4", "--batch_size", "1", "--layers", "conv1"],
    /^error: frame .*frame_0003\.png: PNG declares 60000x60000 pixels, over the limit of 100000000/,
  );
});

Deno.test("hostile JPEG: a frame header declaring 60000x60000 pixels is refused the same way", () => {
  // SOI, SOF0 (8-bit, 60000 x 60000, 3 components), then nothing.
  const sof = [0xff, 0xc0, 0, 17, 8, 0xea, 0x60, 0xea, 0x60, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1];
  const jpeg = new Uint8Array([0xff, 0xd8, ...sof, 0xff, 0xd9]);
  assert.throws(
    () => decodeImage(jpeg, { name: "big.jpg" }),
    /^InspectorError: frame big\.jpg: JPEG declares 60000x60000 pixels, over the limit of 100000000/,
  );
});

Deno.test("hostile PNG: a truncated, short or corrupt data stream is an error, not pixels", () => {
  const w = 64, h = 64;
  const raw = randomScanlines(w, h, 2, 8, false, prng(1));
  const good = deflateSync(raw);
  assert.equal(decodeImage(png({ width: w, height: h, idat: good })).width, 64);
  const cases: [string, Uint8Array, RegExp][] = [
    ["truncated stream", good.subarray(0, good.length >> 1), /unexpected end of file/],
    ["no checksum", good.subarray(0, good.length - 4), /unexpected end of file/],
    ["half the rows", deflateSync(raw.subarray(0, raw.length >> 1)), /holds 6176 of the 12352/],
    ["too many rows", deflateSync(concat([raw, raw])), /longer than the 64x64 pixels/],
  ];
  for (const [what, idat, why] of cases) {
    assert.throws(
      () => decodeImage(png({ width: w, height: h, idat }), { name: "f.png" }),
      (err: Error) => {
        assert.match(err.message, /^cannot decode frame f\.png: corrupt or truncated PNG \(/);
        assert.match(err.message, why, what);
        return true;
      },
      what,
    );
  }
  // 4000x4000 pixels declared, a few bytes of data: it used to "decode" to whatever memory held.
  const hollow = png({ width: 4000, height: 4000, idat: deflateSync(new Uint8Array(10)) });
  assert.throws(() => decodeImage(hollow, { name: "f.png" }), /holds 10 of the 48004000 bytes/);
  // A flipped bit in the data is caught by the chunk's CRC.
  const flipped = png({ width: w, height: h, idat: good });
  flipped[33 + 8 + 10] ^= 1; // inside IDAT's data
  assert.throws(
    () => decodeImage(flipped, { name: "f.png" }),
    /corrupt or truncated PNG \(Crc error/,
  );
});

Deno.test("hostile PNG: sound files of every colour type, depth and interlacing decode as pngjs does", () => {
  const rnd = prng(7);
  const palette = chunk("PLTE", new Uint8Array(256 * 3).map((_, i) => (i * 37) & 255));
  const variants: [number, number[]][] = [[0, [1, 2, 4, 8, 16]], [2, [8, 16]], [3, [1, 2, 4, 8]], [
    4,
    [8, 16],
  ], [6, [8, 16]]];
  let n = 0;
  for (const [colorType, depths] of variants) {
    for (const depth of depths) {
      for (const interlace of [false, true]) {
        for (const [w, h] of [[13, 7], [1, 1], [9, 17]]) {
          const extra = colorType === 3
            ? [palette, chunk("tRNS", new Uint8Array([0, 128, 255]))]
            : colorType === 0
            ? [chunk("tRNS", new Uint8Array([0, 1]))]
            : colorType === 2
            ? [chunk("tRNS", new Uint8Array([0, 1, 0, 2, 0, 3]))]
            : [];
          const raw = randomScanlines(w, h, colorType, depth, interlace, rnd);
          const bytes = png({
            width: w,
            height: h,
            colorType,
            depth,
            interlace,
            idat: deflateSync(raw),
            extra,
          });
          const ours = decodeImage(bytes, { name: "v.png" });
          const theirs = pngjs.PNG.sync.read(Buffer.from(bytes));
          const what = `type ${colorType} depth ${depth} interlace ${interlace} ${w}x${h}`;
          assert.equal(ours.width, theirs.width, what);
          assert.equal(ours.height, theirs.height, what);
          assert.deepEqual(ours.data, new Uint8Array(theirs.data), what);
          n++;
        }
      }
    }
  }
  assert.equal(n, 90);
  // And the committed fixture frames (written by pngjs) and an encodePng image.
  for (const name of ["frame_0000.png", "frame_0007.png"]) {
    const bytes = Deno.readFileSync(join(CLIP, name));
    assert.deepEqual(
      decodeImage(bytes).data,
      new Uint8Array(pngjs.PNG.sync.read(Buffer.from(bytes)).data),
    );
  }
  const img = { width: 5, height: 3, data: new Uint8Array(60).map((_, i) => i * 4) };
  assert.deepEqual(decodeImage(encodePng(img, { alpha: true })).data, img.data);
});

// ---- 5. FIFOs and devices where a file is expected ----

Deno.test("hostile files: a FIFO or /dev/zero as --checkpoint end within seconds with one line", async () => {
  const d = tempDir();
  const fifo = mkfifo(join(d, "model.onnx"));
  await expectToolError(
    "scripts/inspect.ts",
    ["--checkpoint", fifo],
    /^error: .*model\.onnx is not a regular file \(a FIFO\) and nothing wrote to it within 3 s: pass --checkpoint with an \.onnx file$/,
  );
  await assert.rejects(
    withinSeconds(fifo, loadOnnxModel(fifo)),
    /model\.onnx is not a regular file \(a FIFO\) and nothing wrote to it within 3 s: pass options\.checkpoint/,
  );
  await expectToolError(
    "scripts/inspect.ts",
    ["--checkpoint", "/dev/zero"],
    /^error: \/dev\/zero is not a regular file \(a character device\): pass --checkpoint/,
  );
  await assert.rejects(
    loadOnnxModel("/dev/zero"),
    /^InspectorError: \/dev\/zero is not a regular file \(a character device\): pass options\.checkpoint/,
  );
});

Deno.test("hostile files: a FIFO as a frame, as --input and as analyze's input", async () => {
  const d = tempDir();
  await Deno.mkdir(join(d, "clips", "c1"), { recursive: true });
  for (let i = 0; i < 3; i++) {
    await Deno.copyFile(
      join(CLIP, `frame_000${i}.png`),
      join(d, "clips", "c1", `frame_000${i}.png`),
    );
  }
  mkfifo(join(d, "clips", "c1", "frame_0003.png"));
  await expectToolError(
    "scripts/inspect.ts",
    ["--ep", "wasm", "--dset", join(d, "clips"), "--max_len", "4", "--batch_size", "1"],
    /^error: .*frame_0003\.png is not a regular file \(a FIFO\): a frame must be a PNG or JPEG file/,
  );
  const input = mkfifo(join(d, "x.npy"));
  await expectToolError(
    "scripts/inspect.ts",
    ["--ep", "wasm", "--input", input],
    /^error: .*x\.npy is not a regular file \(a FIFO\)/,
  );
  const features = mkfifo(join(d, "features.npy"));
  await expectToolError(
    "scripts/analyze.ts",
    [features],
    /^error: .*features\.npy is not a regular file \(a FIFO\): pass the features \.npy/,
  );
});

Deno.test("hostile files: FIFOs as gaze.csv, dataset.json, .npy and manifest (library)", async () => {
  const d = tempDir();
  // gaze.csv beside real frames
  const clip = join(d, "clips", "c1");
  await Deno.mkdir(clip, { recursive: true });
  for (let i = 0; i < 3; i++) {
    await Deno.copyFile(join(CLIP, `frame_000${i}.png`), join(clip, `frame_000${i}.png`));
  }
  const gaze = mkfifo(join(clip, "gaze.csv"));
  await assert.rejects(
    withinSeconds(gaze, loadClips(join(d, "clips"), { batchSize: 1, maxLen: 3, size: 16 })),
    /gaze\.csv is not a regular file \(a FIFO\): gaze\.csv must be a CSV file/,
  );
  // dataset.json
  const ds = mkfifo(join(d, "clips", "dataset.json"));
  await assert.rejects(
    withinSeconds(ds, readDatasetConfig(join(d, "clips"))),
    /dataset\.json is not a regular file \(a FIFO\)/,
  );
  // plain and structured .npy
  const npy = mkfifo(join(d, "x.npy"));
  await assert.rejects(
    withinSeconds(npy, readPlainNpy(npy)),
    /x\.npy is not a regular file \(a FIFO\)/,
  );
  await assert.rejects(
    withinSeconds(npy, StructuredNpyReader.open(npy)),
    /x\.npy is not a regular file \(a FIFO\)/,
  );
  // a manifest that is a FIFO is ignored with a warning, as an unreadable one is
  const run = join(d, "run");
  await Deno.mkdir(run);
  await writeSynthetic(join(run, "features.npy"), {
    records: [1, 1],
    layers: RESNET_LAYERS.slice(0, 1),
  });
  const manifest = mkfifo(join(run, "features.json"));
  const warnings: string[] = [];
  const f = await withinSeconds(
    manifest,
    readFeatures(join(run, "features.npy"), { onWarning: (m) => warnings.push(m) }),
  );
  f.close();
  assert.equal(f.manifest, null);
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0],
    /^ignoring manifest .*features\.json: it is not a regular file \(a FIFO\)/,
  );
});

// ---- 6. ONNX external data must stay inside the model's folder ----

/** The fixture model with its first initializer moved to external data at `location`. */
async function externalModel(
  path: string,
  location: string,
  dataFile: string | null,
): Promise<void> {
  const m = onnx.ModelProto.decode(await Deno.readFile(FIXTURE));
  const init = m.graph.initializer[0];
  const raw: Uint8Array = init.rawData.length
    ? init.rawData
    : new Uint8Array(new Float32Array(init.floatData).buffer);
  if (dataFile) await Deno.writeFile(dataFile, raw);
  init.dataLocation = 1;
  init.externalData = [
    { key: "location", value: location },
    { key: "length", value: String(raw.length) },
  ];
  init.rawData = new Uint8Array();
  init.floatData = [];
  await Deno.writeFile(path, onnx.ModelProto.encode(m).finish());
}

Deno.test("hostile ONNX: external data outside the model's folder is refused", async () => {
  const root = tempDir();
  const dir = join(root, "a", "b");
  await Deno.mkdir(join(dir, "data"), { recursive: true });
  // The weights really are out there, so that reading them would "work" (exit 0).
  const outside = join(root, "secret.bin");
  const model = join(dir, "model.onnx");
  await externalModel(model, "../../secret.bin", outside);
  await assert.rejects(
    loadOnnxModel(model),
    /^InspectorError: .*model\.onnx: tensor .* keeps its weights in external data file '\.\.\/\.\.\/secret\.bin', which climbs out with '\.\.'; external data must be a relative path inside the model's folder/,
  );
  await expectToolError(
    "scripts/inspect.ts",
    ["--ep", "wasm", "--checkpoint", model],
    /^error: .*model\.onnx: tensor .* external data file '\.\.\/\.\.\/secret\.bin', which climbs out/,
  );
  await externalModel(model, "../../../../etc/services", null);
  await assert.rejects(
    loadOnnxModel(model),
    /'\.\.\/\.\.\/\.\.\/\.\.\/etc\/services', which climbs out/,
  );
  await externalModel(model, "data/../../../secret.bin", null);
  await assert.rejects(loadOnnxModel(model), /which climbs out with '\.\.'/);
  await externalModel(model, outside, null);
  await assert.rejects(loadOnnxModel(model), /secret\.bin', an absolute path; external data must/);
  // A link inside the folder that leads out of it.
  await Deno.symlink(outside, join(dir, "weights.bin"));
  await externalModel(model, "weights.bin", null);
  await assert.rejects(
    loadOnnxModel(model),
    /'weights\.bin', a link to .*secret\.bin, outside the model's folder/,
  );
  // Inside the folder (a sub-folder, or a link that stays inside) is fine.
  await externalModel(model, "data/w.bin", join(dir, "data", "w.bin"));
  assert.ok((await loadOnnxModel(model)).initializers.size > 0);
  await Deno.symlink(join(dir, "data", "w.bin"), join(dir, "inner.bin"));
  await externalModel(model, "inner.bin", null);
  assert.ok((await loadOnnxModel(model)).initializers.size > 0);
  // A FIFO as the external data file.
  mkfifo(join(dir, "fifo.bin"));
  await externalModel(model, "fifo.bin", null);
  await assert.rejects(
    loadOnnxModel(model),
    /external data file 'fifo\.bin': .*fifo\.bin is not a regular file \(a FIFO\)/,
  );
  await Deno.remove(root, { recursive: true });
});
