/**
 * Benchmark baseline only: the feature grid drawn the earlier way, as one SVG document (tiles
 * as PNG data-URL images, text as `<text>`) rasterised by resvg. `render/feature_grid.ts`
 * replaced it (same layout, same options); `render_bench.ts` times the two side by side. Its
 * tile images now go through `render/png.ts` like every figure (the original used pngjs, which
 * was slower still).
 *
 * @module
 */

import { finiteRange } from "../render/colormap.ts";
import {
  featureGridLayout,
  type FeatureGridOptions,
  gridChannels,
  tileRangeLabel,
} from "../render/grid_layout.ts";
import { colorbarDataUrl, heatmapDataUrl, renderSvgPng } from "../render/vega_png.ts";

const esc = (s: string): string =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll(
    '"',
    "&quot;",
  );

/**
 * Render a grid of one frame's channel maps as PNG bytes through SVG + resvg (the figure of
 * `renderFeatureGrid`, up to text anti-aliasing).
 *
 * @param maps the frame's activations, `(C, H, W)` in C order
 * @param shape `[C, H, W]`
 *
 * @example Usage
 * ```ts
 * import { renderFeatureGridSvg } from "./_svg_feature_grid.ts";
 * const maps = new Float32Array(4 * 8 * 8).map((_, i) => Math.sin(i));
 * const png = await renderFeatureGridSvg(maps, [4, 8, 8], {
 *   title: "layer1 · batch 0 · frame 0",
 *   gaze: [{ x: 0.5, y: 0.25 }],
 * });
 * console.log(png[1] === 0x50); // true ("PNG")
 * ```
 */
export async function renderFeatureGridSvg(
  maps: Float32Array,
  shape: readonly [number, number, number],
  options: FeatureGridOptions = {},
): Promise<Uint8Array> {
  const [C, H, W] = shape;
  const indices = gridChannels(maps, shape, { ...options, caller: "renderFeatureGridSvg" });
  const scale = options.scale ?? 2;
  const cmap = options.colormap ?? "viridis";
  const n = indices.length;
  const layout = featureGridLayout(shape, { ...options, channels: n });
  const { tileWidth: tw, tileHeight: th, width, height, margin, titleH, labelH, barTop } = layout;
  const parts: string[] = [];
  if (options.title) {
    parts.push(
      `<text x="${margin}" y="${margin + 15}" font-size="16" font-weight="bold" fill="#222">${
        esc(options.title)
      }</text>`,
    );
  }
  const shown = options.channelIndices ? `${n} selected` : `${n} of ${C}`;
  parts.push(
    `<text x="${margin}" y="${margin + titleH + 12}" font-size="11.5" fill="#555">${
      esc(`${shown} channels · map ${H}×${W} · each tile scaled to its own min…max`)
    }</text>`,
  );
  let anyNonfinite = false;
  indices.forEach((c, k) => {
    const { x, y: tileY } = layout.tiles[k];
    const y = tileY - labelH;
    const map = maps.subarray(c * H * W, (c + 1) * H * W);
    const { min, max } = finiteRange(map);
    if (!anyNonfinite) anyNonfinite = map.some((v) => !Number.isFinite(v));
    // Map-sized image scaled by the rasteriser with nearest neighbour (optimizeSpeed).
    const url = heatmapDataUrl(map, [H, W], { colormap: cmap });
    parts.push(
      `<text x="${x}" y="${y + 12}" font-size="12" font-weight="bold" fill="#222">ch ${c}</text>`,
      `<image x="${x}" y="${y + labelH}" width="${tw}" height="${th}" preserveAspectRatio="none" ` +
        `style="image-rendering:optimizeSpeed" href="${url}" xlink:href="${url}"/>`,
      `<rect x="${x}" y="${y + labelH}" width="${tw}" height="${th}" fill="none" ` +
        `stroke="#999" stroke-width="0.5"/>`,
    );
    const range = tileRangeLabel(min, max);
    parts.push(
      `<text x="${x}" y="${y + labelH + th + 12}" font-size="10" fill="#555">${esc(range)}</text>`,
    );
    for (const g of options.gaze ?? []) {
      if (!(Number.isFinite(g.x) && Number.isFinite(g.y))) continue;
      const gx = x + Math.min(1, Math.max(0, g.x)) * tw;
      const gy = y + labelH + Math.min(1, Math.max(0, g.y)) * th;
      const r = Math.max(4, Math.min(8, tw / 14));
      parts.push(
        `<circle cx="${gx}" cy="${gy}" r="${r}" fill="none" stroke="white" stroke-width="3"/>`,
        `<circle cx="${gx}" cy="${gy}" r="${r}" fill="none" stroke="#ff1f5a" stroke-width="1.6"/>`,
        `<path d="M${gx - r - 3},${gy}h${r - 1}M${gx + 4},${gy}h${r - 1}M${gx},${gy - r - 3}v${
          r - 1
        }M${gx},${gy + 4}v${r - 1}" stroke="#ff1f5a" stroke-width="1.4"/>`,
      );
    }
  });
  // Colour bar and legend.
  const barW = Math.min(220, width - 2 * margin - 10);
  parts.push(
    `<image x="${margin}" y="${barTop}" width="${barW}" height="10" preserveAspectRatio="none" ` +
      `href="${colorbarDataUrl(cmap)}" xlink:href="${colorbarDataUrl(cmap)}"/>`,
    `<rect x="${margin}" y="${barTop}" width="${barW}" height="10" fill="none" stroke="#999" ` +
      `stroke-width="0.5"/>`,
    `<text x="${margin}" y="${barTop + 23}" font-size="10" fill="#555">tile min</text>`,
    `<text x="${margin + barW}" y="${barTop + 23}" font-size="10" fill="#555" ` +
      `text-anchor="end">tile max</text>`,
  );
  const notes: string[] = [];
  if (options.gaze?.length) notes.push("◯ gaze point");
  if (anyNonfinite) notes.push("magenta = NaN/Inf");
  notes.push(cmap);
  parts.push(
    `<text x="${margin + barW + 12}" y="${barTop + 9}" font-size="10.5" fill="#555">${
      esc(notes.join(" · "))
    }</text>`,
  );
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" ` +
    `width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="DejaVu Sans">${parts.join("")}</svg>`;
  return await renderSvgPng(svg, { scale });
}
