/**
 * Private: PNG decoding for `image_io.ts`, pngjs' own steps (chunk parser with CRC checks,
 * unfiltering, bit-mapping, normalising to 8-bit RGBA) around a strict inflate.
 *
 * `PNG.sync.read` inflates with pngjs' own zlib wrapper, which under Deno's `node:zlib` returns
 * a buffer of the full expected size however little the stream held: a truncated or short data
 * stream "decoded" into uninitialised memory with no error. Here the data is inflated with
 * `node:zlib`'s `inflateSync`, bounded by the size the header declares, and must come out at
 * exactly that size. The declared size itself is checked first ({@linkcode pngSize}), so a
 * 57-byte file declaring 60000x60000 pixels allocates nothing.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { inflateSync } from "node:zlib";
// pngjs' internals, pinned with the package (its public `PNG.sync.read` is these steps).
import Parser from "npm:pngjs@7.0.0/lib/parser.js";
import SyncReader from "npm:pngjs@7.0.0/lib/sync-reader.js";
import FilterSync from "npm:pngjs@7.0.0/lib/filter-parse-sync.js";
import bitmapper from "npm:pngjs@7.0.0/lib/bitmapper.js";
import formatNormaliser from "npm:pngjs@7.0.0/lib/format-normaliser.js";
import interlace from "npm:pngjs@7.0.0/lib/interlace.js";
import type { RgbaImage } from "../core/image.ts";

/** The header fields pngjs' parser reports. */
interface PngMeta {
  width: number;
  height: number;
  depth: number;
  interlace: boolean;
  bpp: number;
  [key: string]: unknown;
}

/**
 * Width and height from a PNG's IHDR chunk (the first chunk, right after the signature);
 * `null` when the bytes do not start with one.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePng } from "../render/png.ts";
 * import { pngSize } from "./_png_decode.ts";
 * const png = encodePng({ width: 3, height: 2, data: new Uint8Array(24) });
 * assert.deepEqual(pngSize(png), { width: 3, height: 2 });
 * ```
 */
export function pngSize(bytes: Uint8Array): { width: number; height: number } | null {
  if (bytes.length < 24) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = String.fromCharCode(bytes[12], bytes[13], bytes[14], bytes[15]);
  if (type !== "IHDR") return null;
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

/** Bytes of the filtered scanlines the header describes (one filter byte per row). */
function inflatedSize(meta: PngMeta): number {
  const rowBytes = (w: number): number => ((w * meta.bpp * meta.depth + 7) >> 3) + 1;
  if (!meta.interlace) return rowBytes(meta.width) * meta.height;
  const passes = interlace.getImagePasses(meta.width, meta.height) as {
    width: number;
    height: number;
  }[];
  return passes.reduce((sum, p) => sum + rowBytes(p.width) * p.height, 0);
}

/**
 * Decode PNG bytes to 8-bit RGBA, exactly as pngjs' `PNG.sync.read` does for a sound file;
 * throws a plain `Error` (the caller words it) for bad CRCs, a truncated or corrupt data stream,
 * or data that does not match the declared size.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePng } from "../render/png.ts";
 * import { decodePngStrict } from "./_png_decode.ts";
 * const png = encodePng({ width: 1, height: 1, data: new Uint8Array([9, 8, 7, 255]) });
 * assert.deepEqual(decodePngStrict(png).data, new Uint8Array([9, 8, 7, 255]));
 * assert.throws(() => decodePngStrict(png.subarray(0, 40)), /read requests/); // cut short
 * ```
 */
export function decodePngStrict(bytes: Uint8Array): RgbaImage {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let err: unknown = null;
  let meta: PngMeta | null = null;
  const idat: Buffer[] = [];
  const reader = new SyncReader(buffer);
  const parser = new Parser({}, {
    read: reader.read.bind(reader),
    error: (e: unknown) => err = e,
    metadata: (m: PngMeta) => meta = m,
    gamma: () => {}, // pngjs reports gamma but does not apply it
    palette: (p: unknown) => meta!.palette = p,
    transColor: (t: unknown) => meta!.transColor = t,
    inflateData: (d: Buffer) => idat.push(d),
    simpleTransparency: () => meta!.alpha = true,
  });
  parser.start();
  try {
    reader.process();
  } catch (e) {
    throw err ?? e; // the parser's own complaint (e.g. a CRC error) stopped the reading
  }
  if (err) throw err;
  if (meta === null) throw new Error("no IHDR chunk");
  const m: PngMeta = meta;
  const expected = inflatedSize(m);
  let inflated: Buffer;
  try {
    inflated = inflateSync(Buffer.concat(idat), {
      maxOutputLength: expected,
      chunkSize: Math.max(64, Math.min(expected, 1 << 24)),
    });
  } catch (e) {
    if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      throw new Error(`image data longer than the ${m.width}x${m.height} pixels the IHDR declares`);
    }
    throw new Error(`image data stream: ${(e as Error).message}`);
  }
  if (inflated.length !== expected) {
    throw new Error(
      `image data holds ${inflated.length} of the ${expected} bytes its ` +
        `${m.width}x${m.height} pixels need`,
    );
  }
  const unfiltered = FilterSync.process(inflated, m);
  const bitmap = bitmapper.dataToBitMap(unfiltered, m);
  const data = formatNormaliser(bitmap, m) as Buffer;
  return {
    width: m.width,
    height: m.height,
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}
