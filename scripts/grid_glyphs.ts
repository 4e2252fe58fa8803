/**
 * `deno run --allow-read --allow-write --allow-env scripts/grid_glyphs.ts`: render the feature
 * grid's glyphs with resvg and write them to `render/grid_glyphs.json`, the atlas that
 * `renderFeatureGrid` embeds so that `inspect` never starts resvg for text. Run it after
 * changing the grid's text styles, the fonts or resvg; `tests/grid_raster_test.ts` fails when
 * the file is out of date.
 *
 * @module
 */

import { describeError } from "../core/errors.ts";
import { exportGlyphAtlas } from "../render/glyph_atlas.ts";
import { GRID_GLYPHS_FILE, GRID_GLYPHS_SCALE, GRID_TEXT_STYLES } from "../render/grid_glyphs.ts";

try {
  const data = await exportGlyphAtlas(GRID_TEXT_STYLES, { scale: GRID_GLYPHS_SCALE });
  await Deno.writeTextFile(GRID_GLYPHS_FILE, JSON.stringify(data, null, 2) + "\n");
  const chars = data.styles.reduce((n, s) => n + [...s.chars].length, 0);
  console.log(`wrote ${GRID_GLYPHS_FILE.pathname} (${data.styles.length} styles, ${chars} glyphs)`);
} catch (err) {
  console.error(`error: ${describeError(err)}`);
  Deno.exit(1);
}
