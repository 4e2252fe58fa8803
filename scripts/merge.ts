/**
 * `deno task merge shard_0 shard_1 ... [--save_dir merged]`: combine the `--all_clips --shard i/n`
 * runs of one dataset into the statistics of one unsharded run (the same numbers, bit for bit):
 * `dataset_stats.json`, `clips.jsonl` (the shards' lines in clip order) and `dataset_state.json`.
 *
 * @module
 */

import { join } from "node:path";
import { InspectorError } from "../core/errors.ts";
import { mergeShards, PARTIALS_FILE, readState, statsFile } from "../inspector/dataset_run.ts";
import { runMain } from "./cli_args.ts";
import { commandHelp, defineCommand, defineGroup, parseCommand } from "./options/group.ts";
import { DEFAULT_SAVE_DIRS, saveDirFlag } from "./options/output.ts";
import { commonGroup } from "./options/common.ts";

/** The merge command. */
export const MERGE_COMMAND = defineCommand({
  name: "merge",
  header: `feature-inspector merge — combine the shards of a dataset run

Usage: deno task merge SHARD_DIR... [--save_dir DIR]

Each SHARD_DIR is the --save_dir of one 'inspect --all_clips --shard i/n' run; give all n.`,
  positionals: {
    max: Infinity,
    check: (p) => {
      if (p.length === 0) {
        throw new InspectorError("merge takes the shards' folders: deno task merge shard_*/");
      }
    },
  },
  groups: {
    output: defineGroup("output", {
      save_dir: saveDirFlag(DEFAULT_SAVE_DIRS.merge),
    }, (v) => ({ saveDir: v.save_dir })),
    common: commonGroup(),
  },
});

/** Help text. */
export const MERGE_HELP: string = commandHelp(MERGE_COMMAND);

async function main(argv: string[]): Promise<void> {
  const parsed = parseCommand(argv, MERGE_COMMAND);
  if (parsed.help || parsed.version) {
    console.log(MERGE_HELP);
    return;
  }
  const states = [];
  for (const dir of parsed.positionals) {
    const s = await readState(join(dir, "dataset_state.json"));
    if (!s) {
      throw new InspectorError(
        `${dir} holds no dataset_state.json: give the --save_dir of each --all_clips --shard run`,
      );
    }
    states.push({ dir, state: s });
  }
  const merged = mergeShards(states.map((s) => s.state));
  const out = parsed.options.output.saveDir;
  await Deno.mkdir(out, { recursive: true });
  const lines: string[] = [];
  for (const { dir } of [...states].sort((a, b) => a.state.shard[0] - b.state.shard[0])) {
    const text = await Deno.readTextFile(join(dir, "clips.jsonl")).catch(() => "");
    lines.push(...text.split("\n").filter((l) => l.length > 0));
  }
  await Deno.writeTextFile(join(out, "clips.jsonl"), lines.length ? lines.join("\n") + "\n" : "");
  await Deno.writeTextFile(
    join(out, PARTIALS_FILE),
    merged.partials.map((p) => JSON.stringify(p) + "\n").join(""),
  );
  await Deno.writeTextFile(
    join(out, "dataset_state.json"),
    JSON.stringify({ ...merged, partials: [] }),
  );
  await Deno.writeTextFile(
    join(out, "dataset_stats.json"),
    JSON.stringify(statsFile(merged), null, 1),
  );
  console.log(
    `merged ${states.length} shards (${merged.clips} clips): ${join(out, "dataset_stats.json")}`,
  );
}

if (import.meta.main) await runMain(() => main(Deno.args));
