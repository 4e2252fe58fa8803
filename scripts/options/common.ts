/**
 * The common group: `--help` (and `-h`) and, where a command has it, `--version`.
 *
 * @module
 */

import { defineGroup, flag, type OptionGroup } from "./group.ts";

/** What the common flags parse to. */
export interface CommonOptions {
  /** `--help` was given. */
  help: boolean;
  /** `--version` was given (always false where the command has no `--version`). */
  version: boolean;
}

/**
 * The common group. `version` adds `--version`; `helpText` is the help line of `--help`
 * (none by default); `label` replaces the generated label (e.g. `--help, --version` on one line).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { commonGroup } from "./common.ts";
 * const g = commonGroup({ version: true });
 * assert.deepEqual(Object.keys(g.flags), ["help", "version"]);
 * assert.deepEqual(g.parse({ help: true }), { help: true, version: false });
 * ```
 */
export function commonGroup(
  options: { version?: boolean; helpText?: string; label?: string } = {},
): OptionGroup<CommonOptions> {
  const help = flag.boolean({
    short: "h",
    help: options.helpText ? [options.helpText] : [],
    label: options.label ?? (options.version ? "--help, --version" : undefined),
  });
  if (!options.version) {
    return defineGroup("common", { help }, (v) => ({ help: v.help, version: false }));
  }
  return defineGroup(
    "common",
    { help, version: flag.boolean({ help: [], hidden: true }) },
    (v) => ({ help: v.help, version: v.version }),
  );
}
