/**
 * Layout of a feature grid (tile positions, sizes, text bands) and value formatting, used by the
 * renderer (`feature_grid.ts`) and by tests that locate tiles in its PNGs. No rendering
 * dependencies.
 *
 * @module
 */

import type { ColormapName } from "./colormap.ts";
import type { RgbaImage } from "../core/image.ts";

/** Options of `renderFeatureGrid`. */
export interface FeatureGridOptions {
  /** How many channels to show, from channel 0 (default 16; fewer when the layer has fewer). */
  channels?: number;
  /** Exactly which channels to show (overrides `channels`). */
  channelIndices?: readonly number[];
  /** Gaze point(s) in frame coordinates, x and y in [0, 1] (left/top = 0). */
  gaze?: readonly { x: number; y: number }[];
  /** Title, e.g. `"layer1 · batch 0 · frame 2"`. */
  title?: string;
  /**
   * The input frame the maps come from, drawn as a small thumbnail labelled "input frame" in a
   * row under the colour bar (put the frame file's name in `title`).
   */
  frame?: { image: RgbaImage };
  /** Colormap (default viridis). */
  colormap?: ColormapName;
  /** Tiles per row (default: about the square root of the tile count). */
  columns?: number;
  /** Device pixels per SVG pixel (default 2). */
  scale?: number;
}

/**
 * Format a number compactly for labels (3 significant digits, exponent when very small/large).
 *
 * @example Usage
 * ```ts
 * import { formatValue } from "./grid_layout.ts";
 * console.log(formatValue(0.000123), formatValue(12.345), formatValue(0)); // 1.23e-4 12.3 0
 * ```
 */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) {
    return v.toExponential(2).replace(/e([+-])(\d)$/, "e$1$2").replace("e+", "e");
  }
  return String(Number(v.toPrecision(3)));
}

/** Options of {@linkcode gridChannels}. */
export interface GridChannelsOptions
  extends Pick<FeatureGridOptions, "channels" | "channelIndices"> {
  /** The renderer's name, at the start of every error message. */
  caller: string;
}

/**
 * The channels a feature grid shows, in display order, after checking that `maps` holds a whole
 * `(C, H, W)` frame: `channelIndices` when given, else the first `channels` (default 16, fewer
 * when the layer has fewer). Throws a `RangeError` (prefixed with `caller`) for a bad shape or a
 * channel out of range.
 *
 * @example Usage
 * ```ts
 * import { gridChannels } from "./grid_layout.ts";
 * const maps = new Float32Array(4 * 8 * 8);
 * console.log(gridChannels(maps, [4, 8, 8], { caller: "render" })); // [0, 1, 2, 3]
 * console.log(gridChannels(maps, [4, 8, 8], { caller: "render", channelIndices: [3, 1] })); // [3, 1]
 * ```
 */
export function gridChannels(
  maps: ArrayLike<number>,
  shape: readonly [number, number, number],
  options: GridChannelsOptions,
): number[] {
  const [C, H, W] = shape;
  const caller = options.caller;
  if (!(C > 0 && H > 0 && W > 0) || maps.length < C * H * W) {
    throw new RangeError(
      `${caller}: shape (${C}, ${H}, ${W}) needs ${C * H * W} values, got ${maps.length}`,
    );
  }
  const indices = options.channelIndices
    ? [...options.channelIndices]
    : Array.from({ length: Math.min(C, options.channels ?? 16) }, (_, i) => i);
  for (const c of indices) {
    if (!(Number.isInteger(c) && c >= 0 && c < C)) {
      throw new RangeError(`${caller}: channel ${c} out of range 0..${C - 1}`);
    }
  }
  return indices;
}

/**
 * The range label under a tile: `min … max`, `constant v` when all finite values are equal, or
 * `no finite value` (`min` NaN, as `finiteRange` returns for a map without finite values).
 *
 * @example Usage
 * ```ts
 * import { tileRangeLabel } from "./grid_layout.ts";
 * console.log(tileRangeLabel(-0.5, 2), tileRangeLabel(1, 1)); // -0.5 … 2 constant 1
 * ```
 */
export function tileRangeLabel(min: number, max: number): string {
  return Number.isNaN(min)
    ? "no finite value"
    : min === max
    ? `constant ${formatValue(min)}`
    : `${formatValue(min)} … ${formatValue(max)}`;
}

/** Where `renderFeatureGrid` puts things, in SVG pixels (multiply by `scale` for PNG pixels). */
export interface FeatureGridLayout {
  /** Tiles per row. */
  cols: number;
  /** Rows of tiles. */
  rows: number;
  /** Nearest-neighbour factor from map pixels to PNG pixels. */
  factor: number;
  /** Tile width. */
  tileWidth: number;
  /** Tile height. */
  tileHeight: number;
  /** Top-left corner of each tile's map (in display order). */
  tiles: { x: number; y: number }[];
  /** Whole picture width. */
  width: number;
  /** Whole picture height. */
  height: number;
  /** Outer margin. */
  margin: number;
  /** Height of the title line (0 without a title). */
  titleH: number;
  /** Height of the channel label above each tile. */
  labelH: number;
  /** Top of the colour bar. */
  barTop: number;
  /** The input-frame thumbnail's box (absent without `frame`). */
  thumbnail?: { x: number; y: number; width: number; height: number };
}

/** Longer side of the input-frame thumbnail, in SVG pixels. */
const THUMB_SIDE = 96;

/**
 * The layout `renderFeatureGrid` uses for a `(C, H, W)` frame: tiles are the map
 * upscaled by an integer factor to about 256 PNG pixels on the longer side (at least 128 SVG px
 * at 2x), so 4x4 maps become clean blocks and large maps stay sharp.
 *
 * @example Usage
 * ```ts
 * import { featureGridLayout } from "./grid_layout.ts";
 * const l = featureGridLayout([64, 4, 4], { channels: 16 });
 * console.log(l.cols, l.rows, l.factor, l.tileWidth); // 4 4 64 128
 * ```
 */
export function featureGridLayout(
  shape: readonly [number, number, number],
  options: Pick<
    FeatureGridOptions,
    "channels" | "channelIndices" | "columns" | "title" | "scale" | "frame"
  > = {},
): FeatureGridLayout {
  const [C, H, W] = shape;
  const n = options.channelIndices?.length ?? Math.min(C, options.channels ?? 16);
  const scale = options.scale ?? 2;
  const cols = Math.max(1, Math.min(n, options.columns ?? Math.ceil(Math.sqrt(n))));
  const rows = Math.ceil(n / cols);
  const side = Math.max(H, W);
  const factor = Math.max(1, Math.round(256 / side));
  const tileWidth = (W * factor) / scale, tileHeight = (H * factor) / scale;
  const gapX = 14, labelH = 16, rangeH = 15, gapY = 10, margin = 16;
  const titleH = options.title ? 26 : 0;
  const subtitleH = 24;
  const gridTop = margin + titleH + subtitleH;
  const cellW = tileWidth + gapX, cellH = labelH + tileHeight + rangeH + gapY;
  const width = Math.max(margin * 2 + cols * cellW - gapX, 360);
  const barTop = gridTop + rows * cellH + 4;
  const tiles = Array.from({ length: n }, (_, k) => ({
    x: margin + (k % cols) * cellW,
    y: gridTop + Math.floor(k / cols) * cellH + labelH,
  }));
  let height = barTop + 44;
  let thumbnail: FeatureGridLayout["thumbnail"];
  if (options.frame) {
    const img = options.frame.image;
    const k = THUMB_SIDE / Math.max(img.width, img.height, 1);
    const tw = Math.max(1, Math.round(img.width * k));
    const th = Math.max(1, Math.round(img.height * k));
    thumbnail = { x: margin, y: height, width: tw, height: th };
    height += Math.max(th, 16) + 12;
  }
  return {
    cols,
    rows,
    factor,
    tileWidth,
    tileHeight,
    tiles,
    width,
    height,
    margin,
    titleH,
    labelH,
    barTop,
    ...(thumbnail ? { thumbnail } : {}),
  };
}
