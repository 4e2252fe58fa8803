/**
 * No run destroys another run's results: before a command writes into a folder, it claims the
 * files it will write. A file that already exists may be replaced only by the same run (the
 * record beside it, a manifest or report, says which run wrote it and has the same key: the
 * identical command run again) or when the user says `overwrite`. Anything else is one clear
 * error that says which file, whose it is, and what to pass instead.
 *
 * @module
 */

import { join } from "node:path";
import { InspectorError } from "./errors.ts";

/** The facts that identify a run (e.g. model hash, data, frames, layers), as strings. */
export type RunKey = Readonly<Record<string, string>>;

/** Options of {@linkcode claimOutputs}. */
export interface ClaimOptions {
  /** The run that is about to write. */
  key: RunKey;
  /** JSON records in the folder that say which run wrote which files (e.g. manifests). */
  records: (names: string[]) => string[];
  /** The key of a record, or null when the JSON is not such a record. */
  keyOf: (record: Record<string, unknown>) => RunKey | null;
  /** Replace whatever is there. */
  overwrite?: boolean;
  /** What to do instead, for the message (e.g. "pass options.name to keep both"). */
  hint: string;
}

/**
 * The first fact in which two keys differ, as `name a vs b`; null when they are equal.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { keyDifference } from "./run_slot.ts";
 * assert.equal(keyDifference({ timestep: "0" }, { timestep: "4" }), "timestep 0 vs 4");
 * assert.equal(keyDifference({ a: "1" }, { a: "1" }), null);
 * ```
 */
export function keyDifference(a: RunKey, b: RunKey): string | null {
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const cut = (v: string | undefined): string =>
      v === undefined ? "none" : v.length > 48 ? `${v.slice(0, 45)}...` : v;
    if (a[k] !== b[k]) return `${k} ${cut(a[k])} vs ${cut(b[k])}`;
  }
  return null;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Check that `files` (names inside `dir`) may be written by the run `options.key`; throws an
 * {@linkcode InspectorError} naming the first file another run owns.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { claimOutputs } from "./run_slot.ts";
 * const dir = Deno.makeTempDirSync();
 * const opts = (t: string) => ({
 *   key: { timestep: t },
 *   records: (names: string[]) => names.filter((n) => n.endsWith(".json")),
 *   keyOf: (r: Record<string, unknown>) => ({ timestep: String(r.timestep) }),
 *   hint: "pass options.name to keep both, or options.overwrite to replace it",
 * });
 * Deno.writeTextFileSync(`${dir}/run.json`, JSON.stringify({ timestep: 0, files: ["run.json"] }));
 * await claimOutputs(dir, ["run.json"], opts("0")); // the same run again: fine
 * await assert.rejects(claimOutputs(dir, ["run.json"], opts("4")), /holds run.json of another run/);
 * await claimOutputs(dir, ["other.json"], opts("4")); // a free name: fine
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function claimOutputs(
  dir: string,
  files: readonly string[],
  options: ClaimOptions,
): Promise<void> {
  if (options.overwrite) return;
  const present = files.filter((f) => exists(join(dir, f)));
  if (present.length === 0) return;
  const names: string[] = [];
  for (const e of Deno.readDirSync(dir)) if (e.isFile) names.push(e.name);
  const owners: { record: string; key: RunKey | null; files: Set<string> }[] = [];
  for (const record of options.records(names.sort())) {
    let json: unknown;
    try {
      json = JSON.parse(await Deno.readTextFile(join(dir, record)));
    } catch {
      continue; // unreadable: owns nothing, so its files count as foreign
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) continue;
    const rec = json as Record<string, unknown>;
    const key = options.keyOf(rec);
    if (!key) continue;
    const listed = Array.isArray(rec.files) ? rec.files.filter((f) => typeof f === "string") : [];
    owners.push({ record, key, files: new Set([record, ...listed as string[]]) });
  }
  const mine = new Set(
    owners.filter((o) => keyDifference(o.key!, options.key) === null).flatMap((o) => [
      ...o.files,
    ]),
  );
  const taken = present.filter((f) => !mine.has(f));
  if (taken.length === 0) return;
  const owner = owners.find((o) => o.files.has(taken[0]));
  const whose = owner
    ? `of another run (${keyDifference(owner.key!, options.key)}, see ${owner.record})`
    : "that no record of this run lists";
  const more = taken.length > 1
    ? ` (and ${taken.length - 1} more of the files it would write)`
    : "";
  throw new InspectorError(
    `options.saveDir ${dir} already holds ${taken[0]} ${whose}${more}: ${options.hint}`,
  );
}
