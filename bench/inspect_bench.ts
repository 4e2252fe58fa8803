/**
 * `deno task bench`: how fast `inspect` is against a bare onnxruntime forward pass, per backend,
 * side by side in one process on one model and one input.
 *
 * For each execution provider it measures (medians of several runs after a warm-up):
 * the bare forward pass of the model without taps, the forward pass with the default layers
 * tapped, the whole in-process `inspect` (load, preprocess, forward, reductions, writes, PNGs)
 * and each phase, peak resident memory, and bytes read back from the GPU. It also runs one big
 * `inspect` (`--size 1024`) for peak memory, and times the reduction kernels against the CPU
 * reference.
 *
 * @module
 */

import { cpuUsage } from "node:process";
import { join } from "node:path";
import {
  createSession,
  type EpChoice,
  type FeedTensor,
  type ModelSession,
} from "../inspector/runtime.ts";
import { probeGpu } from "../inspector/runtime.ts";
import { BACKEND_NAMES, type BackendName, BACKENDS } from "../inspector/backends.ts";
import { parseOnnxModel, tapModel } from "../inspector/onnx_model.ts";
import { buildStatsModel, selectionFeeds } from "../inspector/graph_stats.ts";
import { resolveLayers } from "../inspector/layers.ts";
import { DEFAULT_LAYERS } from "../inspector/feature_map_inspector.ts";
import { runInspect } from "../inspector/run_inspect.ts";
import { benchReductions, type BenchReport as ReductionReport } from "./reductions.ts";
import { InspectorError } from "../core/errors.ts";
import { formatBytes } from "../inspector/batch_plan.ts";
import { loadAverage, median, shell } from "./_timing.ts";

/**
 * The backends the bench measures, in its order: the table's (`backends.ts`), native CPU first
 * (the reference of `forward_vs_native`), the GPU last.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { BENCH_BACKENDS } from "./inspect_bench.ts";
 * assert.deepEqual(BENCH_BACKENDS, ["cpu", "wasm", "webgpu"]);
 * ```
 */
export const BENCH_BACKENDS: readonly BackendName[] = [...BACKEND_NAMES].reverse();

/** Options of {@linkcode runBench}. */
export interface BenchOptions {
  /** Frame size (default 224). */
  size?: number;
  /** Clips per batch (default 2). */
  batchSize?: number;
  /** Frames per clip (default 8). */
  maxLen?: number;
  /** Measured runs per figure (default 5); fewer when a figure's time cap is reached. */
  runs?: number;
  /** Seconds after which a figure stops taking more runs (default 60; at least one run). */
  capSeconds?: number;
  /** Backends to measure (default: every available one of {@linkcode BENCH_BACKENDS}). */
  eps?: BackendName[];
  /** CPU threads (default: all cores). */
  threads?: number;
  /** ResNet-18 widths of the generated model (default 64,128,256,512 = ResNet-18 proper). */
  widths?: number[];
  /** Use this `.onnx` instead of generating one. */
  model?: string;
  /** Size of the peak-memory `inspect` run (default 1024; 0 skips it). */
  bigSize?: number;
  /** Folder for the generated model and outputs (default: a fresh temporary folder, removed). */
  workDir?: string;
  /** Time the reduction kernels too (default true). */
  kernels?: boolean;
  /** Progress lines. */
  onInfo?: (line: string) => void;
}

/** Median and spread of one figure. */
export interface Timing {
  /** Median wall-clock milliseconds. */
  median_ms: number;
  /** Fastest run. */
  min_ms: number;
  /** Median process CPU milliseconds (user + system) per run. */
  cpu_ms: number;
  /** Runs measured (after the warm-up). */
  runs: number;
}

/** Figures of one backend. */
export interface BackendBench {
  /** Execution provider. */
  ep: BackendName;
  /** Adapter (WebGPU) or null. */
  adapter: string | null;
  /** CPU threads. */
  threads: number;
  /** Forward pass of the model without taps. */
  bare_forward: Timing;
  /**
   * Forward pass with the default layers tapped, as `inspect` runs it minus the statistics:
   * on cpu/wasm the saved frames are cut in the graph and only they leave onnxruntime; on
   * WebGPU the whole tapped tensors come back to the CPU (see `tapped_forward_on_gpu`).
   */
  tapped_forward: Timing;
  /** cpu/wasm: the tapped forward with the statistics computed in the graph (what `inspect` runs). */
  forward_with_statistics: Timing | null;
  /** cpu/wasm: the tapped forward returning whole tensors (the host-reduction path), for reference. */
  whole_tensor_forward: Timing | null;
  /** WebGPU only: the tapped forward with the taps left on the GPU (what `inspect` runs). */
  tapped_forward_on_gpu: Timing | null;
  /** Whole in-process `inspect` (everything but process start-up). */
  inspect: Timing;
  /** Median milliseconds of each `inspect` phase. */
  phases_ms: Record<string, number>;
  /** tapped forward / bare forward of this backend. */
  taps_cost: number;
  /** tapped forward / bare native (cpu EP) forward; null without the native EP. */
  forward_vs_native: number | null;
  /** (inspect - tapped forward) / tapped forward (WebGPU: the forward with taps on the GPU). */
  overhead_share: number;
  /** The same without the model load and session creation (`load_model`, `session` phases). */
  overhead_share_excluding_setup: number | null;
  /** Peak resident memory an `inspect` run added to the process (peak minus RSS before it), bytes. */
  peak_rss_growth_bytes: number | null;
  /** Bytes read back from the GPU: per tapped forward, and per `inspect` (from its manifest). */
  gpu_bytes_read: { tapped_forward: number; inspect: number | null };
}

/** Reduction kernels against the CPU reference (from `bench/reductions.ts`). */
export type ReductionBench = ReductionReport;

/** Everything `deno task bench --json` prints. */
export interface BenchReport {
  /** Machine facts. */
  machine: {
    cores: number;
    os: string;
    deno: string;
    gpu_adapter: string | null;
    gpu_fallback: boolean | null;
    /** 1-minute load average at the start and the end (other processes competing for the cores). */
    load_average: [number | null, number | null];
  };
  /** The model and batch. */
  model: {
    source: string;
    bytes: number;
    widths: number[] | null;
    input: number[];
    taps: string[];
  };
  /** The backend `--ep auto` picks, and why. */
  auto: { ep: string; reason: string };
  /** Bare native forward (the baseline), ms; null without the native EP. */
  native_bare_forward_ms: number | null;
  /** Per backend. */
  backends: BackendBench[];
  /** For the backend auto picks: tapped forward / bare native forward. */
  forward_vs_native: number | null;
  /** For the backend auto picks: (inspect - tapped forward) / tapped forward. */
  overhead_share: number | null;
  /** The big run (auto backend, in a fresh process): time and the process's peak RSS; null when skipped. */
  big: {
    size: number;
    batch_size: number;
    max_len: number;
    ep: string;
    inspect_ms: number;
    peak_rss_bytes: number | null;
    notes: string[];
  } | null;
  /** Reduction kernels and the CPU reference, GB/s, on ResNet-18 activation shapes; null when skipped. */
  reductions: ReductionBench | null;
}

/**
 * Peak resident memory of this process since the last reset (Linux `VmHWM`), bytes. Deno asks
 * for `--allow-all` to open `/proc/<pid>` itself, so a `sh` subprocess (`--allow-run`) reads it.
 */

function rssStatus(): { peak: number; current: number } | null {
  const status = shell(`cat /proc/${Deno.pid}/status`);
  const hwm = status?.match(/VmHWM:\s+(\d+) kB/), rss = status?.match(/VmRSS:\s+(\d+) kB/);
  return hwm && rss ? { peak: Number(hwm[1]) * 1024, current: Number(rss[1]) * 1024 } : null;
}

/** Reset the peak-RSS counter to the current RSS (Linux `clear_refs` 5); false when impossible. */
function resetPeakRss(): boolean {
  return shell(`echo 5 > /proc/${Deno.pid}/clear_refs`) !== null;
}

async function measure(
  what: string,
  fn: () => Promise<void>,
  options: { runs: number; capSeconds: number; onInfo: (l: string) => void },
  before?: () => void,
): Promise<{ timing: Timing; samples: number }> {
  before?.();
  await fn(); // warm-up
  const wall: number[] = [], cpu: number[] = [];
  const start = performance.now();
  for (let i = 0; i < options.runs; i++) {
    before?.();
    const c0 = cpuUsage();
    const t0 = performance.now();
    await fn();
    wall.push(performance.now() - t0);
    const c = cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    if ((performance.now() - start) / 1000 > options.capSeconds) break;
  }
  options.onInfo(`  ${what}: ${median(wall).toFixed(0)} ms (median of ${wall.length})`);
  return {
    timing: {
      median_ms: median(wall),
      min_ms: Math.min(...wall),
      cpu_ms: median(cpu),
      runs: wall.length,
    },
    samples: wall.length,
  };
}

/**
 * Time several variants in alternating rounds (bare and tapped forward passes), so that a busy
 * machine's changing load affects them alike. Each variant gets one untimed warm-up.
 */
async function measureInterleaved(
  variants: { what: string; fn: () => Promise<void> }[],
  options: { runs: number; capSeconds: number; onInfo: (l: string) => void },
): Promise<Timing[]> {
  for (const v of variants) await v.fn();
  const wall = variants.map((): number[] => []), cpu = variants.map((): number[] => []);
  const start = performance.now();
  for (let i = 0; i < options.runs; i++) {
    for (let j = 0; j < variants.length; j++) {
      const k = (i + j) % variants.length; // rotate the order
      const c0 = cpuUsage();
      const t0 = performance.now();
      await variants[k].fn();
      wall[k].push(performance.now() - t0);
      const c = cpuUsage(c0);
      cpu[k].push((c.user + c.system) / 1000);
    }
    if ((performance.now() - start) / 1000 > options.capSeconds * variants.length) break;
  }
  return variants.map((v, k) => {
    options.onInfo(`  ${v.what}: ${median(wall[k]).toFixed(0)} ms (median of ${wall[k].length})`);
    return {
      median_ms: median(wall[k]),
      min_ms: Math.min(...wall[k]),
      cpu_ms: median(cpu[k]),
      runs: wall[k].length,
    };
  });
}

function forwardOnce(
  session: ModelSession,
  feeds: Record<string, FeedTensor>,
  keepOnGpu?: string[],
): () => Promise<void> {
  return async () => {
    const out = await session.run(feeds, { keepOnGpu });
    for (const o of Object.values(out)) o.dispose();
  };
}

function manifestGpuBytes(manifest: Record<string, unknown>): number | null {
  let total = 0, found = false;
  for (const key of ["backend", "reductions"]) {
    const o = manifest[key];
    if (!o || typeof o !== "object") continue;
    for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
      if (/bytes_read/.test(k) && typeof v === "number") {
        total += v;
        found = true;
      }
    }
  }
  return found ? total : null;
}

/**
 * Run the benchmark.
 *
 * @example Usage
 * ```ts ignore
 * import { runBench, formatBenchTable } from "./inspect_bench.ts";
 * const report = await runBench({ runs: 3, bigSize: 0, onInfo: console.log });
 * console.log(formatBenchTable(report));
 * ```
 */
export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const info = options.onInfo ?? (() => {});
  const size = options.size ?? 224, B = options.batchSize ?? 2, T = options.maxLen ?? 8;
  const runs = options.runs ?? 5, capSeconds = options.capSeconds ?? 60;
  const threads = options.threads ?? navigator.hardwareConcurrency ?? 1;
  const m = { runs, capSeconds, onInfo: info };
  const load0 = loadAverage();
  const ownDir = !options.workDir;
  const dir = options.workDir ?? await Deno.makeTempDir({ prefix: "feature-inspector-bench-" });
  try {
    // The model: a full-width ResNet-18 video model from the fixture generator (or --model).
    let modelPath = options.model;
    let widths: number[] | null = null;
    if (!modelPath) {
      widths = options.widths ?? [64, 128, 256, 512];
      info(
        `generating a ResNet-18 video model (widths ${
          widths.join("-")
        }) with the fixture generator...`,
      );
      const { buildResNetVideo } = await import("../fixtures/generate.ts");
      modelPath = join(dir, `resnet18_video_w${widths[0]}.onnx`);
      await Deno.writeFile(modelPath, buildResNetVideo({ widths }));
    }
    const bytes = await Deno.readFile(modelPath).catch(() => {
      throw new InspectorError(`bench model ${modelPath} not found`);
    });
    const graph = await parseOnnxModel(bytes, { source: modelPath });
    const taps = [...new Set(resolveLayers(graph, DEFAULT_LAYERS).layers.map((l) => l.tensor))];
    const tapped = tapModel(graph, taps);
    // What inspect runs on cpu/wasm: saved frames (clip 0, frame 0 by default) cut in the graph,
    // with and without the statistics.
    const framesOnly = buildStatsModel(graph, taps, { statistics: false });
    const statsModel = buildStatsModel(graph, taps);
    const selection = selectionFeeds({ clips: B, frames: T }, { batchIdx: [0], timestep: [0] });
    const inputName = graph.inputs[0].name;

    // The input: the fixture clips, as inspect loads them (clips decoded once, reused).
    const { fixtureBatch, FIXTURE_CLIPS } = await import("../fixtures/generate.ts");
    const batch = fixtureBatch({
      frames: Array.from({ length: T }, (_, t) => t),
      size,
      clips: FIXTURE_CLIPS.slice(0, B).map((c) => c.id),
    });
    const feeds = { [inputName]: { data: batch.data, dims: [...batch.shape] } };

    const gpu = await probeGpu();
    const eps: BackendName[] = options.eps ? [...options.eps] : [];
    if (!options.eps) {
      for (const ep of BENCH_BACKENDS) if (await BACKENDS[ep].available()) eps.push(ep);
    }
    const { chooseBackend } = await import("../inspector/runtime.ts");
    const auto = await chooseBackend("auto");
    info(`auto picks ${auto.ep}: ${auto.reason}`);

    const backends: BackendBench[] = [];
    let nativeBare: number | null = null;
    for (const ep of eps) {
      const caps = BACKENDS[ep].capabilities;
      info(`${ep}:`);
      let tapGpu: Timing | null = null;
      let bare: Timing,
        tap: Timing,
        gpuBytes = 0,
        epThreads = threads,
        adapter: string | null = null;
      let withStats: Timing | null = null, whole: Timing | null = null;
      {
        const cpuLike = caps.inGraphStatistics && framesOnly && statsModel;
        await using sb = await createSession(bytes, { ep, threads });
        await using st = await createSession(cpuLike ? framesOnly.bytes : tapped, { ep, threads });
        epThreads = sb.info.threads;
        adapter = sb.info.adapter;
        const selected = { ...feeds, ...selection };
        const variants = [
          { what: "bare forward", fn: forwardOnce(sb, feeds) },
          { what: "tapped forward", fn: forwardOnce(st, cpuLike ? selected : feeds) },
        ];
        if (cpuLike) {
          await using ss = await createSession(statsModel.bytes, { ep, threads });
          await using sw = await createSession(tapped, { ep, threads });
          [bare, tap, withStats, whole] = await measureInterleaved([
            ...variants,
            { what: "tapped forward + in-graph statistics", fn: forwardOnce(ss, selected) },
            { what: "tapped forward, whole tensors out", fn: forwardOnce(sw, feeds) },
          ], m);
        } else {
          [bare, tap] = await measureInterleaved(variants, m);
        }
        gpuBytes = st.stats().gpuBytesRead / Math.max(1, st.stats().runs);
        if (caps.outputsOnGpu) {
          [tapGpu] = await measureInterleaved([
            { what: "tapped forward, taps kept on the GPU", fn: forwardOnce(st, feeds, taps) },
          ], m);
        }
      }
      if (caps.native) nativeBare = bare.median_ms;
      const phases: Record<string, number[]> = {};
      let manifestBytes: number | null = null;
      // Peak growth: the counter is reset to the current RSS before each run, and read after it.
      let canPeak = resetPeakRss();
      let peak = 0, base = rssStatus()?.current ?? 0;
      const readPeak = () => {
        const r = canPeak ? rssStatus() : null;
        if (r) peak = Math.max(peak, r.peak - base);
      };
      const { timing: insp } = await measure(
        "inspect",
        async () => {
          const r = await runInspect({
            checkpoint: modelPath,
            size,
            batchSize: B,
            maxLen: T,
            ep,
            threads,
            saveDir: join(dir, `out_${ep}`),
          });
          for (const [k, v] of Object.entries(r.timings)) (phases[k] ??= []).push(v);
          try {
            manifestBytes = manifestGpuBytes(JSON.parse(await Deno.readTextFile(r.json)));
          } catch {
            manifestBytes = null;
          }
        },
        m,
        () => {
          // Untimed: read the previous run's peak, then reset the counter.
          readPeak();
          canPeak = canPeak && resetPeakRss();
          base = rssStatus()?.current ?? 0;
        },
      );
      readPeak();
      // inspect's own forward pass: with WebGPU the taps stay on the GPU.
      const fwd = tapGpu ?? tap;
      const phasesMs = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, median(v)]));
      backends.push({
        ep,
        adapter,
        threads: epThreads,
        bare_forward: bare,
        tapped_forward: tap,
        tapped_forward_on_gpu: tapGpu,
        forward_with_statistics: withStats,
        whole_tensor_forward: whole,
        inspect: insp,
        phases_ms: phasesMs,
        taps_cost: tap.median_ms / bare.median_ms,
        forward_vs_native: null,
        overhead_share: (insp.median_ms - fwd.median_ms) / fwd.median_ms,
        overhead_share_excluding_setup: phasesMs.load_model !== undefined &&
            phasesMs.session !== undefined
          ? (insp.median_ms - phasesMs.load_model - phasesMs.session - fwd.median_ms) /
            fwd.median_ms
          : null,
        peak_rss_growth_bytes: canPeak && peak > 0 ? peak : null,
        gpu_bytes_read: {
          tapped_forward: gpuBytes,
          inspect: caps.outputsOnGpu ? manifestBytes : 0,
        },
      });
    }
    for (const b of backends) {
      b.forward_vs_native = nativeBare ? b.tapped_forward.median_ms / nativeBare : null;
    }
    const autoRow = backends.find((b) => b.ep === auto.ep) ?? null;

    let big: BenchReport["big"] = null;
    const bigSize = options.bigSize ?? 1024;
    if (bigSize > 0) {
      info(`big run: inspect --size ${bigSize} --batch_size ${B} --max_len ${T} (ep auto)...`);
      const child = await inspectInChild({
        checkpoint: modelPath,
        size: bigSize,
        batchSize: B,
        maxLen: T,
        ep: "auto",
        threads,
        saveDir: join(dir, "out_big"),
      });
      const ms = child.ms, peak = child.peakRssBytes;
      big = {
        size: bigSize,
        batch_size: B,
        max_len: T,
        ep: auto.ep,
        inspect_ms: ms,
        peak_rss_bytes: peak,
        notes: child.notes,
      };
      info(`  ${ms.toFixed(0)} ms, peak RSS ${peak ? formatBytes(peak) : "unknown"}`);
    }

    if (options.kernels !== false) info("reduction kernels vs CPU reference...");
    const reductions = options.kernels === false ? null : await benchReductions({
      kernels: ["reduce_rows", "histogram", "spatial_maps"],
    });
    return {
      machine: {
        cores: navigator.hardwareConcurrency ?? 1,
        os: `${Deno.build.os}-${Deno.build.arch}`,
        deno: Deno.version.deno,
        gpu_adapter: gpu.description,
        gpu_fallback: gpu.fallback,
        load_average: [load0, loadAverage()],
      },
      model: {
        source: options.model ?? `fixtures generator, ResNet-18 widths ${widths!.join("-")}`,
        bytes: bytes.length,
        widths,
        input: [...batch.shape],
        taps,
      },
      auto: { ep: auto.ep, reason: auto.reason },
      native_bare_forward_ms: nativeBare,
      backends,
      forward_vs_native: autoRow?.forward_vs_native ?? null,
      overhead_share: autoRow?.overhead_share ?? null,
      big,
      reductions,
    };
  } finally {
    if (ownDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Options of the child `inspect` (JSON-safe subset of `InspectOptions`). */
interface ChildInspect {
  checkpoint: string;
  size: number;
  batchSize: number;
  maxLen: number;
  ep: EpChoice;
  threads: number;
  saveDir: string;
}

/**
 * Run one `inspect` in a fresh Deno process (this module as its entry) and return its time and
 * the process's peak resident memory (`getrusage` maxRSS), so that nothing else this process
 * allocated before counts.
 */
async function inspectInChild(
  options: ChildInspect,
): Promise<{ ms: number; peakRssBytes: number | null; notes: string[] }> {
  const config = new URL("../deno.json", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      "--config",
      config,
      new URL(import.meta.url).pathname,
      "--bench-child",
      JSON.stringify(options),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1);
    throw new InspectorError(`the big inspect run failed: ${err}`);
  }
  return JSON.parse(text);
}

if (import.meta.main && Deno.args[0] === "--bench-child") {
  const { resourceUsage } = await import("node:process");
  const o = JSON.parse(Deno.args[1]) as ChildInspect;
  const notes: string[] = [];
  const t0 = performance.now();
  await runInspect({
    ...o,
    onInfo: (l) => {
      if (/split|pass|memory|warning/i.test(l)) notes.push(l);
    },
  });
  const ms = performance.now() - t0;
  console.log(JSON.stringify({ ms, peakRssBytes: resourceUsage().maxRSS * 1024, notes }));
}

const f0 = (n: number) => n.toFixed(0);
const f2 = (n: number | null) => (n === null ? "n/a" : n.toFixed(2));
const fx = (n: number | null) => (n === null ? "n/a" : `${n.toFixed(2)}x`);

/**
 * The report as Markdown tables (what the README shows).
 *
 * @example Usage
 * ```ts ignore
 * import { formatBenchTable, runBench } from "./inspect_bench.ts";
 * console.log(formatBenchTable(await runBench({ bigSize: 0 })));
 * ```
 */
export function formatBenchTable(r: BenchReport): string {
  const lines: string[] = [];
  lines.push(
    `machine: ${r.machine.cores} cores, ${r.machine.os}, Deno ${r.machine.deno}, GPU adapter: ` +
      `${r.machine.gpu_adapter ?? "none"}${r.machine.gpu_fallback ? " (software)" : ""}, ` +
      `load average ${r.machine.load_average.map((v) => v ?? "?").join(" -> ")}`,
  );
  lines.push(
    `model: ${r.model.source} (${formatBytes(r.model.bytes)}), input (${
      r.model.input.join(", ")
    }), ` +
      `${r.model.taps.length} tapped tensors for the 8 default layers`,
  );
  lines.push(`auto picks: ${r.auto.ep} (${r.auto.reason})`, "");
  lines.push(
    "| backend | threads | bare forward ms | tapped forward ms | + in-graph statistics ms | whole tensors out ms | CPU ms bare / tapped | taps cost | vs bare native | inspect ms | overhead share (without load+session) | inspect peak RSS growth | GPU bytes read (fwd / inspect) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const b of r.backends) {
    lines.push(
      `| ${b.ep}${b.ep === r.auto.ep ? " (auto)" : ""} | ${b.threads} | ${
        f0(b.bare_forward.median_ms)
      } | ` +
        `${f0(b.tapped_forward.median_ms)}${
          b.tapped_forward_on_gpu ? ` (taps on GPU: ${f0(b.tapped_forward_on_gpu.median_ms)})` : ""
        } | ${b.forward_with_statistics ? f0(b.forward_with_statistics.median_ms) : "n/a"} | ${
          b.whole_tensor_forward ? f0(b.whole_tensor_forward.median_ms) : "n/a"
        } | ${f0(b.bare_forward.cpu_ms)} / ` +
        `${f0(b.tapped_forward.cpu_ms)} | ${f2(b.taps_cost)}x | ${fx(b.forward_vs_native)} | ` +
        `${f0(b.inspect.median_ms)} | ${f2(b.overhead_share)} (${
          f2(b.overhead_share_excluding_setup)
        }) | ` +
        `${b.peak_rss_growth_bytes ? formatBytes(b.peak_rss_growth_bytes) : "n/a"} | ` +
        `${formatBytes(b.gpu_bytes_read.tapped_forward)} / ${
          b.gpu_bytes_read.inspect === null ? "n/a" : formatBytes(b.gpu_bytes_read.inspect)
        } |`,
    );
  }
  const phaseNames = [...new Set(r.backends.flatMap((b) => Object.keys(b.phases_ms)))];
  if (phaseNames.length) {
    lines.push("", `| inspect phase (median ms) | ${r.backends.map((b) => b.ep).join(" | ")} |`);
    lines.push(`| --- |${r.backends.map(() => " --- |").join("")}`);
    for (const p of phaseNames) {
      lines.push(`| ${p} | ${r.backends.map((b) => f0(b.phases_ms[p] ?? NaN)).join(" | ")} |`);
    }
  }
  if (r.big) {
    lines.push(
      "",
      `big run (--size ${r.big.size} --batch_size ${r.big.batch_size} --max_len ${r.big.max_len}, ` +
        `ep ${r.big.ep}): ${f0(r.big.inspect_ms)} ms, peak RSS ` +
        `${r.big.peak_rss_bytes ? formatBytes(r.big.peak_rss_bytes) : "n/a"}`,
    );
    for (const n of r.big.notes) lines.push(`  ${n}`);
  }
  const red = r.reductions ??
    { adapter: null, fallbackAdapter: false, reason: "skipped", rows: [] };
  if (r.reductions) {
    lines.push(
      "",
      `reduction kernels (adapter: ${red.adapter ?? `none, ${red.reason ?? "no WebGPU"}`}` +
        `${red.fallbackAdapter ? ", software" : ""}), GB/s:`,
      "",
      "| kernel | shape | MB | CPU reference | GPU, host data | GPU, data on device |",
      "| --- | --- | --- | --- | --- | --- |",
    );
  }
  for (const x of red.rows) {
    lines.push(
      `| ${x.kernel} | (${x.shape.join(", ")}) | ${(x.bytes / 1e6).toFixed(1)} | ${
        f2(x.cpuGBs)
      } | ` +
        `${f2(x.gpuHostGBs)} | ${f2(x.gpuDeviceGBs)} |`,
    );
  }
  lines.push(
    "",
    `forward_vs_native (auto) = ${
      f2(r.forward_vs_native)
    } (target <= 1.3), overhead_share (auto) = ` +
      `${f2(r.overhead_share)} (target <= 0.25)`,
  );
  return lines.join("\n");
}
