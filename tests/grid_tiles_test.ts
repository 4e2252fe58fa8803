import assert from "node:assert/strict";
import { renderFeatureGrid } from "../render/feature_grid.ts";
import { featureGridLayout } from "../render/grid_layout.ts";
import { colorizeRows } from "../render/colormap.ts";
import { decodeImage } from "../inspector/image_io.ts";

/**
 * Every pixel inside every tile (away from the border stroke) must be the colour that
 * `colorizeRows` (the CPU reference of the GPU colorizer) gives the map value under it.
 */
async function checkEveryTilePixel(
  maps: Float32Array,
  shape: [number, number, number],
  channels: number[],
): Promise<void> {
  const [, H, W] = shape;
  const img = decodeImage(await renderFeatureGrid(maps, shape, { channelIndices: channels }));
  const layout = featureGridLayout(shape, { channelIndices: channels });
  const f = layout.factor;
  channels.forEach((c, k) => {
    const map = maps.slice(c * H * W, (c + 1) * H * W);
    const ref = colorizeRows(map, [1, H * W]);
    const tx = Math.round(layout.tiles[k].x * 2), ty = Math.round(layout.tiles[k].y * 2);
    let checked = 0;
    for (let py = ty + 2; py < ty + H * f - 2; py++) {
      for (let px = tx + 2; px < tx + W * f - 2; px++) {
        const i = Math.floor((py - ty) / f) * W + Math.floor((px - tx) / f);
        const o = 4 * (py * img.width + px);
        if (
          img.data[o] !== ref[4 * i] || img.data[o + 1] !== ref[4 * i + 1] ||
          img.data[o + 2] !== ref[4 * i + 2]
        ) {
          assert.fail(
            `${shape.join("x")} channel ${c}, pixel (${px}, ${py}) = map value ${map[i]}: ` +
              `${[...img.data.subarray(o, o + 3)]} != ${[...ref.subarray(4 * i, 4 * i + 3)]}`,
          );
        }
        checked++;
      }
    }
    assert.ok(checked > 0);
  });
}

Deno.test("grid tiles: every tile pixel is colorizeRows' colour (factors 2, 5, 37; 13x9)", async () => {
  for (const shape of [[4, 112, 112], [3, 56, 56], [5, 7, 7], [2, 13, 9]] as const) {
    const [C, H, W] = shape;
    const maps = new Float32Array(C * H * W).map((_, i) => Math.sin(i * 0.37) * (1 + (i % 5)));
    await checkEveryTilePixel(maps, [...shape], Array.from({ length: C }, (_, i) => i));
  }
});

Deno.test("grid tiles: NaN, Inf, constant and all-NaN channels, channels out of order", async () => {
  const C = 5, H = 9, W = 11, hw = H * W;
  const maps = new Float32Array(C * hw).map((_, i) => Math.cos(i * 0.21) * 3);
  maps[3] = NaN;
  maps[hw + 7] = Infinity;
  maps[hw + 8] = -Infinity;
  maps.fill(2.5, 2 * hw, 3 * hw);
  maps.fill(NaN, 3 * hw, 4 * hw);
  maps[4 * hw + 5] = 1e30;
  await checkEveryTilePixel(maps, [C, H, W], [4, 0, 3, 1, 2]);
});
