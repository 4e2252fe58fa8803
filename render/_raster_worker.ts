/**
 * A chart worker: rasterises SVG documents to PNG for `vega_png.ts`'s `ChartRenderer`, so that
 * several charts are drawn at once. It gets the compiled resvg module (compiled once, on the main
 * thread) and the fonts in its first message, then one `{ id, svg, scale, background }` per chart
 * and answers `{ id, png }` or `{ id, error }`.
 *
 * Started as `new Worker(new URL("./_raster_worker.ts", import.meta.url), { type: "module" })`.
 *
 * @module
 */

import { initWasm } from "npm:@resvg/resvg-wasm@2.6.2";
import { rasterizeSvg } from "./_raster.ts";

/** The first message: what the worker needs to draw. */
export interface RasterInit {
  /** The compiled `index_bg.wasm` of `@resvg/resvg-wasm`. */
  module: WebAssembly.Module;
  /** TrueType font files. */
  fonts: Uint8Array[];
}

/** One chart to draw. */
export interface RasterRequest {
  /** Answer id. */
  id: number;
  /** The SVG document. */
  svg: string;
  /** Device pixels per SVG pixel. */
  scale: number;
  /** Background colour. */
  background: string;
}

/** The answer to a {@linkcode RasterRequest}. */
export type RasterResponse = { id: number; png: Uint8Array } | { id: number; error: string };

declare const self: {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

let fonts: Uint8Array[] = [];
let ready: Promise<void> | null = null;

self.onmessage = async (e: MessageEvent) => {
  const msg = e.data as RasterInit | RasterRequest;
  if ("module" in msg) {
    fonts = msg.fonts;
    ready = initWasm(msg.module);
    return;
  }
  try {
    await ready;
    const png = rasterizeSvg(msg.svg, fonts, msg);
    self.postMessage({ id: msg.id, png } satisfies RasterResponse, [png.buffer as ArrayBuffer]);
  } catch (err) {
    self.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
  }
};
