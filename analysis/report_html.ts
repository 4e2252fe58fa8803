/**
 * The `index.html` of an `analyze` report: one self-contained page (inline CSS, no scripts, no
 * network) with the health flags on top, an overview table, the layer comparison and temporal
 * figures, then one section per layer with its figures, linked relatively.
 *
 * @module
 */

import type { AnalysisSummary } from "./_types.ts";
import { bandPercent } from "../stats/health.ts";

/**
 * HTML-escape a value for text and attribute content.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeHtml } from "./report_html.ts";
 * assert.equal(escapeHtml('a<"b">'), "a&lt;&quot;b&quot;&gt;");
 * ```
 */
export function escapeHtml(s: unknown): string {
  return String(s).replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}
const esc = escapeHtml;

/**
 * A number for a report table: 4 significant digits, an exponent for tiny or huge values, `–`
 * for none.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { reportNumber } from "./report_html.ts";
 * assert.equal(reportNumber(0.123456), "0.1235");
 * assert.equal(reportNumber(null), "–");
 * ```
 */
export function reportNumber(v: number | null | undefined): string {
  return num(v);
}

const num = (v: number | null | undefined): string => {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 1e5 || a < 1e-3 ? v.toExponential(2) : String(Number(v.toPrecision(4)));
};
// Sparsity with the health check's rule: a flagged value never prints as inside the band.
const pct = (v: number): string => bandPercent(v);
/**
 * The `id` of a layer's section in a report page.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { layerAnchor } from "./report_html.ts";
 * assert.equal(layerAnchor("layer1.0/conv"), "layer-layer1-0-conv");
 * ```
 */
export function layerAnchor(name: string): string {
  return `layer-${name.replace(/[^A-Za-z0-9_-]+/g, "-")}`;
}
const anchor = layerAnchor;

/**
 * The health-flag table rows of a report page (each links to its layer's section), or one "ok"
 * row saying `ok` when there is no flag.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { healthFlagRows } from "./report_html.ts";
 * const rows = healthFlagRows([{ level: "warn", layer: "conv1", message: "dense" }], "fine");
 * assert.match(rows, /href="#layer-conv1"/);
 * assert.match(healthFlagRows([], "fine"), /badge ok.*fine/);
 * ```
 */
export function healthFlagRows(
  flags: readonly { level: string; layer: string; message: string }[],
  ok: string,
): string {
  return flags.length
    ? flags.map((f) =>
      `<tr class="${esc(f.level)}"><td><span class="badge">${esc(f.level)}</span></td>` +
      `<td><a href="#${anchor(f.layer)}">${esc(f.layer)}</a></td><td>${esc(f.message)}</td></tr>`
    ).join("\n")
    : `<tr><td><span class="badge ok">ok</span></td><td>all layers</td><td>${ok}</td></tr>`;
}

/** The report pages' style sheet (inline in each page). */
export const REPORT_CSS: string = `
:root { --fg:#1f2430; --muted:#6b7280; --line:#e5e7eb; --bg:#fafafa; --warn:#b45309; --warnbg:#fff7e6;
  --err:#b91c1c; --errbg:#fdecec; --ok:#047857; --okbg:#e8f6f0; --accent:#3b6fb6; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: var(--fg); background: var(--bg); }
header { background: #fff; border-bottom: 1px solid var(--line); padding: 22px 36px 14px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
header .meta { color: var(--muted); font-size: 13px; }
header .meta code { font-size: 12.5px; }
nav { margin-top: 10px; font-size: 13px; }
nav a { color: var(--accent); text-decoration: none; margin-right: 14px; white-space: nowrap; }
main { padding: 10px 36px 40px; max-width: 1800px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 22px; margin: 18px 0; }
h2 { font-size: 19px; margin: 0 0 10px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.error .badge, .badge.error { background: var(--errbg); color: var(--err); }
.warn .badge, .badge.warn { background: var(--warnbg); color: var(--warn); }
.badge.ok { background: var(--okbg); color: var(--ok); }
.info .badge, .badge.info { background: #eef2ff; color: #3730a3; }
img.fig { display: block; max-width: 100%; height: auto; margin: 8px 0 14px; border: 1px solid var(--line); border-radius: 4px; background: #fff; }
.muted { color: var(--muted); }
.kv { display: flex; flex-wrap: wrap; gap: 6px 22px; font-size: 13.5px; margin: 4px 0 6px; }
.kv b { font-weight: 600; }
a { color: var(--accent); }
`;

/** A linked figure, shown at its 1x size (the PNG is drawn at 2x), never wider than the page. */
function figureTag(s: AnalysisSummary, file: string, alt: string): string {
  const size = s.figures?.[file];
  const dims = size
    ? ` width="${Math.round(size.width / size.scale)}" height="${
      Math.round(size.height / size.scale)
    }"`
    : "";
  const href = esc(encodeURI(file));
  return `<a href="${href}"><img class="fig" src="${href}" alt="${esc(alt)}"${dims}></a>`;
}

/** The gaze alignment section (metric table and figures), or "" when the run has no gaze. */
function gazeHtml(s: AnalysisSummary): string {
  const g = s.gaze_alignment;
  if (!g) return "";
  const metrics = ["nss", "auc", "cc", "sim"] as const;
  const head = metrics.map((m) => `<th>${m === "auc" ? "AUC-Judd" : m.toUpperCase()}</th>`).join(
    "",
  );
  const rows = g.layers.flatMap((l) =>
    (["mean", "topk"] as const).map((kind) =>
      `<tr><td><a href="#${anchor(l.layer)}">${esc(l.layer)}</a></td><td>${
        kind === "mean" ? "channel mean" : `top-${g.topk} (ch ${esc(l.topk_channels.join(", "))})`
      }</td>${
        metrics.map((m) =>
          `<td class="n">${num(l.kinds[kind][m].value)} <span class="muted">(${
            num(l.kinds[kind][m].shuffled)
          })</span></td>`
        ).join("")
      }</tr>`
    )
  ).join("\n");
  return `<section id="gaze">
<h2>Gaze alignment</h2>
<p class="muted">${g.frames} saved frame${
    g.frames === 1 ? "" : "s"
  } with gaze; maps upsampled to ${g.grid.width}×${g.grid.height} (frame ${g.grid.frame_width}×${g.grid.frame_height}, ${
    esc(g.grid.frame_size_source)
  }); fixation blur sigma ${num(g.grid.sigma)} px (${
    esc(g.grid.sigma_source)
  }). In brackets: the shuffled-gaze baseline (${
    esc(g.shuffle)
  }). NSS: mean z-score at the gaze (chance 0); AUC-Judd: gaze pixels ranked against all (chance 0.5); CC: correlation with the blurred gaze map; SIM: histogram intersection with it.${
    g.best
      ? ` Best aligned: <b>${esc(g.best.layer)}</b> (${esc(g.best.kind)} map, NSS ${
        num(g.best.nss)
      }).`
      : ""
  }</p>
<table><thead><tr><th>layer</th><th>map</th>${head}</tr></thead>
<tbody>
${rows}
</tbody></table>
${g.files.filter((f) => f.endsWith(".png")).map((f) => figureTag(s, f, f)).join("\n")}
<p class="muted" style="font-size:12.5px">Numbers: <a href="gaze_alignment.csv">gaze_alignment.csv</a> and <code>gaze_alignment</code> in summary.json.</p>
</section>`;
}

/**
 * Build the report page from the analysis summary.
 *
 * @example Usage
 * ```ts ignore
 * import { reportHtml } from "./report_html.ts";
 * await Deno.writeTextFile("feature_analysis/index.html", reportHtml(summary));
 * ```
 */
export function reportHtml(s: AnalysisSummary): string {
  const names = Object.keys(s.layers);
  const flagRows = healthFlagRows(
    s.flags,
    "every layer is inside the healthy ranges (mean 0.1–2.0, sparsity 30–70 %, no dead channels, no NaN/Inf).",
  );
  const overviewRows = names.map((n) => {
    const l = s.layers[n];
    const worst = l.flags.some((f) => f.level === "error")
      ? "error"
      : l.flags.some((f) => f.level === "warn")
      ? "warn"
      : l.flags.length
      ? "info"
      : "ok";
    const serious = l.flags.filter((f) => f.level !== "info").length;
    return `<tr><td><a href="#${anchor(n)}">${esc(n)}</a></td><td>${
      esc(`(${l.shape.join(", ")})`)
    }</td>` +
      `<td class="n">${num(l.mean)}</td><td class="n">${num(l.std)}</td><td class="n">${
        num(l.min)
      }</td>` +
      `<td class="n">${num(l.max)}</td><td class="n">${pct(l.sparsity)}</td>` +
      `<td class="n">${l.dead_channels.length} / ${
        l.shape[0] ?? 1
      }</td><td class="n">${l.nonfinite}</td>` +
      `<td><span class="badge ${worst}">${
        worst === "ok"
          ? "ok"
          : worst === "info"
          ? "note"
          : `${serious} flag${serious === 1 ? "" : "s"}`
      }</span></td></tr>`;
  }).join("\n");
  const layerSections = names.map((n) => {
    const l = s.layers[n];
    const man = l.manifest ?? {};
    const extras: string[] = [];
    if (man.layout) extras.push(`<span><b>layout</b> ${esc(man.layout)}</span>`);
    if (man.tensor) extras.push(`<span><b>ONNX tensor</b> <code>${esc(man.tensor)}</code></span>`);
    if (Array.isArray(man.folded) && man.folded.length) {
      extras.push(
        `<span><b>folded BatchNorm</b> ${
          esc(man.folded.join(", "))
        } (pre-BN values do not exist in the graph)</span>`,
      );
    }
    if (man.alias_of) extras.push(`<span><b>same tensor as</b> ${esc(man.alias_of)}</span>`);
    const q = l.quantiles;
    const flags = l.flags.length
      ? `<ul>${
        l.flags.map((f) =>
          `<li class="${esc(f.level)}"><span class="badge">${esc(f.level)}</span> ${
            esc(f.message)
          }</li>`
        ).join("")
      }</ul>`
      : `<p><span class="badge ok">ok</span> inside the healthy ranges.</p>`;
    return `<section id="${anchor(n)}">
<h2>${esc(n)} <span class="muted" style="font-weight:normal;font-size:14px">(${
      esc(l.shape.join(", "))
    }) · ${l.frames} saved frame${l.frames === 1 ? "" : "s"}</span></h2>
<div class="kv"><span><b>mean</b> ${num(l.mean)}</span><span><b>std</b> ${
      num(l.std)
    }</span><span><b>min</b> ${num(l.min)}</span><span><b>max</b> ${
      num(l.max)
    }</span><span><b>sparsity</b> ${
      pct(l.sparsity)
    }</span><span><b>p1 / p25 / p50 / p75 / p99</b> ${
      [q.p1, q.p25, q.p50, q.p75, q.p99].map(num).join(" / ")
    }</span><span><b>NaN/Inf</b> ${l.nonfinite}</span></div>
${extras.length ? `<div class="kv">${extras.join("")}</div>` : ""}
${flags}
${l.files.map((f) => figureTag(s, f, f)).join("\n")}
</section>`;
  }).join("\n");
  const hasTemporal = s.files.includes("temporal.png");
  const gazeSection = gazeHtml(s);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Feature analysis — ${esc(s.source)}</title>
<style>${REPORT_CSS}</style>
</head>
<body>
<header>
<h1>Feature analysis</h1>
<div class="meta">source <code>${esc(s.source)}</code>${
    s.manifest
      ? ` · manifest <code>${esc(s.manifest)}</code>`
      : " · no manifest (statistics from the .npy alone)"
  } · saved frames ${esc(JSON.stringify(s.records.shape))} (batch ${
    esc(s.records.batch_idx.join(", "))
  }; frames ${esc(s.records.timestep.join(", "))}) · ${esc(s.created)}</div>
<nav><a href="#flags">Health flags</a><a href="#overview">Overview</a><a href="#comparison">Layer comparison</a>${
    hasTemporal ? `<a href="#temporal">Over time</a>` : ""
  }${gazeSection ? `<a href="#gaze">Gaze alignment</a>` : ""}${
    names.map((n) => `<a href="#${anchor(n)}">${esc(n)}</a>`).join("")
  }<a href="summary.json">summary.json</a></nav>
</header>
<main>
<section id="flags">
<h2>Health flags</h2>
<table><thead><tr><th style="width:80px">level</th><th style="width:160px">layer</th><th>finding</th></tr></thead>
<tbody>
${flagRows}
</tbody></table>
<p class="muted" style="font-size:12.5px;margin:8px 0 0">Healthy ranges from the original guide: mean activation 0.1–2.0, sparsity (exact zeros) 30–70 %, no dead channels, no NaN/Inf. Layers before a ReLU are expected to be dense.</p>
</section>
<section id="overview">
<h2>Overview</h2>
<table><thead><tr><th>layer</th><th>shape</th><th>mean</th><th>std</th><th>min</th><th>max</th><th>sparsity</th><th>dead ch.</th><th>NaN/Inf</th><th>health</th></tr></thead>
<tbody>
${overviewRows}
</tbody></table>
</section>
<section id="comparison">
<h2>Layer comparison</h2>
${figureTag(s, "layer_comparison.png", "layer comparison")}
</section>
${
    hasTemporal
      ? `<section id="temporal">\n<h2>Over time</h2>\n<p class="muted">${
        esc(s.temporal?.source ?? "")
      }</p>\n${figureTag(s, "temporal.png", "statistics over time")}\n</section>`
      : ""
  }
${gazeSection}
${layerSections}
<p class="muted" style="font-size:12px">Statistics: ${
    esc(s.method.reduction)
  } reduction; quantiles ${esc(s.method.quantiles)}; std ${
    esc(s.method.std)
  }. Every number drawn is in <a href="summary.json">summary.json</a>.</p>
</main>
</body>
</html>
`;
}
