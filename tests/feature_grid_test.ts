import assert from "node:assert";
import { featureGridLayout, formatValue, renderFeatureGrid } from "../render/feature_grid.ts";
import { decodeImage } from "../inspector/image_io.ts";
import { colorIndex, colormap, normalization } from "../render/colormap.ts";

function pixel(img: { width: number; data: Uint8Array }, x: number, y: number): number[] {
  const o = 4 * (Math.round(y) * img.width + Math.round(x));
  return [img.data[o], img.data[o + 1], img.data[o + 2], img.data[o + 3]];
}

Deno.test("feature grid: 4x4 maps become crisp blocks in the colormap, one tile per channel", async () => {
  const C = 20, H = 4, W = 4;
  const maps = new Float32Array(C * H * W).map((_, i) => ((i * 37) % 101) / 7 - 3);
  const png = await renderFeatureGrid(maps, [C, H, W], { title: "layer4 · batch 0 · frame 1" });
  const img = decodeImage(png);
  const layout = featureGridLayout([C, H, W], { title: "x" });
  assert.deepStrictEqual(layout.tiles.length, 16); // 16 channels by default
  assert.deepStrictEqual([layout.cols, layout.rows], [4, 4]);
  assert.deepStrictEqual(img.width, Math.round(layout.width * 2));
  assert.deepStrictEqual(img.height, Math.round(layout.height * 2));
  assert(layout.tileWidth >= 96, `tile ${layout.tileWidth} px is too small to read`);
  const lut = colormap("viridis");
  for (const k of [0, 5, 15]) {
    const map = maps.subarray(k * H * W, (k + 1) * H * W);
    let lo = Infinity, hi = -Infinity;
    for (const v of map) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
    const norm = normalization(lo, hi);
    const { x, y } = layout.tiles[k];
    const bw = layout.tileWidth / W, bh = layout.tileHeight / H;
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        const expect = colorIndex(map[i * W + j], norm) * 3;
        // Sample the block's centre and a point near its corner: both exactly the map colour.
        for (const [fx, fy] of [[0.5, 0.5], [0.15, 0.85]]) {
          const p = pixel(img, 2 * (x + (j + fx) * bw), 2 * (y + (i + fy) * bh));
          assert.deepStrictEqual(
            p.slice(0, 3),
            [lut[expect], lut[expect + 1], lut[expect + 2]],
            `tile ${k} block (${i},${j})`,
          );
        }
      }
    }
  }
});

Deno.test("feature grid: gaze marker drawn at the gaze point, channelIndices respected", async () => {
  const C = 8, H = 28, W = 28;
  const maps = new Float32Array(C * H * W).map((_, i) => Math.sin(i * 0.01));
  const gaze = [{ x: 0.25, y: 0.75 }];
  const png = await renderFeatureGrid(maps, [C, H, W], { gaze, channelIndices: [7, 2] });
  const img = decodeImage(png);
  const layout = featureGridLayout([C, H, W], { channelIndices: [7, 2] });
  assert.deepStrictEqual(layout.tiles.length, 2);
  // The marker ring (red #ff1f5a) crosses the horizontal line through the gaze point.
  for (const tile of layout.tiles) {
    const gx = tile.x + gaze[0].x * layout.tileWidth, gy = tile.y + gaze[0].y * layout.tileHeight;
    let red = 0;
    for (let dx = -12; dx <= 12; dx += 0.5) {
      const [r, g, b] = pixel(img, 2 * (gx + dx), 2 * gy);
      if (r > 200 && g < 90 && b > 50 && b < 140) red++;
    }
    assert(red >= 2, `no gaze marker near (${gx}, ${gy})`);
    // Far from the gaze point there is no marker colour.
    const [r, g, b] = pixel(
      img,
      2 * (tile.x + 0.9 * layout.tileWidth),
      2 * (tile.y + 0.1 * layout.tileHeight),
    );
    assert(!(r > 200 && g < 90 && b > 50 && b < 140));
  }
});

Deno.test("feature grid: NaN shows in magenta, constant maps render, bad shapes throw", async () => {
  const maps = new Float32Array(2 * 3 * 3);
  maps[4] = NaN; // channel 0, centre
  const png = await renderFeatureGrid(maps, [2, 3, 3], {});
  const img = decodeImage(png);
  const layout = featureGridLayout([2, 3, 3]);
  const t = layout.tiles[0];
  assert.deepStrictEqual(
    pixel(img, 2 * (t.x + layout.tileWidth / 2), 2 * (t.y + layout.tileHeight / 2)).slice(0, 3),
    [255, 0, 255],
  );
  let threw = false;
  try {
    await renderFeatureGrid(new Float32Array(5), [2, 3, 3]);
  } catch (e) {
    threw = e instanceof RangeError;
  }
  assert(threw, "short data must throw a RangeError");
  assert.deepStrictEqual(formatValue(0.000123), "1.23e-4");
  assert.deepStrictEqual(formatValue(12.345), "12.3");
});
