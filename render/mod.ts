/**
 * Pictures without a browser: the feature-map grid, the PNG encoder every figure uses, Vega specs
 * to PNG with the bundled fonts, and the colormaps.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePng } from "./mod.ts";
 *
 * const png = encodePng({ width: 2, height: 2, data: new Uint8Array(16).fill(255) });
 * assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
 * ```
 *
 * @module
 */

export { featureGridLayout, renderFeatureGrid } from "./feature_grid.ts";
export type { FeatureGridLayout, FeatureGridOptions } from "./feature_grid.ts";
export { encodePng } from "./png.ts";
export type { PngOptions } from "./png.ts";
export { loadRenderAssets, renderSvgPng, renderVegaPng, setRenderAssets } from "./vega_png.ts";
export type { RenderAssets, RenderOptions, VegaSpec } from "./vega_png.ts";
export { colormap, renderChannelTile } from "./colormap.ts";
export type { ColorizeOptions, ColormapName } from "./colormap.ts";

// Types of lower layers that the API above refers to.
export type { RgbaImage } from "../core/mod.ts";
