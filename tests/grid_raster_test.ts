import assert from "node:assert";
import {
  featureGridLayout,
  preloadFeatureGrid,
  renderFeatureGrid,
} from "../render/feature_grid.ts";
import { encodePng } from "../render/png.ts";
import {
  drawText,
  exportGlyphAtlas,
  type GlyphAtlasData,
  installGlyphAtlas,
  measureText,
} from "../render/glyph_atlas.ts";
import { GRID_GLYPHS_FILE, GRID_GLYPHS_SCALE, GRID_TEXT_STYLES } from "../render/grid_glyphs.ts";
import { createCanvas, hexColor } from "../render/raster_canvas.ts";
import { renderSvgPng } from "../render/vega_png.ts";
import {
  colorIndex,
  colorizeRows,
  colormap,
  NAN_COLOR,
  normalization,
} from "../render/colormap.ts";
import { decodeImage, type RgbaImage } from "../inspector/image_io.ts";

const LUT = colormap("viridis");
const MARKER = hexColor("#ff1f5a");

function rgbAt(img: RgbaImage, x: number, y: number): number[] {
  const o = 4 * (Math.floor(y) * img.width + Math.floor(x));
  return [img.data[o], img.data[o + 1], img.data[o + 2]];
}

/** Expected colour of map value `v` from an independent min/max of the channel. */
function expectedRgb(map: Float32Array, v: number): number[] {
  if (!Number.isFinite(v)) return [...NAN_COLOR];
  let lo = Infinity, hi = -Infinity;
  for (const x of map) if (Number.isFinite(x)) (lo = Math.min(lo, x)), (hi = Math.max(hi, x));
  const i = 3 * colorIndex(v, normalization(lo, hi));
  return [LUT[i], LUT[i + 1], LUT[i + 2]];
}

/** Check the centre and an off-centre point of every map pixel's block in the first `n` tiles. */
function assertTiles(
  img: RgbaImage,
  maps: Float32Array,
  shape: [number, number, number],
  indices: number[],
  title?: string,
): void {
  const [, H, W] = shape;
  const layout = featureGridLayout(shape, { channels: indices.length, title });
  indices.forEach((c, k) => {
    const map = maps.subarray(c * H * W, (c + 1) * H * W);
    const tx = Math.round(layout.tiles[k].x * 2), ty = Math.round(layout.tiles[k].y * 2);
    const f = layout.factor;
    for (let i = 0; i < H; i += Math.max(1, H >> 3)) {
      for (let j = 0; j < W; j += Math.max(1, W >> 3)) {
        for (const [fx, fy] of [[0.5, 0.5], [0.9, 0.2]]) {
          const x = tx + Math.floor((j + fx) * f), y = ty + Math.floor((i + fy) * f);
          // Skip the pixels next to the tile's border stroke.
          if (x <= tx || y <= ty || x >= tx + W * f - 1 || y >= ty + H * f - 1) continue;
          assert.deepStrictEqual(
            rgbAt(img, x, y),
            expectedRgb(map, map[i * W + j]),
            `channel ${c} map pixel (${i},${j})`,
          );
        }
      }
    }
  });
}

Deno.test("grid raster: 16 x 56 x 56 grid has the layout's size, colormap tiles, text and marker", async () => {
  const C = 16, H = 56, W = 56;
  const maps = new Float32Array(C * H * W).map((_, i) => Math.sin(i * 0.013) * (1 + (i % 7)));
  const gaze = [{ x: 0.25, y: 0.75 }];
  const png = await renderFeatureGrid(maps, [C, H, W], {
    title: "layer1 · batch 0 · frame 2",
    gaze,
  });
  const img = decodeImage(png);
  const layout = featureGridLayout([C, H, W], { title: "x" });
  assert.deepStrictEqual([img.width, img.height], [
    Math.round(layout.width * 2),
    Math.round(layout.height * 2),
  ]);
  assert.deepStrictEqual(layout.tiles.length, 16);
  assertTiles(img, maps, [C, H, W], Array.from({ length: 16 }, (_, i) => i), "x");

  // Title band: dark text pixels (#222) on white, and only there.
  const dark = (y0: number, y1: number, x0: number, x1: number): number => {
    let n = 0;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) if (rgbAt(img, x, y)[0] < 80) n++;
    }
    return n;
  };
  const m = layout.margin * 2;
  const titleDark = dark(m, m + layout.titleH * 2, m, img.width - m);
  assert(titleDark > 500, `title band has only ${titleDark} dark pixels`);
  assert.deepStrictEqual(dark(0, m - 2, 0, img.width), 0, "top margin is blank");
  // "ch N" label above each tile.
  for (const t of layout.tiles) {
    const n = dark((t.y - layout.labelH) * 2, t.y * 2 - 2, t.x * 2, t.x * 2 + 60);
    assert(n > 40, `label above tile at ${t.x},${t.y} has ${n} dark pixels`);
  }

  // Gaze marker: a thin, partly transparent pink ring at radius r with a light edge; the map
  // inside the ring (the gaze point itself included) is the plain colormap colour.
  const r = Math.max(4, Math.min(8, layout.tileWidth / 14)) * 2;
  layout.tiles.forEach((t, c) => {
    const map = maps.subarray(c * H * W, (c + 1) * H * W);
    const under = (x: number, y: number): number[] => {
      const j = Math.floor((x - Math.round(t.x * 2)) / layout.factor);
      const i = Math.floor((y - Math.round(t.y * 2)) / layout.factor);
      return expectedRgb(map, map[i * W + j]);
    };
    const gx = (t.x + gaze[0].x * layout.tileWidth) * 2;
    const gy = (t.y + gaze[0].y * layout.tileHeight) * 2;
    for (const [x, y] of [[gx + r, gy], [gx - r, gy], [gx, gy - r]]) {
      const p = rgbAt(img, x, y);
      assert(p[0] > 200 && p[0] > p[1] + 80, `ring at ${x},${y} is ${p}, not pink`);
      assert.notDeepStrictEqual(p, [...MARKER], `ring at ${x},${y} is opaque`);
    }
    const sum = (q: number[]): number => q[0] + q[1] + q[2];
    let inside = 0, edge = 0;
    for (let y = Math.floor(gy - r - 4); y < gy + r + 4; y++) {
      for (let x = Math.floor(gx - r - 4); x < gx + r + 4; x++) {
        const dx = x + 0.5 - gx, dy = y + 0.5 - gy, d = Math.hypot(dx, dy);
        if (d < r - 3) { // clear of the edge (r - 2.2) by more than half a pixel diagonal
          assert.deepStrictEqual(rgbAt(img, x, y), under(x, y), `inside the ring ${x},${y}`);
          inside++;
        } else if (d > r + 1.3 && d < r + 1.9 && Math.abs(dx) > 3 && Math.abs(dy) > 3) {
          // Only the light edge here: brighter than the map, but not opaque white.
          const p = rgbAt(img, x, y), u = under(x, y);
          assert(
            sum(p) >= sum(u) + 0.3 * (765 - sum(u)) && p.some((v) => v < 250),
            `edge pixel ${x},${y} is ${p} over ${u}`,
          );
          edge++;
        }
      }
    }
    assert(inside > 50 && edge > 10, `only ${inside} inside and ${edge} edge pixels checked`);
  });
  // Colour bar: left end is the colormap's first colour, right end its last.
  const by = (layout.barTop + 5) * 2;
  assert.deepStrictEqual(rgbAt(img, m + 1, by), [LUT[0], LUT[1], LUT[2]]);
  const barW = Math.min(220, layout.width - 2 * layout.margin - 10) * 2;
  assert.deepStrictEqual(rgbAt(img, m + barW - 2, by), [LUT[765], LUT[766], LUT[767]]);
});

Deno.test("grid raster: every pixel is the colormap reference, the colour bar, the marker or grey", async () => {
  // The whole figure against references that do not come from the renderer: tile pixels are
  // colorizeRows' colours (the CPU reference of the GPU colorizer), the colour bar's columns the
  // colormap's entries, and everything else (background, text, borders) is neutral grey, except
  // around the gaze marker.
  const C = 6, H = 12, W = 10, s = 2;
  const maps = new Float32Array(C * H * W).map((_, i) => Math.cos(i * 0.37) * 3 + (i % 5));
  const options = {
    title: "layer3.1/conv2 (BN folded) · batch 1 · frame 7 · Übung",
    gaze: [{ x: 0.6, y: 0.3 }],
  };
  const img = decodeImage(await renderFeatureGrid(maps, [C, H, W], options));
  const layout = featureGridLayout([C, H, W], options);
  assert.deepStrictEqual([img.width, img.height], [layout.width * s, layout.height * s]);
  const f = layout.factor;
  const r = Math.max(4, Math.min(8, layout.tileWidth / 14)) * s;
  // Ring, its edge and the ticks outside it (r + 1.5 + 4 px, edge 1.1 px), a pixel to spare.
  const markerReach = r + 6.6 * s + 2;
  const tiles = layout.tiles.map((t, c) => ({
    x: Math.round(t.x * s),
    y: Math.round(t.y * s),
    gx: (t.x + options.gaze[0].x * layout.tileWidth) * s,
    gy: (t.y + options.gaze[0].y * layout.tileHeight) * s,
    ref: colorizeRows(maps.slice(c * H * W, (c + 1) * H * W), [1, H * W]),
  }));
  const barW = Math.min(220, layout.width - 2 * layout.margin - 10) * s;
  const bar = { x: layout.margin * s, y: layout.barTop * s, w: barW, h: 10 * s };
  let tilePixels = 0, barPixels = 0, grey = 0, ink = 0;
  for (let py = 0; py < img.height; py++) {
    for (let px = 0; px < img.width; px++) {
      const p = rgbAt(img, px, py);
      const where = `pixel (${px}, ${py})`;
      const t = tiles.find((t) =>
        px >= t.x - 2 && px < t.x + W * f + 2 && py >= t.y - 2 && py < t.y + H * f + 2
      );
      if (t) {
        const inner = px >= t.x + 2 && px < t.x + W * f - 2 && py >= t.y + 2 &&
          py < t.y + H * f - 2;
        const nearMarker = Math.abs(px + 0.5 - t.gx) < markerReach &&
          Math.abs(py + 0.5 - t.gy) < markerReach;
        if (!inner || nearMarker) continue; // border stroke, gaze marker
        const i = 4 * (Math.floor((py - t.y) / f) * W + Math.floor((px - t.x) / f));
        assert.deepStrictEqual(p, [...t.ref.subarray(i, i + 3)], `tile ${where}`);
        tilePixels++;
        continue;
      }
      if (px >= bar.x - 2 && px < bar.x + bar.w + 2 && py >= bar.y - 2 && py < bar.y + bar.h + 2) {
        if (
          px < bar.x + 2 || px >= bar.x + bar.w - 2 || py < bar.y + 2 || py >= bar.y + bar.h - 2
        ) {
          continue; // the bar's border stroke
        }
        const i = 3 * Math.floor(((px + 0.5 - bar.x) / bar.w) * 256);
        assert.deepStrictEqual(p, [LUT[i], LUT[i + 1], LUT[i + 2]], `colour bar ${where}`);
        barPixels++;
        continue;
      }
      assert(p[0] === p[1] && p[1] === p[2], `${where} outside tiles and bar is ${p}, not grey`);
      grey++;
      if (p[0] < 128) ink++;
    }
  }
  const n = img.width * img.height;
  assert.strictEqual(tilePixels + barPixels + grey > 0.9 * n, true, "most pixels checked");
  assert(tilePixels > 0.3 * n, `only ${tilePixels} of ${n} tile pixels checked`);
  assert(barPixels > 0.9 * (bar.w - 4) * (bar.h - 4), `only ${barPixels} colour-bar pixels`);
  assert(ink > 2000, `only ${ink} dark text pixels`);
});

Deno.test("grid raster: constant, NaN and Inf channels; 1 x 4 x 4 and 64 x 2 x 2 maps", async () => {
  const H = 5, W = 6, hw = H * W;
  const maps = new Float32Array(4 * hw).map((_, i) => (i * 13) % 7);
  maps.fill(2.5, 0, hw); // channel 0 constant
  maps.fill(NaN, hw, 2 * hw); // channel 1 all NaN
  maps[2 * hw + 3] = NaN; // channel 2 one NaN
  maps[3 * hw + 4] = -Infinity; // channel 3 one -Inf
  const img = decodeImage(
    await renderFeatureGrid(maps, [4, H, W], { gaze: [{ x: NaN, y: 0 }] }),
  );
  assertTiles(img, maps, [4, H, W], [0, 1, 2, 3]);
  const layout = featureGridLayout([4, H, W]);
  const t0 = layout.tiles[0], t1 = layout.tiles[1];
  assert.deepStrictEqual(rgbAt(img, t0.x * 2 + 5, t0.y * 2 + 5), [LUT[0], LUT[1], LUT[2]]);
  assert.deepStrictEqual(rgbAt(img, t1.x * 2 + 5, t1.y * 2 + 5), [...NAN_COLOR]);

  // Control characters and a lone surrogate in the title are skipped, not fatal.
  await renderFeatureGrid(maps, [4, H, W], { title: "bad\u0001\ud800 title \u{1F600}" });

  const one = new Float32Array(16).map((_, i) => i * i);
  const img1 = decodeImage(await renderFeatureGrid(one, [1, 4, 4], { title: "one" }));
  const l1 = featureGridLayout([1, 4, 4], { title: "one" });
  assert.deepStrictEqual([img1.width, img1.height], [l1.width * 2, l1.height * 2]);
  assertTiles(img1, one, [1, 4, 4], [0], "one");

  const many = new Float32Array(64 * 4).map((_, i) => Math.sin(i));
  const idx = [63, 0, 17, 40, 5];
  const img64 = decodeImage(await renderFeatureGrid(many, [64, 2, 2], { channelIndices: idx }));
  const l64 = featureGridLayout([64, 2, 2], { channelIndices: idx });
  assert.deepStrictEqual([img64.width, img64.height], [l64.width * 2, l64.height * 2]);
  assertTiles(img64, many, [64, 2, 2], idx);
  const all = decodeImage(await renderFeatureGrid(many, [64, 2, 2], { channels: 64 }));
  const lAll = featureGridLayout([64, 2, 2], { channels: 64 });
  assert.deepStrictEqual([all.width, all.height], [lAll.width * 2, lAll.height * 2]);
  assertTiles(all, many, [64, 2, 2], Array.from({ length: 64 }, (_, i) => i));
});

Deno.test("grid raster: colormap and columns options", async () => {
  const maps = new Float32Array(5 * 3 * 4).map((_, i) => (i * 7) % 12);
  const img = decodeImage(
    await renderFeatureGrid(maps, [5, 3, 4], { colormap: "magma", columns: 5 }),
  );
  const l = featureGridLayout([5, 3, 4], { columns: 5 });
  assert.deepStrictEqual([l.cols, l.rows], [5, 1]);
  assert.deepStrictEqual([img.width, img.height], [l.width * 2, l.height * 2]);
  const magma = colormap("magma");
  for (let k = 0; k < 5; k++) {
    const map = maps.subarray(k * 12, (k + 1) * 12);
    let lo = Infinity, hi = -Infinity;
    for (const v of map) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
    const t = l.tiles[k];
    // Centre of map pixel (1, 2).
    const x = Math.round(t.x * 2) + Math.floor(2.5 * l.factor);
    const y = Math.round(t.y * 2) + Math.floor(1.5 * l.factor);
    const i = 3 * colorIndex(map[1 * 4 + 2], normalization(lo, hi));
    assert.deepStrictEqual(rgbAt(img, x, y), [magma[i], magma[i + 1], magma[i + 2]]);
  }
});

Deno.test("grid raster: bad shapes and channels are RangeErrors", async () => {
  await assert.rejects(renderFeatureGrid(new Float32Array(5), [2, 3, 3]), RangeError);
  await assert.rejects(
    renderFeatureGrid(new Float32Array(18), [2, 3, 3], { channelIndices: [2] }),
    RangeError,
  );
});

Deno.test("grid raster: scale 1 and 3 keep the layout and tile size", async () => {
  const maps = new Float32Array(3 * 7 * 7).map((_, i) => i % 11);
  for (const scale of [1, 3]) {
    const img = decodeImage(await renderFeatureGrid(maps, [3, 7, 7], { scale, title: "s" }));
    const l = featureGridLayout([3, 7, 7], { scale, title: "s" });
    assert.deepStrictEqual([img.width, img.height], [
      Math.round(l.width * scale),
      Math.round(l.height * scale),
    ]);
    const t = l.tiles[1];
    const x = Math.round(t.x * scale) + l.factor * 3 + 2, y = Math.round(t.y * scale) + 2;
    assert.deepStrictEqual(rgbAt(img, x, y), expectedRgb(maps.subarray(49, 98), maps[49 + 3]));
  }
});

Deno.test("glyph atlas: drawn text matches resvg's rendering of the same text", async () => {
  await preloadFeatureGrid();
  const text = "ch 12 · -4.36 … 4.67 ×′";
  const style = { size: 12, bold: true };
  const canvas = createCanvas(400, 40);
  await drawText(canvas, [{ text, x: 5.3, y: 14, ...style, color: [0, 0, 0] }]);
  const ref = decodeImage(
    await renderSvgPng(
      `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="20" font-family="DejaVu Sans">` +
        `<text x="5.3" y="14" font-size="12" font-weight="bold" style="font-kerning:none">` +
        `${text}</text></svg>`,
    ),
  );
  let sum = 0, ink = 0;
  for (let i = 0; i < 400 * 40; i++) {
    sum += Math.abs(canvas.data[4 * i] - ref.data[4 * i]);
    ink += 255 - ref.data[4 * i];
  }
  assert(ink > 255 * 150, "reference has ink");
  assert(sum / ink < 0.08, `differs by ${(sum / ink).toFixed(3)} of the ink`);
  // The advance widths are the font's: "ch 12" at 12 px bold is about 34 px wide.
  const w = await measureText("ch 12", style);
  assert(w > 30 && w < 40, `width ${w}`);
});

Deno.test("raster canvas: a reused buffer is cleared to the background and sized exactly", () => {
  const buffer = new ArrayBuffer(10 * 10 * 4);
  new Uint8Array(buffer).fill(7);
  const c = createCanvas(3, 2, { buffer, background: [1, 2, 3] });
  assert.deepStrictEqual([c.data.length, c.words.length], [24, 6]);
  assert.deepStrictEqual([...c.data.subarray(0, 8)], [1, 2, 3, 255, 1, 2, 3, 255]);
  assert.deepStrictEqual(new Uint8Array(buffer)[24], 7, "bytes past the canvas untouched");
  const w = createCanvas(2, 2, { buffer });
  assert(w.data.every((v) => v === 255));
});

Deno.test("glyph atlas: the embedded grid glyphs are exactly what resvg draws now", async () => {
  const embedded = JSON.parse(await Deno.readTextFile(GRID_GLYPHS_FILE)) as GlyphAtlasData;
  const fresh = await exportGlyphAtlas(GRID_TEXT_STYLES, { scale: GRID_GLYPHS_SCALE });
  assert.deepStrictEqual(
    fresh,
    embedded,
    "render/grid_glyphs.json is out of date: run " +
      "`deno run --allow-read --allow-write --allow-env scripts/grid_glyphs.ts`",
  );
  // A different version is refused with a message that says what to do.
  assert.throws(
    () => installGlyphAtlas({ ...embedded, version: 2 }),
    /regenerate it with exportGlyphAtlas/,
  );
});

Deno.test("png encoder: round-trips RGB and RGBA pixels exactly", () => {
  const w = 37, h = 23;
  const data = new Uint8Array(w * h * 4).map((_, i) => (i * 2654435761) >>> 24);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  data.copyWithin(4 * w * 5, 4 * w * 4, 4 * w * 5); // a repeated row ("Up" filter)
  data.copyWithin(4 * w * 6, 4 * w * 5, 4 * w * 6);
  const rgb = encodePng({ width: w, height: h, data });
  assert.deepStrictEqual(rgb[25], 2, "opaque image written as RGB");
  assert.deepStrictEqual(decodeImage(rgb).data, data);
  data[4 * 7 + 3] = 17;
  const rgba = encodePng({ width: w, height: h, data }, { level: 1 });
  assert.deepStrictEqual(rgba[25], 6, "translucent image written as RGBA");
  assert.deepStrictEqual(decodeImage(rgba).data, data);
  assert.throws(() => encodePng({ width: 2, height: 2, data: new Uint8Array(3) }), RangeError);
});

Deno.test("grid raster: the input frame is a thumbnail under the colour bar", async () => {
  // A 20 x 10 frame: left half red, right half blue, so every thumbnail pixel is one of them.
  const fw = 20, fh = 10, data = new Uint8Array(fw * fh * 4);
  for (let y = 0; y < fh; y++) {
    for (let x = 0; x < fw; x++) {
      data.set(x < fw / 2 ? [255, 0, 0, 255] : [0, 0, 255, 255], 4 * (y * fw + x));
    }
  }
  const options = {
    title: "t · c01/frame_0000.png",
    frame: { image: { width: fw, height: fh, data } },
  };
  const maps = new Float32Array(4 * 8 * 8).map((_, i) => i % 7);
  const img = decodeImage(await renderFeatureGrid(maps, [4, 8, 8], options));
  const layout = featureGridLayout([4, 8, 8], options);
  const plain = featureGridLayout([4, 8, 8], { title: "t" });
  const th = layout.thumbnail!;
  assert.deepStrictEqual([th.width, th.height], [96, 48]); // 96 px on the longer side
  assert.deepStrictEqual(th.y, plain.height); // a row of its own under the colour bar
  assert.deepStrictEqual([img.width, img.height], [layout.width * 2, layout.height * 2]);
  const x0 = th.x * 2, y0 = th.y * 2, w = th.width * 2, h = th.height * 2;
  for (let y = y0 + 2; y < y0 + h - 2; y += 7) {
    assert.deepStrictEqual(rgbAt(img, x0 + 3, y), [255, 0, 0]);
    assert.deepStrictEqual(rgbAt(img, x0 + w / 2 - 2, y), [255, 0, 0]);
    assert.deepStrictEqual(rgbAt(img, x0 + w / 2 + 2, y), [0, 0, 255]);
    assert.deepStrictEqual(rgbAt(img, x0 + w - 3, y), [0, 0, 255]);
  }
  // Without a frame there is no thumbnail row.
  assert.strictEqual(plain.thumbnail, undefined);
});
