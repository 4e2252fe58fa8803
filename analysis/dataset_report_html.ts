/**
 * The `index.html` of a dataset report: one self-contained page in the style of the `analyze`
 * report (`report_html.ts`): health flags, an overview table with the dead channels per layer,
 * the flagged clips, the clip outlier figure, the gaze alignment (when the clips had gaze), one
 * section per layer, and a link to the saved
 * frames' report.
 *
 * @module
 */

import { bandPercent } from "../stats/health.ts";
import {
  escapeHtml as esc,
  healthFlagRows,
  layerAnchor,
  REPORT_CSS,
  reportNumber as num,
} from "./report_html.ts";
import type { DatasetSummary } from "./_dataset_types.ts";

const anchor = layerAnchor;

function figureTag(s: DatasetSummary, file: string, alt: string): string {
  const size = s.figures[file];
  const dims = size
    ? ` width="${Math.round(size.width / size.scale)}" height="${
      Math.round(size.height / size.scale)
    }"`
    : "";
  const href = esc(encodeURI(file));
  return `<a href="${href}"><img class="fig" src="${href}" alt="${esc(alt)}"${dims}></a>`;
}

/**
 * Build the dataset report page from `dataset_summary.json`'s content.
 *
 * @example Usage
 * ```ts ignore
 * import { datasetReportHtml } from "./dataset_report_html.ts";
 * await Deno.writeTextFile("report/index.html", datasetReportHtml(summary));
 * ```
 */
export function datasetReportHtml(s: DatasetSummary): string {
  const names = Object.keys(s.layers);
  const flagRows = healthFlagRows(
    s.flags,
    "every layer is inside the healthy ranges over the whole dataset.",
  );
  const overview = names.map((n) => {
    const l = s.layers[n];
    return `<tr><td><a href="#${anchor(n)}">${esc(n)}</a></td><td class="n">${l.channels}</td>` +
      `<td class="n">${l.frames}</td><td class="n">${num(l.summary.mean)}</td>` +
      `<td class="n">${num(l.summary.std)}</td><td class="n">${num(l.summary.min)}</td>` +
      `<td class="n">${num(l.summary.max)}</td><td class="n">${
        bandPercent(l.summary.sparsity)
      }</td>` +
      `<td class="n">${l.dead_count} / ${l.channels}</td><td class="n">${l.outliers.flagged}</td>` +
      `</tr>`;
  }).join("\n");
  const outlierRows = s.outliers.length
    ? s.outliers.slice(0, 50).map((o) =>
      `<tr><td><a href="#${anchor(o.layer)}">${esc(o.layer)}</a></td><td>${esc(o.clip)}</td>` +
      `<td><code>${esc(o.file)}</code></td><td class="n">${num(o.value)}</td>` +
      `<td class="n">${num(o.z)}</td></tr>`
    ).join("\n")
    : `<tr><td colspan="5">no clip has |z| &gt; ${s.method.threshold} in any layer.</td></tr>`;
  const sections = names.map((n) => {
    const l = s.layers[n];
    const dead = l.dead_count
      ? `${l.dead_count} of ${l.channels}: ${l.dead_channels.join(", ")}`
      : "none";
    const tops = l.outliers.top.map((o) =>
      `<tr${o.flagged ? ' class="warn"' : ""}><td>${esc(o.clip)}</td><td><code>${
        esc(o.file)
      }</code></td>` +
      `<td class="n">${num(o.value)}</td><td class="n">${num(o.z)}</td><td>${
        o.flagged ? '<span class="badge">flagged</span>' : ""
      }</td></tr>`
    ).join("\n");
    return `<section id="${anchor(n)}"><h2>${esc(n)}</h2>
<div class="kv"><span><b>channels</b> ${l.channels}</span><span><b>frames</b> ${l.frames}</span>
<span><b>values</b> ${l.values.toLocaleString("en-US")}</span><span><b>dead channels</b> ${
      esc(dead)
    }</span>
<span><b>clip ${esc(s.method.metric)}</b> median ${num(l.outliers.median)}, MAD ${
      num(l.outliers.mad)
    }</span></div>
${l.files.map((f) => figureTag(s, f, `${n}: ${f}`)).join("\n")}
<h3>clips with the largest |z|</h3>
<table><tr><th>clip</th><th>file</th><th>${esc(s.method.metric)}</th><th>z</th><th></th></tr>
${tops}</table></section>`;
  }).join("\n");
  const pm = (v: number | null, sd: number | null): string =>
    v === null ? "–" : `${num(v)} ± ${num(sd ?? 0)}`;
  const gaze = s.gaze
    ? `<section id="gaze"><h2>gaze alignment</h2>
<p>Each frame's channel-mean map against its gaze, scored at ${s.gaze.grid.width}×${s.gaze.grid.height}
(frame ${s.gaze.frame.width}×${s.gaze.frame.height}, fixation blur sigma ${
      num(s.gaze.grid.sigma)
    } px);
shuffled: ${esc(s.gaze.shuffle)}.${
      s.gaze.best
        ? ` Best aligned: <b>${esc(s.gaze.best.layer)}</b> (NSS ${num(s.gaze.best.nss)}).`
        : ""
    }</p>
${figureTag(s, s.gaze.file, "gaze alignment by layer over the dataset")}
<table><tr><th>layer</th><th>frames</th><th>NSS</th><th>NSS shuffled</th><th>AUC-Judd</th>` +
      `<th>AUC shuffled</th><th>CC</th><th>SIM</th></tr>
${
        Object.entries(s.gaze.layers).map(([n, l]) => {
          const m = l.metrics;
          return `<tr><td><a href="#${anchor(n)}">${
            esc(n)
          }</a></td><td class="n">${l.frames}</td>` +
            `<td class="n">${pm(m.nss.mean, m.nss.std)}</td>` +
            `<td class="n">${pm(m.nss.shuffled_mean, m.nss.shuffled_std)}</td>` +
            `<td class="n">${pm(m.auc.mean, m.auc.std)}</td>` +
            `<td class="n">${pm(m.auc.shuffled_mean, m.auc.shuffled_std)}</td>` +
            `<td class="n">${pm(m.cc.mean, m.cc.std)}</td>` +
            `<td class="n">${pm(m.sim.mean, m.sim.std)}</td></tr>`;
        }).join("\n")
      }</table></section>`
    : "";
  const frames = s.frames
    ? `<section><h2>saved frames</h2><p>The frames saved by the run (<code>${
      esc(s.frames.npy)
    }</code>): <a href="${esc(s.frames.report)}">their analyze report</a>.</p></section>`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dataset report — ${esc(s.source)}</title>
<style>${REPORT_CSS}</style></head>
<body><header><h1>Dataset report</h1>
<div class="meta">run <code>${
    esc(s.source)
  }</code> · ${s.clips} clips · ${names.length} layers · ` +
    `outliers: ${esc(s.method.z)}, |z| &gt; ${s.method.threshold} · dead: ${
      esc(s.method.dead)
    }</div>
<nav>${
      names.map((n) => `<a href="#${anchor(n)}">${esc(n)}</a>`).join("")
    }<a href="outliers.csv">outliers.csv</a>` +
    `${s.gaze ? `<a href="#gaze">gaze alignment</a>` : ""}` +
    `<a href="dataset_summary.json">dataset_summary.json</a>${
      s.frames ? `<a href="${esc(s.frames.report)}">saved frames</a>` : ""
    }</nav></header>
<main>
<section><h2>health</h2><table><tr><th>level</th><th>layer</th><th>finding</th></tr>
${flagRows}</table></section>
<section><h2>layers over the dataset</h2><table><tr><th>layer</th><th>channels</th><th>frames</th>` +
    `<th>mean</th><th>std</th><th>min</th><th>max</th><th>sparsity</th><th>dead</th>` +
    `<th>outlier clips</th></tr>
${overview}</table></section>
<section><h2>clip outliers</h2>
${figureTag(s, "clip_outliers.png", "robust z of each clip per layer")}
<table><tr><th>layer</th><th>clip</th><th>file</th><th>${esc(s.method.metric)}</th><th>z</th></tr>
${outlierRows}</table></section>
${gaze}
${frames}
${sections}
</main></body></html>
`;
}
