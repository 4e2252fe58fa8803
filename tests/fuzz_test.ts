/**
 * Seeded fuzzing of everything the tools read (issue 17): mutated `.npy` headers and data,
 * manifests, ONNX files and PNG/JPEG frames. Every case must end in success with consistent
 * output, or in one clean error: an `InspectorError` with a one-line message in process, one
 * `error:` line and a non-zero exit for the CLIs (run as real subprocesses, their peak RSS read
 * from `/proc/<pid>/status` VmHWM and held under a cap). No `*.tmp` file may be left behind.
 * `.npy` verdicts are also checked against NumPy's `np.load` (when python3 has numpy): we must
 * not accept what NumPy rejects, nor call "invalid" what it accepts.
 *
 * Bounded to about 40 s. `FUZZ_SEED=<n>` replays a seed (printed on failure), `FUZZ_BUDGET_MS`
 * changes the time bound.
 *
 * Restricted families (bugs found here that belong to other work, see issue 17):
 * - PNG mutations keep the IHDR chunk (declared size) and JPEG mutations the SOF segment: a
 *   mutated size is a decompression bomb (item 2), not fuzzed here.
 * - CLI `analyze` cases mutate the header (not its dtypes) and the manifest, not the values:
 *   extreme values make analyze's charts huge (item 3; seed 6 found a float32 layer read as
 *   float16, values to 3e4, taking analyze to 4.2 GB and 19 s). Values and dtypes are mutated
 *   in process (readFeatures) and for compare.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Prng } from "../fixtures/generator/prng.ts";
import { InspectorError } from "../core/errors.ts";
import { StructuredNpyWriter } from "../core/npy.ts";
import { readFeatures } from "../core/run_folder.ts";
import { loadOnnxModel } from "../inspector/onnx_model.ts";
import { decodeImage } from "../inspector/image_io.ts";
import { isDiagnostic } from "../scripts/cli_args.ts";
import { haveNumpy, python, ROOT, tempDir } from "./helpers.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20250717);
const BUDGET_MS = Number(Deno.env.get("FUZZ_BUDGET_MS") ?? 40_000);
/** Peak resident memory a CLI case may reach. */
const RSS_CAP_MIB = 1024;
/** A CLI case that runs longer than this is a hang. */
const CLI_TIMEOUT_MS = 30_000;

/** A case that did not end cleanly. */
interface Failure {
  family: string;
  index: number;
  what: string;
  detail: string;
}

class Fuzz {
  readonly failures: Failure[] = [];
  readonly counts: Record<string, number> = {};
  readonly start = performance.now();
  constructor(readonly dir: string) {}

  /** Time left of the whole budget, in ms. */
  left(): number {
    return BUDGET_MS - (performance.now() - this.start);
  }

  fail(family: string, index: number, what: string, detail: string): void {
    this.failures.push({ family, index, what, detail: detail.slice(0, 400) });
  }

  /** Peak RSS of the CLI cases, in MiB. */
  peakMiB = 0;

  count(family: string, accepted?: boolean): void {
    const key = accepted === undefined ? family : `${family} ${accepted ? "ok" : "err"}`;
    this.counts[key] = (this.counts[key] ?? 0) + 1;
  }
}

/** A random integer in [0, n). */
const int = (rng: Prng, n: number): number => Math.floor(rng.uniform() * n);
const pick = <T>(rng: Prng, xs: readonly T[]): T => xs[int(rng, xs.length)];

/** The in-process outcome of a case: null when it is clean, else what went wrong. */
function cleanError(err: unknown): string | null {
  if (!(err instanceof InspectorError)) {
    return `not an InspectorError: ${(err as Error)?.stack?.split("\n").slice(0, 3).join(" | ")}`;
  }
  if (err.message.includes("\n")) return `multi-line message: ${err.message}`;
  return null;
}

/** Files under `dir` whose names say temporary. */
function leftovers(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of Deno.readDirSync(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) walk(p);
      else if (/\.tmp$|\.tmp\b|\.partial/.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** The result of a CLI run. */
interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  peakMiB: number;
  timedOut: boolean;
}

/** Run a project script as a subprocess, polling its peak RSS (VmHWM). */
async function runCli(script: string, args: string[]): Promise<CliRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, script), ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let peakKiB = 0;
  const readPeak = (): void => {
    try {
      const m = /VmHWM:\s+(\d+)\s+kB/.exec(Deno.readTextFileSync(`/proc/${child.pid}/status`));
      if (m) peakKiB = Math.max(peakKiB, Number(m[1]));
    } catch { /* exited, or no /proc */ }
  };
  const poll = setInterval(readPeak, 20);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, CLI_TIMEOUT_MS);
  const out = await child.output();
  clearInterval(poll);
  clearTimeout(timer);
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    peakMiB: peakKiB / 1024,
    timedOut,
  };
}

/** Null when a CLI run ended cleanly (success checked by `ok`), else what went wrong. */
function checkCli(r: CliRun, ok: (r: CliRun) => string | null): string | null {
  if (r.timedOut) return `hung for ${CLI_TIMEOUT_MS} ms`;
  if (r.peakMiB > RSS_CAP_MIB) return `peak RSS ${r.peakMiB.toFixed(0)} MiB > ${RSS_CAP_MIB} MiB`;
  // stderr holds progress lines, warnings and notes too; never a stack trace or a panic.
  const lines = r.stderr.split("\n").filter((l) => l.trim() && !isDiagnostic(l));
  const errors = lines.filter((l) => l.startsWith("error:"));
  const traces = lines.filter((l) => /^\s+at |panicked|^(Uncaught|\w*Error\b)/.test(l));
  if (traces.length) return `exit ${r.code} with a trace: ${traces.slice(0, 3).join(" | ")}`;
  if (r.code === 0) return errors.length ? `exit 0 with ${errors.join(" | ")}` : ok(r);
  if (errors.length !== 1 || lines.at(-1) !== errors[0]) {
    return `exit ${r.code} without one final error line: ${r.stderr.slice(-300)}`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// .npy

const LAYERS = [
  { name: "conv1", scalar: "f4" as const, shape: [2, 3, 3] },
  { name: "layer1", scalar: "f4" as const, shape: [4, 2, 2] },
];

async function baseNpy(path: string, rng: Prng): Promise<Uint8Array> {
  const w = await StructuredNpyWriter.create(path, { shape: [1, 2], fields: LAYERS });
  for (const l of LAYERS) {
    const n = l.shape.reduce((a, b) => a * b, 1);
    for (let r = 0; r < 2; r++) {
      await w.writeField(l.name, r, Float32Array.from({ length: n }, () => rng.normal()));
    }
  }
  await w.commit();
  return Deno.readFileSync(path);
}

const HEADER_CHARS = "'\"(),:[]{}-0123456789LTFNe. \n\t\\#\0xé";
const NUMBERS = ["-1", "0", "1", "2", "3", "7", "99999999999", "2L", "True", "1.5", "'2'", "(2,)"];
const STRINGS = [
  "'<f4'",
  "'<f8'",
  "'<f2'",
  "'>f4'",
  "'<i4'",
  "'|u1'",
  "'<f3'",
  "'x'",
  "''",
  `"a'b"`,
  "'日本'",
  "b'<f4'",
  "[('z', '<f4')]",
  "('<f4', (2,))",
  "[]",
  "[('z', '<f4', (0,))]",
];

/** Re-encode a header text with a correct length field (version 1, or 3 when not latin-1). */
function withHeader(text: string, data: Uint8Array, rng: Prng): Uint8Array {
  const wide = [...text].some((c) => c.charCodeAt(0) > 0xff) || rng.uniform() < 0.1;
  const body = wide
    ? new TextEncoder().encode(text)
    : Uint8Array.from(text, (c) => c.charCodeAt(0));
  const pre = wide ? 12 : 10;
  if (!wide && body.length > 65535) return withHeader(text.slice(0, 60000), data, rng);
  const out = new Uint8Array(pre + body.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, wide ? 3 : 1, 0]);
  const dv = new DataView(out.buffer);
  if (wide) dv.setUint32(8, body.length, true);
  else dv.setUint16(8, body.length, true);
  out.set(body, pre);
  out.set(data, pre + body.length);
  return out;
}

/**
 * One mutation of a valid structured `.npy`. With `valuesToo` false the values stay as they are:
 * no data bytes change, and neither does a dtype (reading float32 bytes as float16 gives values
 * up to 6e4, which drive analyze to 4 GB, issue 17 item 3).
 */
function mutateNpy(base: Uint8Array, rng: Prng, valuesToo: boolean): Uint8Array {
  const hlen = new DataView(base.buffer, base.byteOffset).getUint16(8, true);
  const text = String.fromCharCode(...base.subarray(10, 10 + hlen));
  const data = base.subarray(10 + hlen);
  const kind = valuesToo ? int(rng, 9) : pick(rng, [0, 2, 3, 5, 6]);
  const at = (s: string): number => int(rng, s.length + 1);
  switch (kind) {
    case 0: { // a number token replaced
      const nums = [...text.matchAll(/(?<![A-Za-z\d])\d+/g)]; // not the 4 of '<f4'
      const m = pick(rng, nums);
      const t = text.slice(0, m.index) + pick(rng, NUMBERS) + text.slice(m.index! + m[0].length);
      return withHeader(t, data, rng);
    }
    case 1: { // a string token replaced
      const strs = [...text.matchAll(/'[^']*'/g)];
      const m = pick(rng, strs);
      const t = text.slice(0, m.index) + pick(rng, STRINGS) + text.slice(m.index! + m[0].length);
      return withHeader(t, data, rng);
    }
    case 2: { // characters inserted or deleted
      let t = text;
      for (let k = 1 + int(rng, 3); k > 0; k--) {
        const p = at(t);
        t = rng.uniform() < 0.5
          ? t.slice(0, p) + pick(rng, [...HEADER_CHARS]) + t.slice(p)
          : t.slice(0, p) + t.slice(p + 1);
      }
      return withHeader(t, data, rng);
    }
    case 3: { // a piece of the header repeated
      const p = at(text), q = Math.min(text.length, p + 1 + int(rng, 30));
      return withHeader(text.slice(0, q) + text.slice(p, q) + text.slice(q), data, rng);
    }
    case 4: { // raw header bytes flipped (magic, version, length, text)
      const out = base.slice();
      for (let k = 1 + int(rng, 3); k > 0; k--) {
        out[int(rng, 10 + hlen)] = rng.uniform() < 0.5 ? int(rng, 256) : HEADER_CHARS.charCodeAt(
          int(rng, HEADER_CHARS.length),
        ) & 0xff;
      }
      return out;
    }
    case 5: { // the length field
      const out = base.slice();
      new DataView(out.buffer).setUint16(8, pick(rng, [0, 1, hlen - 1, hlen + 1, 65535]), true);
      return out;
    }
    case 6: // truncated or extended
      return rng.uniform() < 0.5 ? base.slice(0, int(rng, base.length)) : Uint8Array.from([
        ...base,
        ...Array.from({ length: 1 + int(rng, 64) }, () => int(rng, 256)),
      ]);
    default: { // data values: NaN, Inf, huge, random bytes
      const out = base.slice();
      const view = new DataView(out.buffer);
      for (let k = 1 + int(rng, 8); k > 0; k--) {
        const p = 10 + hlen + 4 * int(rng, data.length / 4);
        view.setFloat32(p, pick(rng, [NaN, Infinity, -Infinity, 3e38, -1e7, 0, 1e-40]), true);
      }
      if (kind === 8) out[10 + hlen + int(rng, data.length)] = int(rng, 256);
      return out;
    }
  }
}

/** Read a features file through core; null when clean, else what went wrong. */
async function readAll(path: string): Promise<{ verdict: string; problem: string | null }> {
  try {
    using f = await readFeatures(path, { onWarning: () => {} });
    for (const name of f.layers) {
      const l = await f.layer(name);
      const per = f.field(name).shape.reduce((a, b) => a * b, 1);
      const values = l.frames.flat().reduce((a, fr) => a + fr.length, 0);
      if (values !== per * f.recordCount) {
        return { verdict: "ok", problem: `layer ${name}: ${values} values, not ${per} a frame` };
      }
    }
    return { verdict: "ok", problem: null };
  } catch (err) {
    return { verdict: `rejected: ${(err as Error).message}`, problem: cleanError(err) };
  }
}

async function fuzzNpy(fz: Fuzz, budgetMs: number): Promise<void> {
  const rng = new Prng(SEED, "npy");
  const dir = join(fz.dir, "npy");
  Deno.mkdirSync(dir);
  const base = await baseNpy(join(dir, "base.npy"), rng);
  const verdicts: { path: string; ours: string; index: number }[] = [];
  const end = performance.now() + budgetMs;
  for (let k = 0; k < 1500 && performance.now() < end; k++) {
    const path = join(dir, `case${k}.npy`);
    Deno.writeFileSync(path, mutateNpy(base, rng, true));
    const { verdict, problem } = await readAll(path);
    if (problem) fz.fail("npy", k, path, problem);
    verdicts.push({ path, ours: verdict, index: k });
    fz.count("npy", verdict === "ok");
  }
  if (!haveNumpy()) return;
  const numpy = await python(
    "import json,sys,warnings,numpy as np\nwarnings.simplefilter('ignore')\nout=[]\n" +
      "for p in sys.argv[1:]:\n  try:\n    np.load(p); out.append('ok')\n" +
      "  except Exception as e: out.append(type(e).__name__)\nprint(json.dumps(out))",
    verdicts.map((v) => v.path),
  ) as string[];
  verdicts.forEach((v, k) => {
    const npOk = numpy[k] === "ok";
    if (!npOk && v.ours === "ok") {
      fz.fail("npy-vs-numpy", v.index, v.path, `np.load rejects it (${numpy[k]}), we accept it`);
    } else if (npOk && /invalid \.npy header|truncated|bad magic/.test(v.ours)) {
      fz.fail("npy-vs-numpy", v.index, v.path, `np.load accepts it, we say ${v.ours}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// manifests

function baseManifest(): Record<string, unknown> {
  const summary = { mean: 0.5, std: 1, min: -2, max: 3, sparsity: 0.25, nonfinite: 0 };
  return {
    format: "feature-inspector/features",
    format_version: 1,
    tool: { name: "feature-inspector", version: "0.1.0" },
    model: { path: "m.onnx", sha256: "00" },
    data: { saved_frames: [[{ gaze: [{ x: 0.5, y: 0.5 }] }, { gaze: [] }]] },
    targets: { batch_idx: [0], timestep: [0, 1] },
    npy: { file: "features.npy", dtype: "float32", shape: [1, 2], fields: ["conv1", "layer1"] },
    layers: LAYERS.map((l) => ({
      name: l.name,
      tensor: `/${l.name}/Relu_output_0`,
      layout: "NCHW",
      shape: l.shape,
      stats: summary,
      per_frame: [[summary, summary]],
    })),
    warnings: [],
  };
}

const JUNK: unknown[] = [null, -1, 0, 1e308, "x", "", [], {}, [[1, 2]], true, [-5, 1e9], { x: 1 }];

/** Replace a random value inside `v` (a copy) with junk, or drop a key. */
function mutateJson(v: unknown, rng: Prng, depth = 0): unknown {
  if (depth > 0 && rng.uniform() < 0.3) return pick(rng, JUNK);
  if (Array.isArray(v)) {
    if (!v.length) return pick(rng, JUNK);
    const out = [...v];
    const k = int(rng, out.length);
    out[k] = mutateJson(out[k], rng, depth + 1);
    return out;
  }
  if (typeof v === "object" && v !== null) {
    const out = { ...v } as Record<string, unknown>;
    const keys = Object.keys(out);
    const k = pick(rng, keys);
    if (rng.uniform() < 0.15) delete out[k];
    else out[k] = mutateJson(out[k], rng, depth + 1);
    return out;
  }
  return pick(rng, JUNK);
}

function manifestText(rng: Prng): string {
  let m: unknown = baseManifest();
  for (let k = 1 + int(rng, 3); k > 0; k--) m = mutateJson(m, rng);
  let text = JSON.stringify(m);
  if (rng.uniform() < 0.2) { // bytes flipped: usually no longer JSON
    const p = int(rng, text.length);
    text = text.slice(0, p) + pick(rng, [...'{}[]",:0x']) + text.slice(p + 1);
  }
  return text;
}

async function fuzzManifests(fz: Fuzz, budgetMs: number): Promise<void> {
  const rng = new Prng(SEED, "manifest");
  const dir = join(fz.dir, "manifest");
  Deno.mkdirSync(dir);
  const end = performance.now() + budgetMs;
  for (let k = 0; k < 500 && performance.now() < end; k++) {
    const npy = join(dir, `f${k}.npy`);
    await baseNpy(npy, rng);
    Deno.writeTextFileSync(join(dir, `f${k}.json`), manifestText(rng));
    try {
      using f = await readFeatures(npy, { onWarning: () => {} });
      const [nb, nt] = f.grid;
      if (f.targets.batchIdx.length !== nb || f.targets.timestep.length !== nt) {
        fz.fail("manifest", k, npy, `targets ${JSON.stringify(f.targets)} do not fit ${f.grid}`);
      }
      for (const name of f.layers) await f.layer(name);
      fz.count("manifest", true);
    } catch (err) {
      const p = cleanError(err);
      if (p) fz.fail("manifest", k, npy, p);
      fz.count("manifest", false);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ONNX

function mutateOnnx(base: Uint8Array, rng: Prng): Uint8Array {
  const kind = int(rng, 4);
  if (kind === 0) return base.slice(0, int(rng, base.length));
  const out = base.slice();
  if (kind === 1) {
    for (let k = 1 + int(rng, 8); k > 0; k--) out[int(rng, out.length)] = int(rng, 256);
  } else if (kind === 2) { // a length varint made huge
    out.set([0xff, 0xff, 0xff, 0xff, 0x0f], int(rng, out.length - 5));
  } else { // early bytes (the model header, graph structure)
    for (let k = 1 + int(rng, 4); k > 0; k--) {
      out[int(rng, Math.min(512, out.length))] ^= 1 << int(rng, 8);
    }
  }
  return out;
}

async function fuzzOnnx(fz: Fuzz, budgetMs: number): Promise<void> {
  const rng = new Prng(SEED, "onnx");
  const dir = join(fz.dir, "onnx");
  Deno.mkdirSync(dir);
  const base = Deno.readFileSync(join(ROOT, "fixtures", "r3d_video.onnx"));
  const end = performance.now() + budgetMs;
  for (let k = 0; k < 200 && performance.now() < end; k++) {
    const path = join(dir, `m${k}.onnx`);
    Deno.writeFileSync(path, mutateOnnx(base, rng));
    try {
      const g = await loadOnnxModel(path);
      if (!Array.isArray(g.nodes)) fz.fail("onnx", k, path, "loaded without a node list");
      fz.count("onnx", true);
    } catch (err) {
      const p = cleanError(err);
      if (p) fz.fail("onnx", k, path, p);
      fz.count("onnx", false);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// PNG / JPEG frames

/** Byte offset after which a mutation leaves the declared image size alone. */
function keepSize(bytes: Uint8Array, png: boolean): number {
  if (png) return 33; // signature + IHDR chunk
  for (let p = 2; p + 9 < bytes.length; p++) {
    if (bytes[p] === 0xff && bytes[p + 1] >= 0xc0 && bytes[p + 1] <= 0xc3) return p + 11;
  }
  return bytes.length;
}

function fuzzImages(fz: Fuzz, budgetMs: number): void {
  const rng = new Prng(SEED, "image");
  const files = [
    join(ROOT, "fixtures/clips/c01_bars/frame_0000.png"),
    join(ROOT, "fixtures/clips/c03_blobs/frame_0002.jpg"),
  ];
  const bases = files.map((f) => {
    const bytes = Deno.readFileSync(f);
    const img = decodeImage(bytes);
    return { f, bytes, w: img.width, h: img.height, from: keepSize(bytes, f.endsWith(".png")) };
  });
  const end = performance.now() + budgetMs;
  for (let k = 0; k < 1500 && performance.now() < end; k++) {
    const b = pick(rng, bases);
    let bytes = b.bytes.slice();
    const kind = int(rng, 3);
    if (kind === 0) bytes = bytes.slice(0, b.from + int(rng, bytes.length - b.from));
    else {
      for (let n = 1 + int(rng, kind === 1 ? 4 : 40); n > 0; n--) {
        bytes[b.from + int(rng, bytes.length - b.from)] = int(rng, 256);
      }
    }
    try {
      const img = decodeImage(bytes, { name: `case${k}` });
      if (img.width !== b.w || img.height !== b.h || img.data.length !== b.w * b.h * 4) {
        fz.fail("image", k, b.f, `decoded to ${img.width}x${img.height}, not ${b.w}x${b.h}`);
      }
      fz.count("image", true);
    } catch (err) {
      const p = cleanError(err);
      if (p) fz.fail("image", k, b.f, p);
      fz.count("image", false);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// CLIs as subprocesses

async function fuzzClis(fz: Fuzz): Promise<void> {
  const rng = new Prng(SEED, "cli");
  const dir = join(fz.dir, "cli");
  Deno.mkdirSync(dir);
  const good = join(dir, "good.npy");
  const base = await baseNpy(good, rng);
  const onnx = Deno.readFileSync(join(ROOT, "fixtures", "r3d_video.onnx"));
  const cases: { what: string; run: () => Promise<string | null> }[] = [];
  const cli = async (script: string, args: string[]): Promise<CliRun> => {
    const r = await runCli(script, args);
    fz.peakMiB = Math.max(fz.peakMiB, r.peakMiB);
    fz.count(`cli ${script.replace(/^scripts\/|\.ts$/g, "")}`, r.code === 0);
    return r;
  };
  for (let k = 0; k < 4; k++) {
    cases.push({
      what: "analyze",
      run: async () => {
        const case_ = join(dir, `a${k}`);
        Deno.mkdirSync(case_);
        const npy = join(case_, "features.npy");
        Deno.writeFileSync(npy, k === 0 ? base : mutateNpy(base, rng, false));
        if (k !== 1) Deno.writeTextFileSync(join(case_, "features.json"), manifestText(rng));
        const save = join(case_, "report");
        const r = await cli("scripts/analyze.ts", [npy, "--save_dir", save, "--gpu", "off"]);
        return checkCli(r, () => {
          const s = JSON.parse(Deno.readTextFileSync(join(save, "summary.json")));
          const missing = (s.files as string[]).filter((f) => {
            try {
              return !Deno.statSync(join(save, f)).isFile;
            } catch {
              return true;
            }
          });
          return missing.length ? `summary lists missing files ${missing}` : null;
        });
      },
    });
  }
  for (let k = 0; k < 6; k++) {
    cases.push({
      what: "compare",
      run: async () => {
        const a = join(dir, `c${k}_a.npy`), b = join(dir, `c${k}_b.npy`);
        Deno.writeFileSync(a, base);
        Deno.writeFileSync(b, mutateNpy(base, rng, true));
        if (rng.uniform() < 0.5) {
          Deno.writeTextFileSync(join(dir, `c${k}_b.json`), manifestText(rng));
        }
        const save = join(dir, `c${k}_out`);
        const r = await cli("scripts/compare.ts", [a, b, "--save_dir", save]);
        return checkCli(
          r,
          () => (/wrote \d+ files/.test(r.stdout) ? null : `no 'wrote': ${r.stdout}`),
        );
      },
    });
  }
  for (let k = 0; k < 6; k++) {
    cases.push({
      what: "inspect --list_layers",
      run: async () => {
        const m = join(dir, `m${k}.onnx`);
        Deno.writeFileSync(m, mutateOnnx(onnx, rng));
        const r = await cli("scripts/inspect.ts", ["--checkpoint", m, "--list_layers"]);
        return checkCli(r, () => (r.stdout.trim() ? null : "no layers listed"));
      },
    });
  }
  for (const [k, c] of cases.entries()) {
    if (fz.left() < 4000) break;
    const problem = await c.run();
    if (problem) fz.fail(`cli ${c.what}`, k, c.what, problem);
  }
}

// ---------------------------------------------------------------------------------------------

Deno.test(`fuzz: hostile inputs end in success or one clean error (seed ${SEED})`, async () => {
  const dir = tempDir("fi_fuzz_");
  const fz = new Fuzz(dir);
  try {
    // CLI cases first (their cost is fixed), then the in-process families share what is left.
    await fuzzClis(fz);
    const share = (n: number): number => Math.max(500, fz.left() / n);
    await fuzzNpy(fz, share(4));
    await fuzzManifests(fz, share(3));
    await fuzzOnnx(fz, share(2));
    fuzzImages(fz, share(1));
    const stale = leftovers(dir);
    for (const p of stale) fz.fail("leftover", 0, p, "temporary file left behind");
    const took = ((performance.now() - fz.start) / 1000).toFixed(1);
    console.log(
      `  fuzz seed ${SEED}: ${JSON.stringify(fz.counts)} in ${took} s; ` +
        `CLI peak RSS ${fz.peakMiB.toFixed(0)} MiB (cap ${RSS_CAP_MIB})`,
    );
    if (fz.failures.length) {
      const lines = fz.failures.slice(0, 20).map((f) =>
        `  [${f.family} #${f.index}] ${f.what}: ${f.detail}`
      );
      assert.fail(
        `fuzz seed ${SEED} (replay: FUZZ_SEED=${SEED}): ${fz.failures.length} case(s) failed\n` +
          lines.join("\n"),
      );
    }
    assert.ok(Object.values(fz.counts).reduce((a, b) => a + b, 0) > 100, "too few cases ran");
  } catch (err) {
    console.error(`fuzz seed ${SEED}: kept ${dir} for inspection`);
    throw err;
  } finally {
    if (!fz.failures.length) Deno.removeSync(dir, { recursive: true });
  }
});
