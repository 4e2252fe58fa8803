/**
 * The dataset group of `inspect`: every clip of the folder (`--all_clips`), a slice of it for a
 * scheduler's array job (`--shard i/n`), and continuing a stopped run (`--resume`).
 *
 * @module
 */

import { defineGroup, flag, type OptionGroup } from "./group.ts";
import { parseShard } from "../../inspector/dataset_run.ts";

/** What the dataset flags parse to. */
export interface DatasetFlagOptions {
  /** `--all_clips`: dataset mode. */
  allClips: boolean;
  /** `--shard i/n`. */
  shard?: string;
  /** `--resume`. */
  resume: boolean;
}

/**
 * The dataset group.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { datasetGroup } from "./dataset.ts";
 * assert.equal(datasetGroup.parse({ all_clips: true, shard: "1/4" }).shard, "1/4");
 * assert.throws(() => datasetGroup.parse({ shard: "4/4" }), /shard 4\/4/);
 * ```
 */
export const datasetGroup: OptionGroup<DatasetFlagOptions> = defineGroup("dataset", {
  all_clips: flag.boolean({
    help: [
      "dataset mode: run every clip in batches of --batch_size and write dataset_stats.json",
      "(per layer and channel over all clips) and clips.jsonl (per clip); the frames of",
      "--batch_idx (clip indices across the dataset) and --timestep go to frames/features.npy",
    ],
  }),
  shard: flag.custom({
    type: "string",
    metavar: "i/n",
    help: ["with --all_clips: run slice i of n (0-based); combine with deno task merge"],
    parse: (raw) => {
      if (raw === undefined) return undefined;
      parseShard(String(raw)); // its error names --shard
      return String(raw);
    },
  }),
  resume: flag.boolean({
    help: ["with --all_clips: continue the run in --save_dir after its last finished batch"],
  }),
}, (v) => ({ allClips: v.all_clips, shard: v.shard, resume: v.resume }));
