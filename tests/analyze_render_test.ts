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
import { NUMBER_LABEL_EXPR, pct } from "../render/charts_common.ts";
import { bandNumber, bandPercent, healthFlags } from "../stats/health.ts";
import {
  FLAGGED_COLOR,
  layerComparisonSpec,
  type LayerOverview,
  temporalSpec,
} from "../analysis/charts_overview.ts";

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

// --- Figure defects of issue 14 item 7 -------------------------------------------------------

Deno.test("figures: axis labels are plain decimals or 1e-3, never SI prefixes", async () => {
  // The label expression evaluated by Vega itself on typical std / max tick values.
  const ticks = [0, 0.5, 0.25, 0.1, 0.05, 0.001, 0.0025, 12, 25000];
  const view = new vega.View(
    vega.parse({
      data: [{
        name: "t",
        values: ticks.map((value) => ({ value })),
        transform: [{ type: "formula", as: "label", expr: NUMBER_LABEL_EXPR }],
      }],
    }),
    { renderer: "none" },
  );
  await view.runAsync();
  const labels = view.data("t").map((d: { label: string }) => d.label);
  assert.deepStrictEqual(labels, [
    "0",
    "0.5",
    "0.25",
    "0.1",
    "0.05",
    "1e-3",
    "2.5e-3",
    "12",
    "2.5e4",
  ]);
  for (const l of labels) assert(!/[mµkM]$/.test(l), `SI prefix in ${l}`);
  // layer_comparison uses it on every linear, non-percent axis (std, mean, max).
  const spec = layerComparisonSpec([overview("a", 0.5, 0.5, [])]);
  const axes = (spec.marks as { axes?: { orient: string; encode?: unknown; format?: string }[] }[])
    .flatMap((m) => (m.axes ?? []).filter((a) => a.orient === "left"));
  assert.strictEqual(axes.length, 6);
  assert.strictEqual(
    axes.filter((a) => JSON.stringify(a.encode ?? {}).includes(NUMBER_LABEL_EXPR.slice(0, 30)))
      .length,
    3,
  );
  // Only the log-scale map-size axis keeps SI (1k, 1M); the percent axes use "%".
  assert.deepStrictEqual(axes.map((a) => a.format ?? null), [null, null, ".0%", null, ".0%", "~s"]);
});

/** A layer overview with the health check's own flags. */
function overview(name: string, mean: number, sparsity: number, dead: number[]): LayerOverview {
  const flags = healthFlags({
    mean,
    sparsity,
    nonfinite: 0,
    min: 0,
    count: 1000,
    channels: 8,
    deadChannels: dead,
  });
  return {
    name,
    mean,
    std: 1,
    max: 5,
    sparsity,
    deadFraction: dead.length / 8,
    channels: 8,
    height: 4,
    width: 4,
    level: flags.some((f) => f.level === "warn") ? "warn" : undefined,
    flags: flags.filter((f) => f.level !== "info").map((f) => f.code),
  };
}

Deno.test("figures: orange bars are exactly the layers the health check flags for that statistic", () => {
  const layers = [
    overview("lowmean_ok_sparsity", 0.05, 0.5, []), // flagged mean only
    overview("ok_mean_too_sparse", 0.5, 0.8, []), // flagged sparsity only
    overview("healthy", 0.5, 0.5, []),
    overview("dead_only", 0.5, 0.5, [3]), // flagged, but neither mean nor sparsity
    overview("edge", 0.5, 0.29984, []), // 29.98 %: too dense
  ];
  const spec = layerComparisonSpec(layers);
  const values = (spec.data as { values: Record<string, unknown>[] }[])[0].values;
  const orange = (key: string): string[] =>
    values.filter((v) => v[key]).map((v) => v.name as string);
  const flaggedBy = (codes: readonly string[]): string[] =>
    layers.filter((l) => l.flags!.some((c) => codes.includes(c))).map((l) => l.name);
  assert.deepStrictEqual(orange("flaggedMean"), ["lowmean_ok_sparsity"]);
  assert.deepStrictEqual(orange("flaggedMean"), flaggedBy(["low_mean", "high_mean"]));
  assert.deepStrictEqual(orange("flaggedSparsity"), ["ok_mean_too_sparse", "edge"]);
  assert.deepStrictEqual(orange("flaggedSparsity"), flaggedBy(["too_sparse", "too_dense"]));
  // The bars' fill tests read those fields, and the subtitles say what orange means.
  const json = JSON.stringify(spec);
  assert(json.includes(`"test":"datum.flaggedMean","value":"${FLAGGED_COLOR}"`));
  assert(json.includes(`"test":"datum.flaggedSparsity","value":"${FLAGGED_COLOR}"`));
  assert(json.includes("orange = mean flagged by health check"));
  assert(!json.includes("orange = flagged layer"));
  // The sparsity label of the edge layer is the health check's text.
  assert.strictEqual(values[4].sparsityLabel, "29.98 %");
});

Deno.test("figures: a flagged percentage or mean never prints as inside the healthy band", () => {
  assert.strictEqual(bandPercent(0.29984), "29.98 %");
  assert.strictEqual(bandPercent(0.70004), "70.004 %");
  assert.strictEqual(bandPercent(0.4821), "48.2 %");
  assert.strictEqual(bandPercent(0.3), "30.0 %"); // on the edge = healthy, one decimal
  assert.strictEqual(pct(0.29984), "29.98 %"); // the charts' and report's formatter
  assert.strictEqual(bandNumber(0.09996), "0.09996");
  assert.strictEqual(bandNumber(2.0004), "2.0004");
  const msg = healthFlags({
    mean: 0.5,
    sparsity: 0.29984,
    nonfinite: 0,
    min: 0,
    count: 10,
    channels: 1,
    deadChannels: [],
  });
  assert.deepStrictEqual(msg.map((f) => f.code), ["too_dense"]);
  assert(msg[0].message.startsWith("only 29.98 % of the activations"), msg[0].message);
  const mean = healthFlags({
    mean: 0.09996,
    sparsity: 0.5,
    nonfinite: 0,
    min: 0,
    count: 10,
    channels: 1,
    deadChannels: [],
  });
  assert(mean[0].message.includes("0.09996 is below 0.1"), mean[0].message);
  // A NaN share that rounds to 0.0 % keeps its digits.
  const nan = healthFlags({
    mean: 0.5,
    sparsity: 0.5,
    nonfinite: 1,
    min: 0,
    count: 1e6,
    channels: 1,
    deadChannels: [],
  });
  assert(nan[0].message.includes("(0.0001 %)"), nan[0].message);
});

Deno.test("figures: temporal.png has a dash-pattern legend and colour bars clear of the next map", async () => {
  const points = [0, 1].flatMap((b) =>
    [0, 1, 2].map((t) => ({ layer: "l", b, t, mean: 0.1 * t + b, sparsity: 0.5 }))
  );
  const heat = (layer: string) => ({
    layer,
    b: 0,
    frames: [0, 1, 2],
    means: [[-0.0123, 1], [0.5, 2], [1.5, -0.0456]],
  });
  const spec = temporalSpec({ points, source: "saved frames", heatmaps: [heat("a"), heat("b")] });
  const json = JSON.stringify(spec);
  assert(json.includes(`"strokeDash":"dash","title":"batch sample"`), "no dash legend");
  // Laid out by Vega: the first heat map's group (map, axes, colour bar and its labels) ends
  // before the second one's (its channel axis) begins.
  await loadRenderAssets();
  const view = new vega.View(vega.parse(spec as vega.Spec), { renderer: "none" });
  await view.runAsync();
  // deno-lint-ignore no-explicit-any
  const root = (view.scenegraph() as any).root.items[0];
  // deno-lint-ignore no-explicit-any
  const groups = root.items.filter((m: any) => m.marktype === "group").map((m: any) => m.items[0]);
  const [h1, h2] = groups.slice(2);
  const blank = h2.bounds.x1 - h1.bounds.x2; // scenegraph bounds are in figure coordinates
  view.finalize();
  assert(blank >= 10, `only ${blank} px between the colour bar labels and the next heat map`);
});
