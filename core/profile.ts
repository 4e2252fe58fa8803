/**
 * Where a whole command's time goes: with `FEATURE_INSPECTOR_PROFILE=1` in the environment,
 * `inspect`, `analyze` and `compare` print one `profile:` line per phase to stderr when they end
 * (`deno task bench` and docs/performance.md "Whole commands" read them). Without it nothing is
 * printed; the phases are still summed, which costs two `performance.now()` calls per phase.
 *
 * Times are milliseconds; `at` marks are milliseconds since the Deno process started
 * (`performance.now()`), so `profile: mark main at 412 ms` is how long Deno took to start and
 * load the command's modules.
 *
 * @module
 */

interface Phase {
  ms: number;
  calls: number;
}

const phases = new Map<string, Phase>();
const marks: [string, number, number | null][] = [];

/**
 * Add `ms` milliseconds to the total of `phase`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { profileAdd, profilePhases } from "./profile.ts";
 * profileAdd("example.add", 2);
 * profileAdd("example.add", 3);
 * assert.deepEqual(profilePhases()["example.add"], { ms: 5, calls: 2 });
 * ```
 */
export function profileAdd(phase: string, ms: number): void {
  const p = phases.get(phase);
  if (p) {
    p.ms += ms;
    p.calls++;
  } else phases.set(phase, { ms, calls: 1 });
}

/**
 * Run `fn` and add its time to `phase` (also when it throws).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { profilePhases, profileTime } from "./profile.ts";
 * assert.equal(profileTime("example.time", () => 6 * 7), 42);
 * assert.equal(profilePhases()["example.time"].calls, 1);
 * ```
 */
export function profileTime<T>(phase: string, fn: () => T): T {
  const t0 = performance.now();
  let sync = true;
  try {
    const r = fn();
    if (r instanceof Promise) {
      sync = false;
      return r.finally(() => profileAdd(phase, performance.now() - t0)) as T;
    }
    return r;
  } finally {
    if (sync) profileAdd(phase, performance.now() - t0);
  }
}

/**
 * Note the time since the process started under `name`, and the process's resident memory then
 * (`Deno.memoryUsage().rss`, the current value, not a peak).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { profileLines, profileMark } from "./profile.ts";
 * profileMark("example.mark");
 * assert.match(profileLines().join("\n"), /^profile: mark example\.mark at \d+ ms, rss \d+ MiB$/m);
 * ```
 */
export function profileMark(name: string): void {
  let rss: number | null = null;
  try {
    rss = Deno.memoryUsage().rss;
  } catch { /* not available here */ }
  marks.push([name, performance.now(), rss]);
}

/**
 * The phase totals so far (a copy).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { profilePhases } from "./profile.ts";
 * assert.equal(typeof profilePhases(), "object");
 * ```
 */
export function profilePhases(): Record<string, { ms: number; calls: number }> {
  return Object.fromEntries([...phases].map(([k, v]) => [k, { ...v }]));
}

/**
 * The marks, then the phases, as the `profile:` lines a command prints
 * (`profile: mark NAME at MS ms, rss MIB MiB`, `profile: PHASE MS ms (N calls)`).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { profileAdd, profileLines } from "./profile.ts";
 * profileAdd("example.lines", 1.4);
 * assert.ok(profileLines().includes("profile: example.lines 1 ms (1 calls)"));
 * ```
 */
export function profileLines(): string[] {
  return [
    ...marks.map(([n, at, rss]) =>
      `profile: mark ${n} at ${at.toFixed(0)} ms` +
      (rss === null ? "" : `, rss ${(rss / 2 ** 20).toFixed(0)} MiB`)
    ),
    ...[...phases].map(([k, v]) => `profile: ${k} ${v.ms.toFixed(0)} ms (${v.calls} calls)`),
  ];
}

/**
 * Whether `FEATURE_INSPECTOR_PROFILE` is set to a non-empty value other than `0` (false when the
 * environment may not be read).
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { profileEnabled } from "./profile.ts";
 * assert.equal(typeof profileEnabled(), "boolean");
 * ```
 */
export function profileEnabled(): boolean {
  try {
    if (
      Deno.permissions.querySync({ name: "env", variable: "FEATURE_INSPECTOR_PROFILE" }).state !==
        "granted"
    ) return false;
    const v = Deno.env.get("FEATURE_INSPECTOR_PROFILE");
    return v !== undefined && v !== "" && v !== "0";
  } catch {
    return false;
  }
}
