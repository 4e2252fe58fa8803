/**
 * Splitting work into dispatches that respect a device's limits.
 *
 * A kernel's input is cut into work units (a (row, chunk), a block of values, a (frame, channel
 * group)...), each covering a contiguous element range, in increasing order. {@linkcode
 * planSegments} groups consecutive units into segments whose input binding (including the slack
 * needed to align its offset) fits `maxBindingBytes`, whose output fits too, and whose workgroup
 * count fits a 2D dispatch of `maxWorkgroupsPerDimension` squared.
 *
 * @module
 */

/** The element range of each unit, in increasing, non-overlapping order. */
export interface UnitLayout {
  /** Number of units. */
  count: number;
  /** First element of unit `u`. */
  start(u: number): number;
  /** One past the last element of unit `u`. */
  end(u: number): number;
}

/** Limits a plan must respect. */
export interface PlanLimits {
  /** Largest storage binding in bytes (input and output alike). */
  maxBindingBytes: number;
  /** Required alignment of a binding offset in bytes. */
  alignment: number;
  /** Output bytes per unit (0 when the output does not grow with the units). */
  outBytesPerUnit: number;
  /** Largest number of units in one dispatch (from the workgroup limits). */
  maxUnits: number;
}

/** One dispatch: units `u0 .. u1 - 1` reading elements `e0 .. e1 - 1`. */
export interface Segment {
  /** First unit. */
  u0: number;
  /** One past the last unit. */
  u1: number;
  /** First element read. */
  e0: number;
  /** One past the last element read. */
  e1: number;
}

/**
 * Group units into segments that fit the limits.
 *
 * @example Usage
 * ```ts
 * import { planSegments } from "./plan.ts";
 * const units = { count: 10, start: (u: number) => u * 100, end: (u: number) => u * 100 + 100 };
 * const limits = { maxBindingBytes: 1024, alignment: 32, outBytesPerUnit: 32, maxUnits: 1 << 20 };
 * console.log(planSegments(units, limits).length); // 5 (2 units of 400 bytes + slack each)
 * ```
 */
export function planSegments(units: UnitLayout, limits: PlanLimits): Segment[] {
  const slack = Math.max(0, limits.alignment - 4);
  const maxBytes = limits.maxBindingBytes - slack;
  let maxUnits = limits.maxUnits;
  if (limits.outBytesPerUnit > 0) {
    maxUnits = Math.min(maxUnits, Math.floor(limits.maxBindingBytes / limits.outBytesPerUnit));
  }
  if (maxUnits < 1) {
    throw new RangeError(
      `one work unit needs ${limits.outBytesPerUnit} output bytes, more than the ` +
        `${limits.maxBindingBytes}-byte binding limit`,
    );
  }
  const out: Segment[] = [];
  let u0 = 0;
  while (u0 < units.count) {
    const e0 = units.start(u0);
    if ((units.end(u0) - e0) * 4 > maxBytes) {
      throw new RangeError(
        `one work unit reads ${(units.end(u0) - e0) * 4} bytes, more than the ` +
          `${limits.maxBindingBytes}-byte binding limit`,
      );
    }
    // Largest u1 - 1 in [u0, u0 + maxUnits - 1] whose end still fits.
    let lo = u0, hi = Math.min(units.count, u0 + maxUnits) - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((units.end(mid) - e0) * 4 <= maxBytes) lo = mid;
      else hi = mid - 1;
    }
    out.push({ u0, u1: lo + 1, e0, e1: units.end(lo) });
    u0 = lo + 1;
  }
  return out;
}

/**
 * A 2D workgroup grid for `groups` workgroups: x as large as allowed, y as needed.
 *
 * @example Usage
 * ```ts
 * import { grid2d } from "./plan.ts";
 * console.log(grid2d(100000, 65535)); // [50000, 2]
 * ```
 */
export function grid2d(groups: number, maxPerDim: number): [number, number] {
  if (groups <= maxPerDim) return [Math.max(1, groups), 1];
  const y = Math.ceil(groups / maxPerDim);
  if (y > maxPerDim) throw new RangeError(`${groups} workgroups exceed a ${maxPerDim}^2 grid`);
  return [Math.ceil(groups / y), y];
}

/**
 * Round `n` up to a multiple of `a`.
 *
 * @example Usage
 * ```ts
 * import { alignUp } from "./plan.ts";
 * console.log(alignUp(33, 32)); // 64
 * ```
 */
export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
