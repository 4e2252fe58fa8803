/**
 * Private: each command's default `--save_dir`, in a module without imports, so that the
 * launcher (`scripts/launch.ts`, a process of its own under every command) loads nothing else.
 *
 * @module
 */

/**
 * Each command's default `--save_dir` (relative to where the user stands). The one list the
 * flags, the help text and the launcher (`scripts/launch.ts`, which grants write access to
 * exactly this folder) read.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_SAVE_DIRS } from "./_save_dirs.ts";
 * assert.equal(DEFAULT_SAVE_DIRS.analyze, "feature_analysis");
 * ```
 */
export const DEFAULT_SAVE_DIRS = {
  inspect: "out",
  analyze: "feature_analysis",
  compare: "comparison",
  merge: "merged",
} as const;
