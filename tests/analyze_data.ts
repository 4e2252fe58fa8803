/**
 * Synthetic structured `.npy` files for the analyze tests (not a test file itself): seeded random
 * activations shaped like a 2D ResNet (folded BN, ReLU zeros, a dead channel), a 3D CNN, a
 * float16 file and one with NaN/Inf.
 *
 * @module
 */

import { StructuredNpyWriter } from "../core/npy.ts";
import type { NpyScalar } from "../core/npy.ts";
import { prng } from "./helpers.ts";

/** How to fill one layer. */
export interface SyntheticLayer {
  /** Field name. */
  name: string;
  /** Per-frame shape. */
  shape: number[];
  /** `relu` (about half zeros), `normal` (no zeros), `positive`. */
  kind: "relu" | "normal" | "positive";
  /** Scale of the values. */
  scale?: number;
  /** Channels that are all zero. */
  dead?: number[];
  /** Put this many NaN and this many +Inf values in. */
  nonfinite?: number;
}

/**
 * Write a structured `.npy` with the given layers and records, and return its path.
 *
 * @example Usage
 * ```ts ignore
 * await writeSynthetic("/tmp/f.npy", { records: [1, 2], layers: [{ name: "l", shape: [4, 8, 8], kind: "relu" }] });
 * ```
 */
export async function writeSynthetic(
  path: string,
  spec: { records: [number, number]; layers: SyntheticLayer[]; dtype?: NpyScalar; seed?: number },
): Promise<string> {
  const rnd = prng(spec.seed ?? 7);
  const gauss = (): number =>
    Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  const scalar = spec.dtype ?? "f4";
  const w = await StructuredNpyWriter.create(path, {
    shape: spec.records,
    fields: spec.layers.map((l) => ({ name: l.name, scalar, shape: l.shape })),
  });
  try {
    const R = spec.records[0] * spec.records[1];
    for (const l of spec.layers) {
      const n = l.shape.reduce((a, b) => a * b, 1);
      const C = l.shape[0];
      const per = n / C;
      for (let r = 0; r < R; r++) {
        const d = new Float32Array(n);
        for (let c = 0; c < C; c++) {
          const bias = 0.15 * Math.sin(c * 1.3 + r * 0.7);
          for (let k = 0; k < per; k++) {
            const g = gauss() * (l.scale ?? 1) + bias + 0.2 * Math.sin(k * 0.05 + c);
            d[c * per + k] = l.kind === "relu"
              ? Math.max(0, g)
              : l.kind === "positive"
              ? Math.abs(g)
              : g;
          }
        }
        for (const c of l.dead ?? []) d.fill(0, c * per, (c + 1) * per);
        for (let i = 0; i < (l.nonfinite ?? 0); i++) {
          d[Math.floor(rnd() * n)] = NaN;
          d[Math.floor(rnd() * n)] = Infinity;
        }
        await w.writeField(l.name, r, d);
      }
    }
    await w.commit();
  } catch (err) {
    await w.abort();
    throw err;
  }
  return path;
}

/** A folded-BN ResNet-like extraction: conv1 (=bn1) dense, relu/layer1..4 after ReLU. */
export const RESNET_LAYERS: SyntheticLayer[] = [
  { name: "conv1", shape: [16, 56, 56], kind: "normal", scale: 0.8 },
  { name: "relu", shape: [16, 56, 56], kind: "relu" },
  { name: "layer1", shape: [16, 28, 28], kind: "relu", dead: [3] },
  { name: "layer2", shape: [32, 14, 14], kind: "relu", scale: 1.5 },
  { name: "layer3", shape: [64, 7, 7], kind: "relu", scale: 2.5 },
  { name: "layer4", shape: [128, 4, 4], kind: "relu", scale: 4 },
];

/** A 3D-CNN-like extraction (per-frame fields at the mapped time index). */
export const R3D_LAYERS: SyntheticLayer[] = [
  { name: "stem", shape: [8, 56, 56], kind: "relu" },
  { name: "layer1", shape: [8, 56, 56], kind: "relu" },
  { name: "layer2", shape: [16, 28, 28], kind: "relu" },
  { name: "layer3", shape: [32, 14, 14], kind: "relu", scale: 0.05 },
  { name: "layer4", shape: [64, 7, 7], kind: "positive", scale: 3 },
];
