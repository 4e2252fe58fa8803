import assert from "node:assert";
import {
  heatmapDataUrl,
  loadRenderAssets,
  renderSvgPng,
  renderVegaPng,
  rgbaDataUrl,
  upscaleNearest,
} from "../render/vega_png.ts";
import { fontMeasurer } from "../render/font_metrics.ts";
import * as vega from "npm:vega@6.4.0";
import { decodeImage } from "../inspector/image_io.ts";
import { colormap } from "../render/colormap.ts";

function px(img: { width: number; data: Uint8Array }, x: number, y: number): number[] {
  const o = 4 * (y * img.width + x);
  return [img.data[o], img.data[o + 1], img.data[o + 2]];
}

/** Horizontal extent of non-white pixels. */
function inkExtent(img: { width: number; height: number; data: Uint8Array }): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if (px(img, x, y).some((v) => v < 160)) {
        lo = Math.min(lo, x);
        hi = Math.max(hi, x);
      }
    }
  }
  return [lo, hi];
}

Deno.test("render: Vega spec -> PNG at 2x, image marks from data URLs drawn as crisp blocks", async () => {
  // 2 x 2 image: red, green / blue, white.
  const rgba = new Uint8Array([255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255, 255, 255, 255]);
  const png = await renderVegaPng({
    width: 100,
    height: 60,
    padding: 0,
    autosize: "none",
    background: "#000000",
    marks: [{
      type: "image",
      encode: {
        enter: {
          url: { value: rgbaDataUrl(rgba, 2, 2, { minPixels: 80 }) },
          x: { value: 10 },
          y: { value: 10 },
          width: { value: 40 },
          height: { value: 40 },
          aspect: { value: false },
        },
      },
    }, {
      // The 2 x 2 pixels themselves, scaled by the rasteriser: `smooth: false` must give blocks.
      type: "image",
      encode: {
        enter: {
          url: { value: rgbaDataUrl(rgba, 2, 2) },
          x: { value: 55 },
          y: { value: 10 },
          width: { value: 40 },
          height: { value: 40 },
          aspect: { value: false },
          smooth: { value: false },
        },
      },
    }],
  });
  const img = decodeImage(png);
  assert.deepStrictEqual([img.width, img.height], [200, 120]);
  // Block centres and points 2 px inside each block's edge (at 2x): exact colours, no blur.
  const at = (x: number, y: number) => px(img, 2 * x, 2 * y);
  for (
    const [x, y, c] of [
      [20, 20, [255, 0, 0]],
      [40, 20, [0, 255, 0]],
      [20, 40, [0, 0, 255]],
      [40, 40, [255, 255, 255]],
      [29, 29, [255, 0, 0]],
      [31, 31, [255, 255, 255]],
    ] as const
  ) {
    assert.deepStrictEqual(at(x, y), c, `pixel (${x}, ${y})`);
  }
  for (
    const [x, y, c] of [[56, 11, [255, 0, 0]], [74, 11, [255, 0, 0]], [76, 11, [0, 255, 0]], [
      56,
      31,
      [0, 0, 255],
    ], [94, 49, [255, 255, 255]]] as const
  ) {
    assert.deepStrictEqual(at(x, y), c, `unsmoothed pixel (${x}, ${y})`);
  }
  assert.deepStrictEqual(at(5, 5), [0, 0, 0], "background outside the image");
});

Deno.test("render: text uses DejaVu Sans and Vega's layout uses the font's real widths", async () => {
  const { fonts, wasm } = await loadRenderAssets();
  assert.ok(wasm.length > 1e6 && fonts.length >= 2);
  const m = fontMeasurer(fonts[0]);
  const text = "layer1 · mean 0.276 WWW iii";
  const width = m.width(text, 20);
  assert.ok(m.width("WWWW", 10) > 2.5 * m.width("iiii", 10));
  assert.ok(Math.abs(m.width(text, 40) - 2 * width) < 1e-9);
  // Draw the text with resvg and compare the ink extent with the measured advance width.
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${Math.ceil(width) + 40}" height="40">` +
    `<text x="20" y="28" font-size="20" font-family="DejaVu Sans">${text}</text></svg>`;
  const img = decodeImage(await renderSvgPng(svg, { scale: 1 }));
  const [lo, hi] = inkExtent(img);
  assert.ok(lo >= 19 && lo <= 23, `text starts at ${lo}`);
  assert.ok(
    Math.abs(hi - lo - width) < 0.04 * width,
    `ink ${hi - lo} px vs measured ${width.toFixed(1)} px`,
  );
  // Vega lays text out with these widths (not its 0.8 em-per-character estimate).
  await renderVegaPng({ width: 10, height: 10, marks: [] });
  const metrics = (vega as unknown as {
    textMetrics: { width(item: { fontSize: number }, text: string): number };
  }).textMetrics;
  assert.ok(Math.abs(metrics.width({ fontSize: 20 }, text) - width) < 1e-9);
});

Deno.test("render: heat map data URL uses the colormap and nearest-neighbour upscaling", () => {
  const up = upscaleNearest(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 2, 1, 3, 2);
  assert.strictEqual(up.length, 6 * 2 * 4);
  assert.deepStrictEqual(Array.from(up.subarray(8, 16)), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepStrictEqual(Array.from(up.subarray(24 + 20, 24 + 24)), [5, 6, 7, 8]);
  const url = heatmapDataUrl(new Float32Array([0, 1, 2, 3]), [2, 2], { minPixels: 10 });
  const bytes = Uint8Array.from(atob(url.slice(url.indexOf(",") + 1)), (c) => c.charCodeAt(0));
  const img = decodeImage(bytes);
  assert.deepStrictEqual([img.width, img.height], [10, 10]);
  const lut = colormap("viridis");
  assert.deepStrictEqual(px(img, 0, 0), [lut[0], lut[1], lut[2]]);
  assert.deepStrictEqual(px(img, 9, 9), [lut[765], lut[766], lut[767]]);
});
