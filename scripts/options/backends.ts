/**
 * The backend names the flags accept (`inspect --ep`, `bench --ep`): the one place the scripts
 * take them from.
 *
 * Single point to switch: when `inspector/backends.ts` exports the backend table's list of
 * names, import it here instead of spelling the names out; the type check below fails if this
 * list and the library's `EpChoice` ever disagree.
 *
 * @module
 */

import type { EpChoice } from "../../inspector/runtime.ts";

/** Every `--ep` value of `inspect`: `auto` and each backend. */
export const EP_CHOICES = ["auto", "webgpu", "wasm", "cpu"] as const satisfies readonly EpChoice[];

/** The backends themselves (what `auto` picks from, and what `bench --ep` measures). */
export type Backend = Exclude<EpChoice, "auto">;

/**
 * The backends, without `auto`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { BACKENDS } from "./backends.ts";
 * assert.deepEqual([...BACKENDS].sort(), ["cpu", "wasm", "webgpu"]);
 * ```
 */
export const BACKENDS: readonly Backend[] = EP_CHOICES.filter((e): e is Backend => e !== "auto");

// Compile-time check: every EpChoice is listed (an EpChoice added to the library and not here
// makes this line a type error).
const _everyChoice: Exclude<EpChoice, (typeof EP_CHOICES)[number]> extends never ? true : never =
  true;
void _everyChoice;
