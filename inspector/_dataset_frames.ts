/**
 * The saved frames of dataset mode: the clips of `batchIdx` (indices across the whole dataset)
 * and the frames of `timestep` written as one `features.npy` + `features.json` in the `frames/`
 * subfolder of the run, the files a normal `inspect` run writes, so that `analyze` reads them.
 *
 * Each batch that holds asked-for clips is run once more, with the same clips in the same batch
 * as in the dataset pass (so the values are those of that pass, bit for bit), and its frames go
 * straight into the `.npy` on disk: memory holds one batch.
 *
 * @module
 */

import { join } from "node:path";
import { InspectorError } from "../core/errors.ts";
import { OutputSet } from "../core/atomic.ts";
import { StructuredNpyWriter } from "../core/npy.ts";
import { checkFileStem } from "../core/file_stem.ts";
import type { ManifestSummary } from "../core/manifest.ts";
import {
  addFrames,
  emptyLayerAccumulator,
  foldPartial,
  type LayerAccumulator,
  layerDatasetStats,
} from "../stats/dataset_statistics.ts";
import { manifestSummary } from "../stats/manifest_summary.ts";
import { parseIndexSpec } from "./layout.ts";
import type { FeatureMapInspector } from "./feature_map_inspector.ts";
import type { LoadedBatch } from "./run_inspect.ts";

/** Subfolder of the run that holds the saved frames. */
export const FRAMES_DIR = "frames";

/** What {@linkcode saveDatasetFrames} needs. */
export interface DatasetFramesPlan {
  /** Run folder; the files go to `<saveDir>/frames/`. */
  saveDir: string;
  /** Clips in the dataset. */
  clips: number;
  /** Clips per batch. */
  batchSize: number;
  /** Batches of this shard: `[first, end)`. */
  batches: [number, number];
  /** Frames per clip T. */
  time: number;
  /** `--batch_idx` (clip indices across the dataset), default `0`. */
  batchIdx?: string;
  /** `--timestep`, default `0`. */
  timestep?: string;
  /** File stem (default `features`). */
  name?: string;
  /** `.npy` element type. */
  dtype?: "float32" | "float16";
  /** Load batch `k` as the dataset pass did. */
  load: (k: number) => Promise<LoadedBatch>;
}

/**
 * Write the asked-for frames; returns the `.npy` path, or null when none of the asked-for clips
 * is in this shard.
 */
export async function saveDatasetFrames(
  insp: FeatureMapInspector,
  plan: DatasetFramesPlan,
): Promise<string | null> {
  const B = plan.batchSize;
  const all = parseIndexSpec(plan.batchIdx ?? "0", {
    count: plan.clips,
    flag: "options.batchIdx",
  });
  const timestep = parseIndexSpec(plan.timestep ?? "0", {
    count: plan.time,
    flag: "options.timestep",
  });
  const lo = plan.batches[0] * B, hi = Math.min(plan.batches[1] * B, plan.clips);
  const clipIdx = all.filter((c) => c >= lo && c < hi);
  if (clipIdx.length === 0) return null;
  const name = checkFileStem(plan.name ?? "features", "options.name");
  const out = await OutputSet.open(join(plan.saveDir, FRAMES_DIR));
  let writer: StructuredNpyWriter | null = null;
  try {
    const npyPath = join(out.dir, `${name}.npy`);
    const nt = timestep.length;
    const batches = [...new Set(clipIdx.map((c) => Math.floor(c / B)))].sort((a, b) => a - b);
    const perFrame: ManifestSummary[][][] = []; // [layer][record row][t]
    const accs: LayerAccumulator[] = [];
    const clipsData: Record<string, unknown>[] = new Array(clipIdx.length);
    const savedFrames: Record<string, unknown>[][] = new Array(clipIdx.length);
    let base: Record<string, unknown> = {};
    // Every frame of the batches holding an asked-for clip (the clips' frames are picked below).
    insp.setTarget({ batchIdx: "all", timestep: "all" });
    for (const k of batches) {
      const batch = await plan.load(k);
      const ex = await insp.extractFeatures(batch.feeds);
      if (!writer) {
        writer = await StructuredNpyWriter.create(npyPath, {
          shape: [clipIdx.length, nt],
          fields: ex.layers.map((l) => ({
            name: l.name,
            scalar: plan.dtype === "float16" ? "f2" : "f4",
            shape: [...l.layout.frameShape],
          })),
        });
        for (const l of ex.layers) {
          perFrame.push(new Array(clipIdx.length));
          accs.push(
            emptyLayerAccumulator(l.name, {
              channels: l.layout.frameShape[0] ?? 1,
              spatial: l.layout.frameShape.slice(1).reduce((a, b) => a * b, 1),
            }),
          );
        }
        base = { ...batch.data };
      }
      for (const [row, c] of clipIdx.entries()) {
        if (Math.floor(c / B) !== k) continue;
        const b = c - k * B;
        for (const [j, l] of ex.layers.entries()) {
          const frames = timestep.map((t) => l.frames[b][t]);
          for (const [ti, f] of frames.entries()) await writer.writeField(l.name, row * nt + ti, f);
          foldPartial(accs[j], addFrames(accs[j], frames));
          perFrame[j][row] = l.stats.perFrame[b].map(manifestSummary);
        }
        const clip = batch.clips?.clips[b];
        if (clip) {
          clipsData[row] = { id: clip.id, dir: clip.dir, frame_count: clip.frameCount, index: c };
          savedFrames[row] = timestep.map((t) => ({
            clip: clip.id,
            batch_idx: c,
            timestep: t,
            file: clip.frameFiles[t],
            frame_index: clip.frameIndices[t],
            gaze: clip.gaze[t] ?? [],
          }));
        }
      }
    }
    if (!writer) throw new InspectorError("internal: no batch held the asked-for clips");
    out.adopt(npyPath, await writer.finish());
    writer = null;
    const m = insp.manifest({ name });
    m.data = {
      ...base,
      mode: "dataset (--all_clips): batch_idx are clip indices across the dataset",
      batch_size: B,
      clips: clipsData,
      saved_frames: savedFrames,
    };
    m.targets = { batch_idx: clipIdx, timestep };
    m.npy = { ...m.npy, shape: [clipIdx.length, nt] };
    m.layers = m.layers.map((l, j) => {
      const s = layerDatasetStats(accs[j]);
      return {
        ...l,
        stats: {
          mean: s.summary.mean,
          std: s.summary.std,
          min: s.summary.min,
          max: s.summary.max,
          sparsity: s.summary.sparsity,
          nonfinite: s.nonfinite,
        },
        channels: {
          mean: s.per_channel.mean,
          std: s.per_channel.std,
          max: s.per_channel.max,
          sparsity: s.per_channel.sparsity,
        },
        per_frame: perFrame[j],
      };
    });
    const jsonName = `${name}.json`;
    m.files = [`${name}.npy`, jsonName];
    await out.writeFile(
      jsonName,
      new TextEncoder().encode(JSON.stringify(m, null, 1) + "\n"),
      { last: true },
    );
    await out.commit();
    return npyPath;
  } catch (err) {
    await writer?.abort();
    await out.abort();
    throw err;
  }
}
