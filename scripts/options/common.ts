/**
 * The common group: `--help` (and `-h`) and, where a command has them, `--version` and
 * `--quiet` (less output; as Polygraphy's logger flags, common to every tool that has it).
 *
 * @module
 */

import { defineGroup, type Flag, flag, type OptionGroup } from "./group.ts";

/** What the common flags parse to. */
export interface CommonOptions {
  /** `--help` was given. */
  help: boolean;
  /** `--version` was given (always false where the command has no `--version`). */
  version: boolean;
  /** `--quiet` was given (always false where the command has no `--quiet`). */
  quiet: boolean;
}

/**
 * The common group. `version` adds `--version`; `quiet` adds `--quiet` with that help line;
 * `helpText` is the help line of `--help` (none by default); `label` replaces the generated label
 * (with `version`: `--help, --version` on one line).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { commonGroup } from "./common.ts";
 * const g = commonGroup({ version: true });
 * assert.deepEqual(Object.keys(g.flags), ["help", "version"]);
 * assert.deepEqual(g.parse({ help: true }), { help: true, version: false, quiet: false });
 * const q = commonGroup({ quiet: "print only the summary" });
 * assert.deepEqual(Object.keys(q.flags), ["quiet", "help"]);
 * assert.equal(q.parse({ quiet: true }).quiet, true);
 * ```
 */
export function commonGroup(
  options: { version?: boolean; quiet?: string; helpText?: string; label?: string } = {},
): OptionGroup<CommonOptions> {
  const flags: Record<string, Flag<boolean>> = {};
  if (options.quiet) flags.quiet = flag.boolean({ help: [options.quiet] });
  flags.help = flag.boolean({
    short: "h",
    help: options.helpText ? [options.helpText] : [],
    label: options.label ?? (options.version ? "--help, --version" : undefined),
  });
  if (options.version) flags.version = flag.boolean({ help: [], hidden: true });
  return defineGroup("common", flags, (v) => ({
    help: v.help ?? false,
    version: v.version ?? false,
    quiet: v.quiet ?? false,
  }));
}
