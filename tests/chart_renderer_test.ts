import assert from "node:assert/strict";
import { createChartRenderer, renderSvgPng, renderVegaPng } from "../render/vega_png.ts";
import { valuesChartSpec } from "../render/values_chart.ts";
import { classifyFrameShape } from "../stats/tensor_kind.ts";
import { decodeImage } from "../inspector/image_io.ts";

const spec = (k: number) =>
  valuesChartSpec(
    Float32Array.from({ length: 40 }, (_, i) => Math.sin(i * 0.3 + k)),
    classifyFrameShape([40]),
    {
      title: `chart ${k}`,
    },
  );

Deno.test("ChartRenderer: charts drawn on workers are byte-identical to renderVegaPng's", async () => {
  const want = await Promise.all([0, 1, 2].map((k) => renderVegaPng(spec(k))));
  for (const workers of [0, 2]) {
    using charts = createChartRenderer({ workers });
    const got = await Promise.all([0, 1, 2].map((k) => charts.render(spec(k))));
    assert.equal(charts.workers, workers);
    got.forEach((png, k) => assert.deepEqual(png, want[k], `workers=${workers}, chart ${k}`));
  }
});

Deno.test("renderSvgPng: opaque charts come out as RGB, transparent backgrounds keep straight alpha", async () => {
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="2">' +
    '<rect x="0" y="0" width="2" height="2" fill="#ff0000" fill-opacity="0.5"/></svg>';
  const opaque = await renderSvgPng(svg, { scale: 1 });
  assert.equal(opaque[25], 2, "colour type RGB");
  const clear = await renderSvgPng(svg, { scale: 1, background: "transparent" });
  assert.equal(clear[25], 6, "colour type RGBA");
  const img = decodeImage(clear);
  // Left half: red at half alpha, not premultiplied (255, 0, 0, ~128); right half: fully clear.
  assert.deepEqual([...img.data.subarray(0, 4)].map((v) => Math.round(v / 8)), [32, 0, 0, 16]);
  assert.equal(img.data[4 * 3 + 3], 0);
});

Deno.test("ChartRenderer: a broken chart fails with resvg's message, the others still render", async () => {
  using charts = createChartRenderer({ workers: 1 });
  const bad = {
    width: 10,
    height: 10,
    marks: [{
      type: "image",
      encode: {
        enter: {
          url: { value: "data:image/png;base64,AAAA" },
          width: { value: 5 },
          height: { value: 5 },
        },
      },
    }],
  };
  const [ok, broken] = await Promise.allSettled([
    charts.render(spec(0)),
    charts.render(bad as never),
  ]);
  assert.equal(ok.status, "fulfilled");
  // resvg skips an undecodable image; either way the renderer must answer, not hang.
  assert.ok(broken.status === "fulfilled" || String(broken.reason).length > 0);
  charts.close();
  await assert.rejects(() => charts.render(spec(1)), /closed/);
});
