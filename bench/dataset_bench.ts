/**
 * The dataset section of `deno task bench`: clips per second of dataset mode (`inspect
 * --all_clips`: decoding, the tapped forward, the streamed statistics and the state writes) on
 * generated clips, against the bare forward pass of the same model on the same clips decoded
 * beforehand. The target: dataset throughput >= 0.8x the bare forward's.
 *
 * @module
 */

import { join } from "node:path";
import process from "node:process";
import { median } from "./_timing.ts";
import { encodePng } from "../render/png.ts";
import { prng } from "../stats/prng.ts";
import { reduceRows } from "../stats/moments.ts";
import { reduceRowsHistogram } from "../stats/row_kernel.ts";
import { addHistogram, emptyLayerAccumulator, HIST_BINS } from "../stats/dataset_statistics.ts";
import { loadClips } from "../inspector/clips.ts";
import { runDataset } from "../inspector/dataset_run.ts";
import { loadOnnxModel } from "../inspector/onnx_model.ts";
import { createSession, type EpChoice, type ModelSession } from "../inspector/runtime.ts";
import { DEFAULT_LAYERS, FeatureMapInspector } from "../inspector/feature_map_inspector.ts";

/** The dataset section's numbers. */
export interface DatasetBenchReport {
  /** Clips, frames per clip, frame size, batch size, backend. */
  setup: { clips: number; maxLen: number; size: number; batchSize: number; ep: string };
  /** Bare forward on pre-decoded batches: clips/s (median of the runs). */
  bareClipsPerSecond: number;
  /**
   * The tapped forward of the same batches as dataset mode runs it (every tapped tensor handed
   * back and read once for its moments and histogram; one frame saved): the floor of dataset
   * mode.
   */
  tappedClipsPerSecond: number;
  /** Dataset mode, whole (model load and session included): clips/s (median of the runs). */
  datasetClipsPerSecond: number;
  /** Dataset mode after its first batch (progress callbacks): clips/s (median of the runs). */
  steadyClipsPerSecond: number;
  /** steady dataset / bare (the target: >= 0.8). */
  ratio: number;
  /** steady dataset / tapped forward: how much of decoding and statistics is hidden. */
  ratioTapped: number;
  /**
   * CPU time (`process.cpuUsage`: every thread, all cores) per batch of the bare forward and of
   * dataset mode after its first batch (medians), and the cores there are: where onnxruntime
   * already keeps every core busy, decoding and statistics add their CPU time to the wall time.
   */
  cpuMsPerBatch: { bare: number; dataset: number; cores: number };
  /**
   * The same with a core left over (onnxruntime on `threads` = cores - 1, bare and dataset
   * alike; cpu backend only, null otherwise), where decoding and statistics run beside the
   * forward.
   */
  spareCore: {
    threads: number;
    bareClipsPerSecond: number;
    steadyClipsPerSecond: number;
    ratio: number;
  } | null;
  /**
   * The fused row kernel dataset mode reads every value with (`stats/row_kernel.ts`: moments
   * and histogram in one WebAssembly SIMD pass) against the JavaScript it replaces
   * (`reduceRows` + `addHistogram`), ns per value on a ReLU-like tensor of 32 frames x 64
   * channels x 56 x 56 (median of 5).
   */
  rowKernel: { wasmNsPerValue: number; jsNsPerValue: number };
}

/**
 * Time the fused row kernel against the JavaScript reductions it replaces, on the same values.
 *
 * @example Usage
 * ```ts ignore
 * import { benchRowKernel } from "./dataset_bench.ts";
 * const r = benchRowKernel();
 * console.log(r.jsNsPerValue / r.wasmNsPerValue);
 * ```
 */
export function benchRowKernel(): { wasmNsPerValue: number; jsNsPerValue: number } {
  const rows = 32 * 64, width = 56 * 56;
  const data = new Float32Array(rows * width);
  const rand = prng(5);
  for (let i = 0; i < data.length; i++) data[i] = Math.max(0, rand() - 0.5) * 4;
  const wasm: number[] = [], js: number[] = [];
  for (let r = 0; r < 6; r++) {
    let t = performance.now();
    reduceRowsHistogram(data, [rows, width], { histogram: new Array(HIST_BINS).fill(0) });
    const a = ((performance.now() - t) * 1e6) / data.length;
    t = performance.now();
    reduceRows(data, rows, width);
    addHistogram(emptyLayerAccumulator("x", { channels: 1, spatial: data.length }), [data]);
    const b = ((performance.now() - t) * 1e6) / data.length;
    if (r > 0) { // the first round warms both up
      wasm.push(a);
      js.push(b);
    }
  }
  return { wasmNsPerValue: median(wasm), jsNsPerValue: median(js) };
}

/** Options of {@linkcode benchDataset}. */
export interface DatasetBenchOptions {
  /** Clips to generate (default 32). */
  clips?: number;
  /** Frames per clip (default 8). */
  maxLen?: number;
  /** Frame size (default 112). */
  size?: number;
  /** Clips per batch (default 4). */
  batchSize?: number;
  /** Backend (default cpu). */
  ep?: EpChoice;
  /** Measured runs of each (default 3). */
  runs?: number;
  /** Model (default: a generated full-width ResNet-18 video model). */
  model?: string;
}

/**
 * Measure dataset mode against the bare forward pass.
 *
 * @example Usage
 * ```ts ignore
 * import { benchDataset, formatDatasetBench } from "./dataset_bench.ts";
 * console.log(formatDatasetBench(await benchDataset({ clips: 16 })));
 * ```
 */
export async function benchDataset(options: DatasetBenchOptions = {}): Promise<DatasetBenchReport> {
  const clips = options.clips ?? 32, maxLen = options.maxLen ?? 8, size = options.size ?? 112;
  const B = options.batchSize ?? 4, ep = options.ep ?? "cpu", runs = options.runs ?? 3;
  const tmp = await Deno.makeTempDir({ prefix: "fi_dsbench_" });
  try {
    // The model: the full-width ResNet-18 video model of the inspect section (or options.model).
    let model = options.model;
    if (!model) {
      const { buildResNetVideo } = await import("../fixtures/generate.ts");
      model = join(tmp, "resnet18_video_w64.onnx");
      await Deno.writeFile(model, buildResNetVideo({ widths: [64, 128, 256, 512] }));
    }
    const dir = join(tmp, "clips");
    const rand = prng(18);
    for (let c = 0; c < clips; c++) {
      const clip = join(dir, `clip${String(c).padStart(3, "0")}`);
      await Deno.mkdir(clip, { recursive: true });
      for (let f = 0; f < maxLen; f++) {
        const data = new Uint8Array(160 * 120 * 4);
        for (let i = 0; i < data.length; i++) data[i] = i % 4 === 3 ? 255 : (rand() * 256) | 0;
        await Deno.writeFile(join(clip, `f${f}.png`), encodePng({ width: 160, height: 120, data }));
      }
    }
    const graph = await loadOnnxModel(model);
    const input = graph.inputs[0].name;
    const batches: { data: Float32Array; dims: number[] }[] = [];
    for (let k = 0; k * B < clips; k++) {
      const n = Math.min(B, clips - k * B);
      const b = await loadClips(dir, { batchSize: n, maxLen, size, firstClip: k * B });
      batches.push({ data: b.data, dims: [...b.shape] });
    }
    // CPU time (both cores, every thread of the process) per batch of a timed stretch.
    const batchesOf = (n: number) => n / B;
    const cpuMs = (from: NodeJS.CpuUsage) => {
      const d = process.cpuUsage(from);
      return (d.user + d.system) / 1000;
    };
    const bareRound = async (s: ModelSession) => {
      const c = process.cpuUsage(), t = performance.now();
      for (const b of batches) {
        const out = await s.run({ [input]: b });
        for (const o of Object.values(out)) o.dispose();
      }
      return {
        clipsPerSecond: clips / ((performance.now() - t) / 1000),
        cpuMsPerBatch: cpuMs(c) / batchesOf(clips),
      };
    };
    let round = 0;
    const datasetRound = async (threads?: number) => {
      type Mark = { t: number; done: number; cpu: NodeJS.CpuUsage };
      let first: Mark | null = null, last: Mark | null = null;
      const t = performance.now();
      await runDataset({
        onProgress: (p) => {
          last = { t: performance.now(), done: p.done, cpu: process.cpuUsage() };
          first ??= last;
        },
        checkpoint: model!,
        dset: dir,
        batchSize: B,
        maxLen,
        size,
        ep,
        threads,
        saveDir: join(tmp, `ds${round++}`),
        saveFrames: false,
      });
      const whole = clips / ((performance.now() - t) / 1000);
      const f = first as Mark | null, l = last as Mark | null;
      if (!f || !l || l.done <= f.done) return { whole, steady: null, cpuMsPerBatch: null };
      const cpu = (l.cpu.user - f.cpu.user + l.cpu.system - f.cpu.system) / 1000;
      return {
        whole,
        steady: (l.done - f.done) / ((l.t - f.t) / 1000),
        cpuMsPerBatch: cpu / batchesOf(l.done - f.done),
      };
    };
    await using session = await createSession(await Deno.readFile(model), { ep });
    // Dataset mode's own extraction: every tapped value read once (moments and histogram).
    await using insp = await FeatureMapInspector.create(graph, {
      layers: DEFAULT_LAYERS,
      ep,
      histogram: true,
    });
    insp.setTarget({ batchIdx: 0, timestep: 0 });
    const bare: number[] = [], tapped: number[] = [], whole: number[] = [], steady: number[] = [];
    const bareCpu: number[] = [], datasetCpu: number[] = [];
    for (let r = 0; r <= runs; r++) {
      // Alternating, after one warm-up round of each.
      const b = await bareRound(session);
      if (r > 0) bare.push(b.clipsPerSecond), bareCpu.push(b.cpuMsPerBatch);
      const t = performance.now();
      for (const b of batches) await insp.extractFeatures(b);
      if (r > 0) tapped.push(clips / ((performance.now() - t) / 1000));
      const d = await datasetRound();
      if (r > 0) {
        whole.push(d.whole);
        if (d.steady !== null) steady.push(d.steady);
        if (d.cpuMsPerBatch !== null) datasetCpu.push(d.cpuMsPerBatch);
      }
    }
    // With a core left over: onnxruntime on one thread fewer than the machine has.
    let spareCore: DatasetBenchReport["spareCore"] = null;
    const threads = navigator.hardwareConcurrency - 1;
    if (ep === "cpu" && threads >= 1) {
      await using s = await createSession(await Deno.readFile(model), { ep, threads });
      const sb: number[] = [], sd: number[] = [];
      for (let r = 0; r <= 1; r++) {
        const b = await bareRound(s);
        const d = await datasetRound(threads);
        if (r > 0) sb.push(b.clipsPerSecond), sd.push(d.steady ?? d.whole);
      }
      spareCore = {
        threads,
        bareClipsPerSecond: median(sb),
        steadyClipsPerSecond: median(sd),
        ratio: median(sd) / median(sb),
      };
    }
    const bareClipsPerSecond = median(bare), datasetClipsPerSecond = median(whole);
    const tappedClipsPerSecond = median(tapped);
    const steadyClipsPerSecond = steady.length ? median(steady) : datasetClipsPerSecond;
    const rowKernel = benchRowKernel();
    return {
      setup: { clips, maxLen, size, batchSize: B, ep },
      bareClipsPerSecond,
      tappedClipsPerSecond,
      datasetClipsPerSecond,
      steadyClipsPerSecond,
      ratio: steadyClipsPerSecond / bareClipsPerSecond,
      ratioTapped: steadyClipsPerSecond / tappedClipsPerSecond,
      cpuMsPerBatch: {
        bare: median(bareCpu),
        dataset: datasetCpu.length ? median(datasetCpu) : NaN,
        cores: navigator.hardwareConcurrency,
      },
      spareCore,
      rowKernel,
    };
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/**
 * The dataset section as text.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatDatasetBench } from "./dataset_bench.ts";
 * const text = formatDatasetBench({
 *   setup: { clips: 32, maxLen: 8, size: 112, batchSize: 4, ep: "cpu" },
 *   bareClipsPerSecond: 10,
 *   tappedClipsPerSecond: 6,
 *   datasetClipsPerSecond: 4.5,
 *   steadyClipsPerSecond: 5.4,
 *   ratio: 0.54,
 *   ratioTapped: 0.9,
 *   cpuMsPerBatch: { bare: 280, dataset: 390, cores: 2 },
 *   spareCore: { threads: 1, bareClipsPerSecond: 15, steadyClipsPerSecond: 13.5, ratio: 0.9 },
 *   rowKernel: { wasmNsPerValue: 2, jsNsPerValue: 9 },
 * });
 * assert.match(text, /CPU time per batch .* 280 ms bare, 390 ms dataset mode \(2 cores\)/);
 * assert.match(text, /onnxruntime on 1 thread\): .* 0\.90x/);
 * assert.match(text, /0\.54x \(target >= 0\.8x\)/);
 * assert.match(text, /0\.90x of the tapped forward/);
 * assert.match(text, /row kernel .* 2\.00 ns\/value, .* 9\.00 ns\/value \(4\.5x\)/);
 * ```
 */
export function formatDatasetBench(r: DatasetBenchReport): string {
  const s = r.setup;
  return [
    `dataset mode (inspect --all_clips), ${s.clips} generated clips x ${s.maxLen} frames, ` +
    `${s.size} px, batch ${s.batchSize}, ${s.ep}:`,
    `  bare forward (frames decoded beforehand) ${
      r.bareClipsPerSecond.toFixed(1).padStart(7)
    } clips/s`,
    `  tapped forward (moments + histogram)     ${
      r.tappedClipsPerSecond.toFixed(1).padStart(7)
    } clips/s`,
    `  dataset mode, after its first batch      ${
      r.steadyClipsPerSecond.toFixed(1).padStart(7)
    } clips/s`,
    `  dataset mode, whole (load + session too) ${
      r.datasetClipsPerSecond.toFixed(1).padStart(7)
    } clips/s`,
    `  dataset / bare                           ${
      r.ratio.toFixed(2).padStart(7)
    }x (target >= 0.8x)`,
    `  dataset / tapped forward                 ${
      r.ratioTapped.toFixed(2).padStart(7)
    }x of the tapped forward (decoding and statistics hidden behind it)`,
    `  CPU time per batch (all threads)         ${r.cpuMsPerBatch.bare.toFixed(0)} ms bare, ${
      r.cpuMsPerBatch.dataset.toFixed(0)
    } ms dataset mode (${r.cpuMsPerBatch.cores} cores)`,
    ...(r.spareCore
      ? [
        `  a core left over (onnxruntime on ${r.spareCore.threads} thread${
          r.spareCore.threads > 1 ? "s" : ""
        }): bare ${r.spareCore.bareClipsPerSecond.toFixed(1)}, dataset ${
          r.spareCore.steadyClipsPerSecond.toFixed(1)
        } clips/s, ${r.spareCore.ratio.toFixed(2)}x`,
      ]
      : []),
    `  row kernel (moments + histogram, wasm SIMD) ${
      r.rowKernel.wasmNsPerValue.toFixed(2)
    } ns/value, JavaScript reduceRows + addHistogram ${
      r.rowKernel.jsNsPerValue.toFixed(2)
    } ns/value (${(r.rowKernel.jsNsPerValue / r.rowKernel.wasmNsPerValue).toFixed(1)}x)`,
  ].join("\n");
}
