import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert";
import {
  colorizeRows,
  colormap,
  colormapWords,
  NAN_COLOR,
  normalization,
  renderChannelTile,
  renderChannelTiles,
} from "../render/colormap.ts";

const hex = (lut: Uint8Array, i: number): string =>
  Array.from(lut.subarray(3 * i, 3 * i + 3), (b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("viridis and magma match matplotlib's published colours", () => {
  // Reference hex values published for matplotlib's viridis / magma (0.0, 0.5, 1.0).
  const v = colormap("viridis");
  assertEquals([hex(v, 0), hex(v, 128), hex(v, 255)], ["440154", "21918c", "fde725"]);
  const m = colormap("magma");
  assertEquals([hex(m, 0), hex(m, 128), hex(m, 255)], ["000004", "b73779", "fcfdbf"]);
  const g = colormap("gray");
  assertEquals([hex(g, 0), hex(g, 200)], ["000000", "c8c8c8"]);
  assertThrows(() => colormap("jet" as "gray"), /unknown colormap "jet"/);
});

Deno.test("viridis lightness increases monotonically (perceptual ordering)", () => {
  const v = colormap("viridis");
  let prev = -1;
  for (let i = 0; i < 256; i++) {
    const luma = 0.2126 * v[3 * i] + 0.7152 * v[3 * i + 1] + 0.0722 * v[3 * i + 2];
    assert(luma >= prev - 0.5, `entry ${i}: ${luma} < ${prev}`);
    prev = luma;
  }
});

Deno.test("colormapWords packs RGBA little-endian", () => {
  const w = colormapWords("viridis");
  const bytes = new Uint8Array(w.buffer);
  assertEquals(Array.from(bytes.subarray(0, 4)), [0x44, 0x01, 0x54, 255]);
});

Deno.test("tile normalisation: ends, clamping, constant maps and NaN", () => {
  const lut = colormap("viridis");
  const at = (i: number) => [lut[3 * i], lut[3 * i + 1], lut[3 * i + 2], 255];
  const map = new Float32Array([-1, 0, 0.5, 1, NaN, Infinity]);
  const tile = renderChannelTile(map, [2, 3]);
  const px = (k: number) => Array.from(tile.subarray(4 * k, 4 * k + 4));
  assertEquals(px(0), at(0)); // the finite minimum -> darkest
  assertEquals(px(3), at(255)); // the finite maximum -> brightest
  assertEquals(px(2), at(Math.floor(1.5 * 128))); // (0.5 - -1) * 256 / 2 = 192
  assertEquals(px(4), [...NAN_COLOR, 255]);
  assertEquals(px(5), [...NAN_COLOR, 255]);
  // Fixed range: values outside clamp to the ends.
  const fixed = renderChannelTile(new Float32Array([-5, 5]), [1, 2], { min: 0, max: 1 });
  assertEquals(Array.from(fixed), [...at(0), ...at(255)]);
  // Constant map renders darkest; so does a map of NaNs (in NaN colour).
  const constant = renderChannelTile(new Float32Array(4).fill(3), [2, 2]);
  for (let k = 0; k < 4; k++) assertEquals(Array.from(constant.subarray(4 * k, 4 * k + 4)), at(0));
  assertEquals(normalization(NaN, NaN).scale, 0);
});

Deno.test("colorizeRows agrees with an independent f64 normalisation almost everywhere", () => {
  const rows = 5, width = 97;
  const data = new Float32Array(rows * width).map((_, i) => Math.sin(i * 12.9898) * 43.7);
  const rgba = colorizeRows(data, [rows, width], { colormap: "gray" });
  let off = 0;
  for (let r = 0; r < rows; r++) {
    const row = data.subarray(r * width, (r + 1) * width);
    let mn = Infinity, mx = -Infinity;
    for (const v of row) mn = Math.min(mn, v), mx = Math.max(mx, v);
    for (let k = 0; k < width; k++) {
      const expect = Math.min(255, Math.floor((row[k] - mn) / (mx - mn) * 256));
      const got = rgba[4 * (r * width + k)];
      assert(Math.abs(got - expect) <= 1, `row ${r} col ${k}: ${got} vs ${expect}`);
      if (got !== expect) off++;
    }
  }
  assert(off <= 3, `${off} pixels differ from the f64 normalisation`);
});

Deno.test("renderChannelTiles selects channels and normalises each on its own", () => {
  const maps = new Float32Array([0, 1, 10, 20, 7, 7]); // 3 channels of 1x2
  const tiles = renderChannelTiles(maps, [3, 1, 2], { colormap: "gray", channels: [1, 2] });
  assertEquals(tiles.length, 2);
  assertEquals(Array.from(tiles[0]), [0, 0, 0, 255, 255, 255, 255, 255]);
  assertEquals(Array.from(tiles[1]), [0, 0, 0, 255, 0, 0, 0, 255]);
  assertThrows(() => renderChannelTiles(maps, [3, 1, 2], { channels: [3] }), /out of range/);
});
