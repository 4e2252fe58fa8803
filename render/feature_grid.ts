/**
 * The feature-map grid `inspect` saves for every saved frame of every layer
 * (`<layer>_b<b>_t<t>.png`): a grid of channel maps, each normalised to its own min..max with a
 * perceptual colormap, upscaled with nearest neighbour (small maps stay visible blocks), labelled
 * with the channel index and its range, the gaze point(s) marked, a colour bar and a title. The
 * layout (sizes, positions, label text) is `featureGridLayout` (`grid_layout.ts`).
 *
 * The figure is rasterised directly into an RGBA buffer (`raster_canvas.ts`) and encoded with
 * the project's PNG encoder (`png.ts`). Tiles are the colours `colorizeRows` gives each channel
 * normalised to its own finite range (byte-identical to the GPU kernel), computed in the same
 * pass that enlarges them with nearest neighbour straight into the canvas; text is stamped from
 * glyph masks drawn by resvg (`glyph_atlas.ts`): at the default scale from the pre-rendered atlas
 * `grid_glyphs.json` (so `inspect` never starts resvg), at other scales from an atlas rendered
 * once per process.
 *
 * Why not SVG + resvg (the earlier renderer, kept as a baseline in
 * `bench/_svg_feature_grid.ts`): `bench/render_bench.ts` renders the same grids both ways; a
 * 16 x 56 x 56 grid (1268 x 1676 px) takes about 11 ms here against about 155 ms through SVG.
 *
 * @module
 */

import {
  colormap,
  type ColormapName,
  colormapWords,
  finiteRange,
  NAN_COLOR,
  normalization,
} from "./colormap.ts";
import {
  featureGridLayout,
  type FeatureGridOptions,
  gridChannels,
  tileRangeLabel,
} from "./grid_layout.ts";
import {
  drawText,
  type GlyphAtlasData,
  installGlyphAtlas,
  preloadGlyphAtlas,
  type TextRun,
} from "./glyph_atlas.ts";
import { GRID_GLYPHS_SCALE, GRID_TEXT_STYLES } from "./grid_glyphs.ts";
import gridGlyphs from "./grid_glyphs.json" with { type: "json" };
import { encodePng } from "./png.ts";
import {
  type Canvas,
  createCanvas,
  fillRect,
  hexColor,
  type Rgb,
  rgbWord,
  strokeCircle,
  strokeRect,
} from "./raster_canvas.ts";

export type { ColormapName } from "./colormap.ts";
export type { FeatureGridOptions };
export { featureGridLayout, formatValue } from "./grid_layout.ts";
export type { FeatureGridLayout } from "./grid_layout.ts";

const DARK: Rgb = hexColor("#222");
const MUTED: Rgb = hexColor("#555");
const BORDER: Rgb = hexColor("#999");
const MARKER: Rgb = hexColor("#ff1f5a");
const WHITE: Rgb = [255, 255, 255];

const atlasReady = new Map<number, Promise<void>>();

const lutWords = new Map<ColormapName, Uint32Array>();
const NAN_WORD = rgbWord(NAN_COLOR);

/**
 * Draw one channel's `H x W` map into the canvas at `(x, y)`, each value a `factor x factor`
 * block of its colormap colour: the colour of `colorizeRows` (the CPU reference of the GPU
 * colorizer; same f32 normalisation to the map's own finite range, NaN/Inf in magenta) fused
 * with the nearest-neighbour blit, so no intermediate RGBA tile is made. Each map row is
 * expanded once, then copied `factor` times. Returns whether the map has a non-finite value.
 */
function drawTile(
  canvas: Canvas,
  map: Float32Array,
  tile: { x: number; y: number; width: number; height: number; factor: number },
  options: { lut: Uint32Array; min: number; max: number; row: Uint32Array },
): boolean {
  const { x, y, width: W, height: H, factor: f } = tile;
  const { lo, scale } = normalization(options.min, options.max);
  const lut = options.lut, row = options.row;
  const dst = canvas.words, cw = canvas.width, ch = canvas.height;
  const x0 = Math.max(0, x), x1 = Math.min(cw, x + W * f);
  let nonfinite = false;
  for (let sy = 0; sy < H; sy++) {
    const y0 = y + sy * f;
    if (y0 >= ch) break;
    const s = sy * W;
    for (let sx = 0, o = 0; sx < W; sx++, o += f) {
      const v = map[s + sx];
      let word: number;
      if (v - v === 0) { // finite
        // colorIndex(): index = min(255, floor(fround(fround(v - lo) * scale))), 0 when not > 0.
        const t = Math.fround(Math.fround(v - lo) * scale);
        word = lut[!(t > 0) ? 0 : t >= 255 ? 255 : Math.floor(t)];
      } else {
        word = NAN_WORD;
        nonfinite = true;
      }
      if (f > 8) row.fill(word, o, o + f);
      else for (let j = 0; j < f; j++) row[o + j] = word;
    }
    if (x1 <= x0) continue;
    const part = row.subarray(x0 - x, x1 - x);
    for (let k = 0; k < f; k++) {
      const py = y0 + k;
      if (py >= 0 && py < ch) dst.set(part, py * cw + x0);
    }
  }
  return nonfinite;
}

/** The last grid's pixel buffer, reused by the next grid (saves page faults on ~8 MB). */
let spareBuffer: ArrayBuffer | null = null;

function keepSpare(buffer: ArrayBuffer): void {
  if (!spareBuffer || spareBuffer.byteLength < buffer.byteLength) spareBuffer = buffer;
}

/**
 * Make the grid's glyphs ready at `scale` (the first {@linkcode renderFeatureGrid} call does
 * it otherwise). At the default scale 2 this installs the embedded, pre-rendered atlas
 * (`grid_glyphs.json`, a few ms, no resvg); at other scales it renders the atlas with resvg once
 * per process (0.3-1.5 s on a busy 2-core machine, resvg start-up included). Characters outside
 * the atlas (e.g. non-ASCII in a title) are rendered with resvg when first needed.
 *
 * @example Usage
 * ```ts
 * import { preloadFeatureGrid } from "./feature_grid.ts";
 * await preloadFeatureGrid({ scale: 2 });
 * ```
 */
export function preloadFeatureGrid(options: { scale?: number } = {}): Promise<void> {
  const scale = options.scale ?? 2;
  let p = atlasReady.get(scale);
  if (!p) {
    if (scale === GRID_GLYPHS_SCALE) {
      installGlyphAtlas(gridGlyphs as GlyphAtlasData);
      p = Promise.resolve();
    } else {
      p = preloadGlyphAtlas(GRID_TEXT_STYLES, { scale });
      p.catch(() => atlasReady.delete(scale));
    }
    atlasReady.set(scale, p);
  }
  return p;
}

/** Draw `img` into `box` (device pixels), each output pixel the mean of the source pixels it covers. */
function drawThumbnail(
  canvas: Canvas,
  img: { width: number; height: number; data: ArrayLike<number> },
  box: { x: number; y: number; width: number; height: number },
): void {
  const { width: W, height: H, data } = img;
  for (let oy = 0; oy < box.height; oy++) {
    const py = box.y + oy;
    if (py < 0 || py >= canvas.height) continue;
    const sy0 = Math.floor((oy * H) / box.height);
    const sy1 = Math.max(sy0 + 1, Math.floor(((oy + 1) * H) / box.height));
    for (let ox = 0; ox < box.width; ox++) {
      const px = box.x + ox;
      if (px < 0 || px >= canvas.width) continue;
      const sx0 = Math.floor((ox * W) / box.width);
      const sx1 = Math.max(sx0 + 1, Math.floor(((ox + 1) * W) / box.width));
      let r = 0, g = 0, b = 0, n = 0;
      for (let sy = sy0; sy < sy1; sy++) {
        for (let sx = sx0; sx < sx1; sx++) {
          const o = 4 * (sy * W + sx);
          r += data[o];
          g += data[o + 1];
          b += data[o + 2];
          n++;
        }
      }
      const o = 4 * (py * canvas.width + px);
      canvas.data[o] = Math.round(r / n);
      canvas.data[o + 1] = Math.round(g / n);
      canvas.data[o + 2] = Math.round(b / n);
    }
  }
}

/**
 * The gaze marker: a thin ring with short ticks outside it, each a light half-transparent edge
 * under a thinner half-transparent marker line, so the activations inside and under the ring
 * stay visible while the marker reads on bright and dark maps alike.
 */
function drawGazeMarker(canvas: Canvas, gx: number, gy: number, r: number, s: number): void {
  const edge = { color: WHITE, alpha: 0.6 }, line = { color: MARKER, alpha: 0.85 };
  strokeCircle(canvas, { cx: gx, cy: gy, r }, { ...edge, lineWidth: 2.2 * s });
  strokeCircle(canvas, { cx: gx, cy: gy, r }, { ...line, lineWidth: 1 * s });
  // Ticks from just outside the ring outwards: nothing is drawn inside the ring.
  const len = 4 * s, start = r + 1.5 * s;
  for (const w of [2.2 * s, 1 * s]) {
    const paint = w > s ? edge : line;
    fillRect(canvas, { x: gx - start - len, y: gy - w / 2, width: len, height: w }, paint);
    fillRect(canvas, { x: gx + start, y: gy - w / 2, width: len, height: w }, paint);
    fillRect(canvas, { x: gx - w / 2, y: gy - start - len, width: w, height: len }, paint);
    fillRect(canvas, { x: gx - w / 2, y: gy + start, width: w, height: len }, paint);
  }
}

/**
 * Render a grid of one frame's channel maps as PNG bytes: channel tiles in the colormap,
 * "ch N" labels, per-tile range, gaze marker(s), colour bar and title, at `scale` x density
 * (default 2), in the layout of `featureGridLayout`. The first call also renders the glyph atlas (see
 * {@linkcode preloadFeatureGrid}).
 *
 * @param maps the frame's activations, `(C, H, W)` in C order
 * @param shape `[C, H, W]`
 *
 * @example Usage
 * ```ts
 * import { renderFeatureGrid } from "./feature_grid.ts";
 * const maps = new Float32Array(4 * 8 * 8).map((_, i) => Math.sin(i));
 * const png = await renderFeatureGrid(maps, [4, 8, 8], {
 *   title: "layer1 · batch 0 · frame 0",
 *   gaze: [{ x: 0.5, y: 0.25 }],
 * });
 * console.log(png[1] === 0x50); // true ("PNG")
 * ```
 */
export async function renderFeatureGrid(
  maps: Float32Array,
  shape: readonly [number, number, number],
  options: FeatureGridOptions = {},
): Promise<Uint8Array> {
  const [C, H, W] = shape;
  const indices = gridChannels(maps, shape, { ...options, caller: "renderFeatureGrid" });
  const scale = options.scale ?? 2;
  if (!(scale > 0 && scale <= 16)) {
    throw new RangeError(`renderFeatureGrid: scale ${scale} must be in (0, 16]`);
  }
  const atlas = preloadFeatureGrid({ scale });
  const cmap = options.colormap ?? "viridis";
  const n = indices.length;
  const layout = featureGridLayout(shape, { ...options, channels: n });
  const { tileWidth: tw, tileHeight: th, margin, titleH, labelH, barTop, factor } = layout;
  const buffer = spareBuffer;
  spareBuffer = null; // a concurrent call allocates its own
  const canvas = createCanvas(
    Math.round(layout.width * scale),
    Math.round(layout.height * scale),
    { buffer: buffer ?? undefined },
  );
  const s = scale;
  const text: TextRun[] = [];
  if (options.title) {
    text.push({
      text: options.title,
      x: margin,
      y: margin + 15,
      size: 16,
      bold: true,
      color: DARK,
    });
  }
  const shown = options.channelIndices ? `${n} selected` : `${n} of ${C}`;
  text.push({
    text: `${shown} channels · map ${H}×${W} · each tile scaled to its own min…max`,
    x: margin,
    y: margin + titleH + 12,
    size: 11.5,
    color: MUTED,
  });

  // Each shown channel: colourised and enlarged straight into the canvas.
  const hw = H * W;
  let words = lutWords.get(cmap);
  if (!words) lutWords.set(cmap, words = colormapWords(cmap));
  const row = new Uint32Array(W * factor);
  let anyNonfinite = false;
  const gazes = (options.gaze ?? []).filter((g) => Number.isFinite(g.x) && Number.isFinite(g.y));
  indices.forEach((c, k) => {
    const { x, y } = layout.tiles[k];
    const map = maps.subarray(c * hw, (c + 1) * hw);
    const { min, max } = finiteRange(map);
    const tx = Math.round(x * s), ty = Math.round(y * s);
    const tileNonfinite = drawTile(canvas, map, { x: tx, y: ty, width: W, height: H, factor }, {
      lut: words,
      min,
      max,
      row,
    });
    anyNonfinite ||= tileNonfinite;
    strokeRect(canvas, { x: tx, y: ty, width: W * factor, height: H * factor }, {
      color: BORDER,
      lineWidth: 0.5 * s,
    });
    text.push({
      text: `ch ${c}`,
      x,
      y: y - labelH + 12,
      size: 12,
      bold: true,
      color: DARK,
    });
    const range = tileRangeLabel(min, max);
    text.push({ text: range, x, y: y + th + 12, size: 10, color: MUTED });
    for (const g of gazes) {
      const gx = (x + Math.min(1, Math.max(0, g.x)) * tw) * s;
      const gy = (y + Math.min(1, Math.max(0, g.y)) * th) * s;
      drawGazeMarker(canvas, gx, gy, Math.max(4, Math.min(8, tw / 14)) * s, s);
    }
  });

  // Colour bar and legend.
  const barW = Math.min(220, layout.width - 2 * margin - 10);
  const bx0 = margin * s, by0 = barTop * s, bw = barW * s, bh = 10 * s;
  const lut = colormap(cmap);
  const px0 = Math.round(bx0), px1 = Math.round(bx0 + bw);
  for (let px = px0; px < px1; px++) {
    const i = Math.min(255, Math.max(0, Math.floor(((px + 0.5 - bx0) / bw) * 256)));
    fillRect(canvas, { x: px, y: by0, width: 1, height: bh }, {
      color: [lut[3 * i], lut[3 * i + 1], lut[3 * i + 2]],
    });
  }
  strokeRect(canvas, { x: bx0, y: by0, width: bw, height: bh }, {
    color: BORDER,
    lineWidth: 0.5 * s,
  });
  text.push(
    { text: "tile min", x: margin, y: barTop + 23, size: 10, color: MUTED },
    { text: "tile max", x: margin + barW, y: barTop + 23, size: 10, color: MUTED, anchor: "end" },
  );
  const notes: string[] = [];
  if (gazes.length) notes.push("◯ gaze point");
  if (anyNonfinite) notes.push("magenta = NaN/Inf");
  notes.push(cmap);
  text.push({
    text: notes.join(" · "),
    x: margin + barW + 12,
    y: barTop + 9,
    size: 10.5,
    color: MUTED,
  });
  const thumb = layout.thumbnail;
  if (thumb && options.frame) {
    const img = options.frame.image;
    {
      drawThumbnail(canvas, img, {
        x: Math.round(thumb.x * s),
        y: Math.round(thumb.y * s),
        width: Math.round(thumb.width * s),
        height: Math.round(thumb.height * s),
      });
      strokeRect(canvas, {
        x: Math.round(thumb.x * s),
        y: Math.round(thumb.y * s),
        width: Math.round(thumb.width * s),
        height: Math.round(thumb.height * s),
      }, { color: BORDER, lineWidth: 0.5 * s });
    }
    text.push({
      text: "input frame",
      x: thumb.x + thumb.width + 10,
      y: thumb.y + 12,
      size: 10.5,
      color: MUTED,
    });
  }
  await atlas;
  await drawText(canvas, text, { scale });
  const png = encodePng(canvas, { alpha: false, level: 2 });
  keepSpare(canvas.data.buffer as ArrayBuffer);
  return png;
}
