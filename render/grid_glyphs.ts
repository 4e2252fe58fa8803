/**
 * The text styles of the feature grid (`feature_grid.ts`) and where their pre-rendered glyphs
 * live: `grid_glyphs.json`, generated with resvg by `scripts/grid_glyphs.ts` (see
 * {@linkcode GRID_GLYPHS_FILE}) and checked against a fresh resvg rendering by
 * `tests/grid_raster_test.ts`. Kept apart from `feature_grid.ts` so that the generator does not
 * import the file it writes.
 *
 * @module
 */

import type { AtlasStyle } from "./glyph_atlas.ts";

/** Text styles of the grid (SVG px) and the characters worth pre-rendering for each. */
export const GRID_TEXT_STYLES: readonly AtlasStyle[] = [
  { size: 16, bold: true }, // title: any ASCII
  {
    size: 11.5,
    chars: "0123456789 of selected channels · map × each tile scaled to its own min…max",
  },
  { size: 12, bold: true, chars: "ch 0123456789" },
  { size: 10, chars: "0123456789-+.e… constant no finite value NaN inf tile min max" },
  { size: 10.5, chars: "◯ gaze point · magenta = NaN/Inf viridis magma gray · input frame" },
];

/** Device pixels per SVG pixel of the embedded glyphs (the grid's default scale). */
export const GRID_GLYPHS_SCALE = 2;

/** The embedded glyph atlas file (written by `scripts/grid_glyphs.ts`). */
export const GRID_GLYPHS_FILE: URL = new URL("./grid_glyphs.json", import.meta.url);
