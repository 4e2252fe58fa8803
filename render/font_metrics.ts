/**
 * Text widths from a TrueType font's own advance widths (`cmap` + `hmtx`), so that Vega lays out
 * labels, legends and axis titles for the font resvg really draws, without a canvas.
 *
 * @module
 */

/** Measures strings set in one TrueType font. */
export interface FontMeasurer {
  /** Width in pixels of `text` at `fontSize` pixels. */
  width(text: string, fontSize: number): number;
}

/**
 * Parse the advance widths of a TrueType font.
 *
 * @example Usage
 * ```ts ignore
 * import { fontMeasurer } from "./font_metrics.ts";
 * const m = fontMeasurer(await Deno.readFile("DejaVuSans.ttf"));
 * console.log(m.width("ch 3", 12)); // about 25
 * ```
 */
export function fontMeasurer(ttf: Uint8Array): FontMeasurer {
  const dv = new DataView(ttf.buffer, ttf.byteOffset, ttf.byteLength);
  const numTables = dv.getUint16(4);
  const tables = new Map<string, number>();
  for (let i = 0; i < numTables; i++) {
    const rec = 12 + 16 * i;
    const tag = String.fromCharCode(
      ttf[rec],
      ttf[rec + 1],
      ttf[rec + 2],
      ttf[rec + 3],
    );
    tables.set(tag, dv.getUint32(rec + 8));
  }
  const head = tables.get("head"), hhea = tables.get("hhea");
  const hmtx = tables.get("hmtx"), cmap = tables.get("cmap");
  if (head === undefined || hhea === undefined || hmtx === undefined || cmap === undefined) {
    throw new Error("font lacks head/hhea/hmtx/cmap tables");
  }
  const unitsPerEm = dv.getUint16(head + 18);
  const numHMetrics = dv.getUint16(hhea + 34);
  const advanceOf = (glyph: number): number =>
    dv.getUint16(hmtx + 4 * Math.min(glyph, numHMetrics - 1));

  // Find a format-4 (BMP) Unicode subtable.
  let sub = -1;
  const nSub = dv.getUint16(cmap + 2);
  for (let i = 0; i < nSub; i++) {
    const platform = dv.getUint16(cmap + 4 + 8 * i);
    const encoding = dv.getUint16(cmap + 6 + 8 * i);
    const off = cmap + dv.getUint32(cmap + 8 + 8 * i);
    if ((platform === 3 && encoding === 1) || platform === 0) {
      if (dv.getUint16(off) === 4) {
        sub = off;
        break;
      }
    }
  }
  const segX2 = sub >= 0 ? dv.getUint16(sub + 6) : 0;
  const endBase = sub + 14, startBase = endBase + segX2 + 2;
  const deltaBase = startBase + segX2, rangeBase = deltaBase + segX2;
  const glyphOf = (code: number): number => {
    if (sub < 0 || code > 0xffff) return 0;
    for (let s = 0; s < segX2; s += 2) {
      if (dv.getUint16(endBase + s) < code) continue;
      const start = dv.getUint16(startBase + s);
      if (start > code) return 0;
      const delta = dv.getInt16(deltaBase + s);
      const rangeOffset = dv.getUint16(rangeBase + s);
      if (rangeOffset === 0) return (code + delta) & 0xffff;
      const g = dv.getUint16(rangeBase + s + rangeOffset + 2 * (code - start));
      return g === 0 ? 0 : (g + delta) & 0xffff;
    }
    return 0;
  };
  const cache = new Map<number, number>();
  const advance = (code: number): number => {
    let a = cache.get(code);
    if (a === undefined) {
      a = advanceOf(glyphOf(code)) / unitsPerEm;
      cache.set(code, a);
    }
    return a;
  };
  return {
    width(text: string, fontSize: number): number {
      let w = 0;
      for (const ch of text) w += advance(ch.codePointAt(0) ?? 0);
      return w * fontSize;
    },
  };
}
