/**
 * What a layer's per-frame shape holds: a spatial map `(C, H, W)` (or `(C, T', H, W)`), a
 * vector (logits `(1000)`, a projection `(1, 32)`, a pooled `(C, 1, 1)`), or a sequence
 * (`(4420, 2)`: 4420 steps of 2 values). Vectors and sequences get value charts instead of
 * feature grids and spatial maps, and only the health flags that apply to them.
 *
 * @module
 */

/** How a per-frame shape is treated. */
export interface TensorKind {
  /** `spatial`: channels of maps; `vector`: one value per index; `sequence`: steps x values. */
  kind: "spatial" | "vector" | "sequence";
  /** Entries along the main axis (channels, vector length, or steps). */
  length: number;
  /** Values per step of a sequence (1 for a vector; the map size for a spatial shape). */
  width: number;
}

/**
 * Classify a per-frame shape (without the batch/time axes).
 *
 * @example Usage
 * ```ts
 * import { classifyFrameShape } from "./tensor_kind.ts";
 * import { deepStrictEqual } from "node:assert";
 * deepStrictEqual(classifyFrameShape([64, 56, 56]), { kind: "spatial", length: 64, width: 3136 });
 * deepStrictEqual(classifyFrameShape([1000]), { kind: "vector", length: 1000, width: 1 });
 * deepStrictEqual(classifyFrameShape([1, 32]), { kind: "vector", length: 32, width: 1 });
 * deepStrictEqual(classifyFrameShape([512, 1, 1]), { kind: "vector", length: 512, width: 1 });
 * deepStrictEqual(classifyFrameShape([4420, 2]), { kind: "sequence", length: 4420, width: 2 });
 * ```
 */
export function classifyFrameShape(shape: readonly number[]): TensorKind {
  const size = shape.reduce((a, b) => a * b, 1);
  const big = shape.filter((d) => d > 1);
  if (big.length <= 1) return { kind: "vector", length: big[0] ?? size, width: 1 };
  if (shape.length >= 3 && shape.slice(-2).some((d) => d > 1)) {
    const rest = shape.slice(1).reduce((a, b) => a * b, 1);
    if (rest > 1) return { kind: "spatial", length: shape[0], width: rest };
  }
  if (big.length === 2) return { kind: "sequence", length: big[0], width: big[1] };
  return { kind: "spatial", length: shape[0], width: size / shape[0] };
}
