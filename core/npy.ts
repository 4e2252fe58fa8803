/**
 * NumPy `.npy` reading and writing (format versions 1.0, 2.0 and 3.0), without pickle.
 *
 * Two kinds of array are supported:
 * - plain arrays of one numeric dtype (`<f4`, `<f2`, `<f8`, `<i1..8`, `<u1..8`, `|b1`), C order;
 * - structured arrays whose fields are float sub-arrays, the format `inspect` writes:
 *   `dtype=[('conv1','<f4',(64,56,56)), ('layer1','<f4',(64,28,28))]`, shape `(n_batch, n_time)`.
 *
 * Structured files are read one field at a time (never the whole file at once) and written by
 * {@linkcode StructuredNpyWriter}, which streams each field into its place as it becomes ready
 * and renames a temporary file into place on commit, so the file appears whole or not at all.
 *
 * @module
 */

import { resolve } from "node:path";
import { InspectorError } from "./errors.ts";
import { createTempFile, releaseTemp } from "./atomic.ts";
import { statRegularFile } from "./regular_file.ts";
import { parsePyLiteral, PyLiteralError, type PyValue } from "./_py_literal.ts";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Numeric element type of a plain array or of one structured field. */
export type NpyScalar =
  | "f2"
  | "f4"
  | "f8"
  | "i1"
  | "i2"
  | "i4"
  | "i8"
  | "u1"
  | "u2"
  | "u4"
  | "u8"
  | "b1";

/** One field of a structured dtype. */
export interface NpyField {
  /** Field name, e.g. `"layer1"`. */
  name: string;
  /** Element type. */
  scalar: NpyScalar;
  /** Sub-array shape of the field, e.g. `[64, 28, 28]` (empty for a scalar field). */
  shape: number[];
  /** Byte offset of the field inside one record. */
  offset: number;
  /** Bytes the field takes in one record. */
  byteLength: number;
}

/** A parsed `.npy` header. */
export interface NpyHeader {
  /** Format major version (1, 2 or 3). */
  version: number;
  /** Plain element type, or `null` for a structured array. */
  scalar: NpyScalar | null;
  /** Fields of a structured array (empty for a plain array). */
  fields: NpyField[];
  /** Array shape. */
  shape: number[];
  /** Whether the data is in Fortran order (only C order is supported for reading data). */
  fortranOrder: boolean;
  /** Byte offset of the data. */
  dataOffset: number;
  /** Bytes of one element (plain) or one record (structured). */
  itemSize: number;
}

const SCALAR_SIZE: Record<NpyScalar, number> = {
  f2: 2,
  f4: 4,
  f8: 8,
  i1: 1,
  i2: 2,
  i4: 4,
  i8: 8,
  u1: 1,
  u2: 2,
  u4: 4,
  u8: 8,
  b1: 1,
};

/** Number of elements of a shape (1 for `[]`). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function parseDescr(descr: string, what: string): NpyScalar {
  const m = /^([<>|=]?)([fiub])(\d+)$/.exec(descr);
  if (!m) throw new InspectorError(`${what}: unsupported dtype '${descr}'`);
  if (m[1] === ">" && m[3] !== "1") {
    throw new InspectorError(
      `${what}: big-endian dtype '${descr}' is not supported; save little-endian`,
    );
  }
  const s = `${m[2]}${m[3]}` as NpyScalar;
  if (!(s in SCALAR_SIZE)) throw new InspectorError(`${what}: unsupported dtype '${descr}'`);
  return s;
}

const MAX_HEADER_BYTES = 1 << 20;
/** Records (saved frames) a structured file may declare: far more than any run writes. */
const MAX_RECORDS = 1 << 24;

/** A header value that breaks NumPy's rules: the message says which, and what to do. */
function bad(what: string, why: string): never {
  throw new InspectorError(
    `${what}: invalid .npy header (${why}); NumPy would not load it either: re-save it with np.save`,
  );
}

function show(v: PyValue): string {
  switch (v.kind) {
    case "str":
      return JSON.stringify(v.value).slice(0, 60);
    case "int":
      return String(v.value);
    case "bool":
      return v.value ? "True" : "False";
    case "none":
      return "None";
    case "other":
      return `a ${v.what}`;
    case "tuple":
      return `(${v.items.map(show).join(", ")}${v.items.length === 1 ? "," : ""})`.slice(0, 60);
    case "list":
      return `[${v.items.map(show).join(", ")}]`.slice(0, 60);
    case "dict":
      return "a dict";
  }
}

/** Non-negative safe integer of a shape entry, else an error. */
function dimension(v: PyValue, what: string, where: string): number {
  if (v.kind !== "int") bad(what, `${where} ${show(v)} is not an integer`);
  if (v.value < 0n) bad(what, `${where} ${v.value} is negative`);
  if (v.value > BigInt(Number.MAX_SAFE_INTEGER)) bad(what, `${where} ${v.value} is too large`);
  return Number(v.value);
}

/** A structured field's sub-array shape: an int, or a tuple or list of ints (NumPy's rules). */
function subShape(v: PyValue, what: string, field: string): number[] {
  if (v.kind === "int") return [dimension(v, what, `field '${field}' shape`)];
  if (v.kind === "tuple" || v.kind === "list") {
    return v.items.map((d) => dimension(d, what, `field '${field}' shape entry`));
  }
  return bad(what, `field '${field}' shape ${show(v)} is not a tuple of integers`);
}

function parseFields(descr: PyValue[], what: string): { fields: NpyField[]; itemSize: number } {
  const fields: NpyField[] = [];
  const names = new Set<string>();
  let offset = 0;
  for (const f of descr) {
    if ((f.kind !== "tuple" && f.kind !== "list") || f.items.length < 2 || f.items.length > 3) {
      bad(what, `structured field ${show(f)} is not a (name, dtype) or (name, dtype, shape) tuple`);
    }
    const [n, d, s] = f.items;
    let name: string;
    if (n.kind === "str") name = n.value;
    else if (n.kind === "tuple" && n.items.length === 2 && n.items[1].kind === "str") {
      name = n.items[1].value; // (title, name)
    } else return bad(what, `field name ${show(n)} is not a string`);
    if (d.kind === "list" || d.kind === "tuple") {
      throw new InspectorError(
        `${what}: field '${name}' has a nested dtype, which is not supported; save float fields`,
      );
    }
    if (d.kind !== "str") return bad(what, `field '${name}' dtype ${show(d)} is not a string`);
    const shape = s === undefined ? [] : subShape(s, what, name);
    const pad = /^[|<>=]?V(\d+)$/.exec(d.value);
    if (pad && name === "" && s === undefined) {
      offset += Number(pad[1]); // padding bytes (NumPy skips unnamed void fields)
      continue;
    }
    if (names.has(name)) bad(what, `field name '${name}' is used twice`);
    names.add(name);
    const scalar = parseDescr(d.value, what);
    const byteLength = SCALAR_SIZE[scalar] * shapeSize(shape);
    fields.push({ name, scalar, shape, offset, byteLength });
    offset += byteLength;
  }
  return { fields, itemSize: offset };
}

/** Latin-1 text of bytes (WHATWG's "latin1" label is windows-1252, which differs at 0x80-0x9f). */
function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let k = 0; k < bytes.length; k += 8192) {
    s += String.fromCharCode(...bytes.subarray(k, k + 8192));
  }
  return s;
}

/**
 * Parse the header of a `.npy` file from its first bytes.
 *
 * As strict as NumPy's `np.load`: magic `\x93NUMPY`, version 1.0, 2.0 or 3.0 (2- or 4-byte header
 * length, latin-1 or UTF-8 text), a Python literal dict with exactly the keys `descr`,
 * `fortran_order` (a bool) and `shape` (a tuple of non-negative ints), and a valid `descr`.
 * What NumPy rejects is an error; of what it accepts, dtypes other than the ones listed in the
 * module doc are "not supported" errors. One difference: headers over NumPy's 10,000 characters
 * (which `np.load` takes only with `max_header_size`) are read, up to 1 MiB.
 *
 * @param bytes at least the whole header (the first 64 KiB is always enough in practice)
 * @param what name used in error messages (usually the path)
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePlainNpy, parseNpyHeader } from "./npy.ts";
 * const bytes = encodePlainNpy(new Float32Array(6), [2, 3]);
 * assert.deepEqual(parseNpyHeader(bytes).shape, [2, 3]);
 * bytes[8 + 2 + 10] = 0x21; // break the dict
 * assert.throws(() => parseNpyHeader(bytes), /invalid .npy header/);
 * ```
 */
export function parseNpyHeader(bytes: Uint8Array, what = "array"): NpyHeader {
  if (bytes.length < 8 || MAGIC.some((b, k) => bytes[k] !== b)) {
    throw new InspectorError(`${what} is not a NumPy .npy file (bad magic); save it with np.save`);
  }
  const version = bytes[6];
  if (![1, 2, 3].includes(version) || bytes[7] !== 0) {
    throw new InspectorError(
      `${what}: unsupported .npy format version ${version}.${bytes[7]} (1.0, 2.0 and 3.0 are ` +
        `read); save it with np.save`,
    );
  }
  const start = version === 1 ? 10 : 12;
  if (bytes.length < start) throw new InspectorError(`${what} is truncated inside its .npy header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = version === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  if (start + headerLen > MAX_HEADER_BYTES) {
    throw new InspectorError(
      `${what}: its .npy header declares ${headerLen} bytes, more than the 1 MiB this reader takes`,
    );
  }
  if (bytes.length < start + headerLen) {
    throw new InspectorError(`${what} is truncated inside its .npy header`);
  }
  const raw = bytes.subarray(start, start + headerLen);
  let text: string;
  if (version === 3) {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
    } catch {
      return bad(what, "a version 3.0 header that is not UTF-8");
    }
  } else text = latin1(raw);
  let dict: PyValue;
  try {
    dict = parsePyLiteral(text, { longSuffix: version < 3 });
  } catch (err) {
    if (!(err instanceof PyLiteralError)) throw err;
    return bad(what, `not a Python literal: ${err.message}`);
  }
  if (dict.kind !== "dict") return bad(what, "not a dictionary");
  const entries = new Map<string, PyValue>();
  for (const [k, v] of dict.entries) {
    if (k.kind !== "str") {
      return bad(what, `key ${show(k)} is not one of descr, fortran_order, shape`);
    }
    entries.set(k.value, v);
  }
  const keys = [...entries.keys()].sort();
  if (keys.join() !== "descr,fortran_order,shape") {
    bad(what, `keys ${keys.join(", ") || "(none)"}; expected exactly descr, fortran_order, shape`);
  }
  const shapeV = entries.get("shape")!;
  if (shapeV.kind !== "tuple") return bad(what, `shape ${show(shapeV)} is not a tuple`);
  const shape = shapeV.items.map((d) => dimension(d, what, "shape entry"));
  const fo = entries.get("fortran_order")!;
  if (fo.kind !== "bool") return bad(what, `fortran_order ${show(fo)} is not True or False`);
  const descr = entries.get("descr")!;
  let scalar: NpyScalar | null = null;
  let fields: NpyField[] = [];
  let itemSize: number;
  if (descr.kind === "str") {
    scalar = parseDescr(descr.value, what);
    itemSize = SCALAR_SIZE[scalar];
  } else if (descr.kind === "list") {
    ({ fields, itemSize } = parseFields(descr.items, what));
  } else if (descr.kind === "tuple") {
    throw new InspectorError(`${what}: sub-array dtypes are not supported; save a plain array`);
  } else return bad(what, `descr ${show(descr)} is not a dtype`);
  if (shapeSize(shape) * itemSize > Number.MAX_SAFE_INTEGER) bad(what, "the array is too large");
  return {
    version,
    scalar,
    fields,
    shape,
    fortranOrder: fo.value,
    dataOffset: start + headerLen,
    itemSize,
  };
}

function pyShape(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

/**
 * A string as Python's `repr` writes it (NumPy writes field names so): single quotes unless the
 * text has `'` and no `"`; backslash, the quote and control characters escaped; other characters
 * as they are (lone surrogates as `\uXXXX`).
 */
function pyRepr(text: string): string {
  const q = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = q;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (ch === "\\" || ch === q) out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
      out += `\\x${cp.toString(16).padStart(2, "0")}`;
    } else if (cp >= 0xd800 && cp <= 0xdfff) out += `\\u${cp.toString(16)}`;
    else out += ch;
  }
  return out + q;
}

function encodeHeader(descr: string, shape: readonly number[]): Uint8Array {
  const dict = `{'descr': ${descr}, 'fortran_order': False, 'shape': ${pyShape(shape)}, }`;
  // As np.save: latin-1 text in version 1.0 (2.0 when longer than 65535 bytes), UTF-8 text in
  // version 3.0 when some character is not latin-1; the whole header padded to 64 bytes.
  const wide = [...dict].some((c) => c.charCodeAt(0) > 0xff);
  const body = wide
    ? new TextEncoder().encode(dict)
    : Uint8Array.from(dict, (c) => c.charCodeAt(0));
  let version = wide ? 3 : 1;
  let pre = version === 1 ? 10 : 12;
  if (version === 1 && body.length + 1 + pre > 65535) {
    version = 2;
    pre = 12;
  }
  const total = Math.ceil((pre + body.length + 1) / 64) * 64;
  const len = total - pre;
  const out = new Uint8Array(total).fill(0x20, pre);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, len, true);
  else dv.setUint32(8, len, true);
  out.set(body, pre);
  out[total - 1] = 0x0a;
  return out;
}

function descrOf(s: NpyScalar): string {
  return s === "b1" || s === "i1" || s === "u1" ? `|${s}` : `<${s}`;
}

/**
 * Encode the header of a structured array whose fields are float sub-arrays.
 *
 * @example Usage
 * ```ts
 * import { encodeStructuredHeader } from "./npy.ts";
 * const h = encodeStructuredHeader([{ name: "layer1", scalar: "f4", shape: [4, 2, 2] }], [1, 2]);
 * console.log(h.length % 64); // 0
 * ```
 */
export function encodeStructuredHeader(
  fields: readonly Pick<NpyField, "name" | "scalar" | "shape">[],
  shape: readonly number[],
): Uint8Array {
  const parts = fields.map((f) => {
    const name = pyRepr(f.name);
    return f.shape.length
      ? `(${name}, '${descrOf(f.scalar)}', ${pyShape(f.shape)})`
      : `(${name}, '${descrOf(f.scalar)}')`;
  });
  return encodeHeader(`[${parts.join(", ")}]`, shape);
}

/** Typed array of any plain element type. */
export type NumericArray =
  | Float32Array
  | Float64Array
  | Float16Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

function scalarOf(data: NumericArray): NpyScalar {
  if (data instanceof Float32Array) return "f4";
  if (data instanceof Float64Array) return "f8";
  if (data instanceof Float16Array) return "f2";
  if (data instanceof Int8Array) return "i1";
  if (data instanceof Int16Array) return "i2";
  if (data instanceof Int32Array) return "i4";
  if (data instanceof BigInt64Array) return "i8";
  if (data instanceof Uint16Array) return "u2";
  if (data instanceof Uint32Array) return "u4";
  if (data instanceof BigUint64Array) return "u8";
  return "u1";
}

/**
 * Encode a plain C-order array as `.npy` bytes.
 *
 * @example Usage
 * ```ts
 * import { encodePlainNpy } from "./npy.ts";
 * const bytes = encodePlainNpy(new Float32Array([1, 2, 3, 4]), [2, 2]);
 * console.log(bytes.length); // 128 + 16
 * ```
 */
export function encodePlainNpy(data: NumericArray, shape: readonly number[]): Uint8Array {
  if (shapeSize(shape) !== data.length) {
    throw new RangeError(`shape ${pyShape(shape)} does not hold ${data.length} elements`);
  }
  const header = encodeHeader(`'${descrOf(scalarOf(data))}'`, shape);
  const out = new Uint8Array(header.length + data.byteLength);
  out.set(header, 0);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), header.length);
  return out;
}

/** Convert raw little-endian bytes of a scalar type to float32. */
export function toFloat32(bytes: Uint8Array, scalar: NpyScalar): Float32Array {
  const n = bytes.byteLength / SCALAR_SIZE[scalar];
  // Copy so that the view is aligned.
  const buf = bytes.slice().buffer;
  switch (scalar) {
    case "f4":
      return new Float32Array(buf);
    case "f2":
      return Float32Array.from(new Float16Array(buf));
    case "f8":
      return Float32Array.from(new Float64Array(buf));
    case "i1":
      return Float32Array.from(new Int8Array(buf));
    case "i2":
      return Float32Array.from(new Int16Array(buf));
    case "i4":
      return Float32Array.from(new Int32Array(buf));
    case "u1":
    case "b1":
      return Float32Array.from(new Uint8Array(buf));
    case "u2":
      return Float32Array.from(new Uint16Array(buf));
    case "u4":
      return Float32Array.from(new Uint32Array(buf));
    case "i8": {
      const src = new BigInt64Array(buf);
      const out = new Float32Array(n);
      for (let k = 0; k < n; k++) out[k] = Number(src[k]);
      return out;
    }
    case "u8": {
      const src = new BigUint64Array(buf);
      const out = new Float32Array(n);
      for (let k = 0; k < n; k++) out[k] = Number(src[k]);
      return out;
    }
  }
}

/** A plain array read from `.npy`, converted to float32. */
export interface PlainArray {
  /** Values in C order. */
  data: Float32Array;
  /** Shape. */
  shape: number[];
  /** Element type stored in the file. */
  scalar: NpyScalar;
}

/**
 * Decode a plain `.npy` from bytes into float32.
 *
 * @example Usage
 * ```ts
 * import { decodePlainNpy, encodePlainNpy } from "./npy.ts";
 * const a = decodePlainNpy(encodePlainNpy(new Float64Array([0.5, 2]), [2]));
 * console.log(a.data, a.shape); // Float32Array [0.5, 2] [2]
 * ```
 */
export function decodePlainNpy(bytes: Uint8Array, what = "array"): PlainArray {
  const h = parseNpyHeader(bytes, what);
  if (h.scalar === null) {
    throw new InspectorError(`${what} is a structured array; expected a plain numeric array`);
  }
  if (h.fortranOrder && h.shape.length > 1) {
    throw new InspectorError(`${what} is in Fortran order; save it with np.ascontiguousarray`);
  }
  const need = shapeSize(h.shape) * h.itemSize;
  if (bytes.length < h.dataOffset + need) {
    throw new InspectorError(
      `${what} is truncated: it holds ${bytes.length - h.dataOffset} data bytes, ` +
        `its header promises ${need}`,
    );
  }
  return {
    data: toFloat32(bytes.subarray(h.dataOffset, h.dataOffset + need), h.scalar),
    shape: h.shape,
    scalar: h.scalar,
  };
}

/**
 * Read a plain `.npy` file (e.g. a preprocessed `(B, T, 3, H, W)` batch) as float32.
 *
 * @example Usage
 * ```ts ignore
 * import { readPlainNpy } from "./npy.ts";
 * const { data, shape } = await readPlainNpy("batch.npy");
 * ```
 */
export async function readPlainNpy(path: string): Promise<PlainArray> {
  let bytes: Uint8Array;
  try {
    await statRegularFile(path, "pass a .npy file"); // a FIFO would block the read
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new InspectorError(`${resolve(path)} not found: check the path of the .npy file`);
    }
    throw err;
  }
  return decodePlainNpy(bytes, path);
}

/**
 * A structured `.npy` opened for reading one field (layer) at a time.
 *
 * @example Usage
 * ```ts ignore
 * import { StructuredNpyReader } from "./npy.ts";
 * using f = await StructuredNpyReader.open("out/features.npy");
 * const layer1 = await f.readField("layer1", 0); // record 0 = (batch 0, time 0)
 * ```
 */
export class StructuredNpyReader implements Disposable {
  /** The parsed header. */
  readonly header: NpyHeader;
  /** The path the file was opened from. */
  readonly path: string;
  #file: Deno.FsFile;

  private constructor(path: string, file: Deno.FsFile, header: NpyHeader) {
    this.path = path;
    this.#file = file;
    this.header = header;
  }

  /** Open `path`, check that it is a complete structured array, and parse its header. */
  static async open(path: string): Promise<StructuredNpyReader> {
    let file: Deno.FsFile;
    try {
      await statRegularFile(path, "pass the features .npy written by inspect"); // FIFOs block
      file = await Deno.open(path, { read: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new InspectorError(
          `${resolve(path)} not found: pass the features .npy written by inspect`,
        );
      }
      throw err;
    }
    try {
      const size = (await file.stat()).size;
      const head = new Uint8Array(Math.min(size, 1 << 20));
      let got = 0;
      while (got < head.length) {
        const n = await file.read(head.subarray(got));
        if (n === null) break;
        got += n;
      }
      const header = parseNpyHeader(head.subarray(0, got), path);
      if (header.scalar !== null) {
        throw new InspectorError(
          `${path} is a plain ${header.scalar} array, not the structured features file that ` +
            `inspect writes (one field per layer)`,
        );
      }
      if (header.fortranOrder && header.shape.length > 1) {
        throw new InspectorError(`${path} is in Fortran order; it was not written by inspect`);
      }
      if (shapeSize(header.shape) > MAX_RECORDS) {
        throw new InspectorError(
          `${path} declares ${shapeSize(header.shape)} records (shape (${
            header.shape.join(", ")
          })); ` +
            `a features file holds at most ${MAX_RECORDS} saved frames`,
        );
      }
      const need = header.dataOffset + shapeSize(header.shape) * header.itemSize;
      if (size < need) {
        throw new InspectorError(
          `${path} is truncated: ${size} bytes, its header promises ${need}; re-run inspect`,
        );
      }
      return new StructuredNpyReader(path, file, header);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  /** Field names in file order. */
  get fieldNames(): string[] {
    return this.header.fields.map((f) => f.name);
  }

  /** Number of records (product of the array shape). */
  get recordCount(): number {
    return shapeSize(this.header.shape);
  }

  /** The field called `name`, or an error listing the fields the file has. */
  field(name: string): NpyField {
    const f = this.header.fields.find((x) => x.name === name);
    if (!f) {
      throw new InspectorError(
        `layer '${name}' is not in ${this.path}; it holds: ${this.fieldNames.join(", ")}`,
      );
    }
    return f;
  }

  /** Read field `name` of record `index` (flat index over the array shape) as float32. */
  async readField(name: string, index: number): Promise<Float32Array> {
    const f = this.field(name);
    if (index < 0 || index >= this.recordCount) {
      throw new RangeError(`record ${index} out of range 0..${this.recordCount - 1}`);
    }
    const pos = this.header.dataOffset + index * this.header.itemSize + f.offset;
    await this.#file.seek(pos, Deno.SeekMode.Start);
    const buf = new Uint8Array(f.byteLength);
    let got = 0;
    while (got < buf.length) {
      const n = await this.#file.read(buf.subarray(got));
      if (n === null) throw new InspectorError(`${this.path} ended early; re-run inspect`);
      got += n;
    }
    return toFloat32(buf, f.scalar);
  }

  /** Read field `name` of every record, concatenated in record order. */
  async readFieldAll(name: string): Promise<Float32Array> {
    const f = this.field(name);
    const per = shapeSize(f.shape);
    const out = new Float32Array(per * this.recordCount);
    for (let r = 0; r < this.recordCount; r++) out.set(await this.readField(name, r), r * per);
    return out;
  }

  /** Close the file. */
  close(): void {
    try {
      this.#file.close();
    } catch { /* already closed */ }
  }

  /** Close the file (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Streams a structured `.npy` to disk field by field and makes it appear atomically.
 *
 * The file is written under a temporary name next to `path` (created exclusively, with an
 * unpredictable name: see `createTempFile` in `./atomic.ts`); {@linkcode commit} renames it into
 * place, {@linkcode abort} removes it.
 *
 * @example Usage
 * ```ts ignore
 * import { StructuredNpyWriter } from "./npy.ts";
 * const w = await StructuredNpyWriter.create("out/features.npy", {
 *   shape: [1, 2],
 *   fields: [{ name: "layer1", scalar: "f4", shape: [16, 28, 28] }],
 * });
 * await w.writeField("layer1", 0, new Float32Array(16 * 28 * 28));
 * await w.writeField("layer1", 1, new Float32Array(16 * 28 * 28));
 * await w.commit();
 * ```
 */
export class StructuredNpyWriter {
  /** Final path. */
  readonly path: string;
  /** Parsed header of what is being written. */
  readonly header: NpyHeader;
  #tmp: string;
  #file: Deno.FsFile | null;

  private constructor(path: string, tmp: string, file: Deno.FsFile, header: NpyHeader) {
    this.path = path;
    this.#tmp = tmp;
    this.#file = file;
    this.header = header;
  }

  /** Create the temporary file and size it for the whole array. */
  static async create(
    path: string,
    spec: { shape: number[]; fields: Pick<NpyField, "name" | "scalar" | "shape">[] },
  ): Promise<StructuredNpyWriter> {
    const headerBytes = encodeStructuredHeader(spec.fields, spec.shape);
    const header = parseNpyHeader(headerBytes, path);
    // Exclusive, unpredictable, never through a link planted at the name (core/atomic.ts).
    const { path: tmp, file } = createTempFile(path);
    try {
      await file.write(headerBytes);
      await file.truncate(header.dataOffset + header.itemSize * shapeSize(spec.shape));
    } catch (err) {
      file.close();
      await Deno.remove(tmp).catch(() => {});
      releaseTemp(tmp);
      throw err;
    }
    return new StructuredNpyWriter(path, tmp, file, header);
  }

  /** Write one field of one record; float32 data is converted to the field's type. */
  async writeField(name: string, index: number, data: Float32Array): Promise<void> {
    if (!this.#file) throw new Error("writer already closed");
    const f = this.header.fields.find((x) => x.name === name);
    if (!f) throw new RangeError(`no field '${name}'`);
    if (data.length !== shapeSize(f.shape)) {
      throw new RangeError(
        `field '${name}' takes ${shapeSize(f.shape)} values, got ${data.length}`,
      );
    }
    let bytes: Uint8Array;
    if (f.scalar === "f4") bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else if (f.scalar === "f2") bytes = new Uint8Array(Float16Array.from(data).buffer);
    else if (f.scalar === "f8") bytes = new Uint8Array(Float64Array.from(data).buffer);
    else throw new RangeError(`writing ${f.scalar} fields is not supported`);
    await this.#file.seek(this.header.dataOffset + index * this.header.itemSize + f.offset, 0);
    let done = 0;
    while (done < bytes.length) done += await this.#file.write(bytes.subarray(done));
  }

  /** Temporary path the data is being written to. */
  get tempPath(): string {
    return this.#tmp;
  }

  /** Flush and close without renaming; returns the temporary path (for a caller's commit). */
  async finish(): Promise<string> {
    if (this.#file) await this.#syncClose();
    return this.#tmp;
  }

  /** Flush, close and rename into place. */
  async commit(): Promise<void> {
    if (!this.#file) return;
    await this.#syncClose();
    await Deno.rename(this.#tmp, this.path);
    releaseTemp(this.#tmp);
  }

  /**
   * Flush to disk and close. A failed flush (EIO, ENOSPC on write-back) is an error, not a file
   * that might be incomplete; only a file system that cannot flush at all is let pass.
   */
  async #syncClose(): Promise<void> {
    const file = this.#file!;
    this.#file = null;
    try {
      await file.sync();
    } catch (err) {
      if (!(err instanceof Deno.errors.NotSupported)) {
        file.close();
        throw new InspectorError(
          `cannot flush ${this.#tmp} to disk (${(err as Error).message}); check the disk and ` +
            `free space, then run again`,
        );
      }
    }
    file.close();
  }

  /** Close and delete the temporary file. */
  async abort(): Promise<void> {
    if (this.#file) {
      this.#file.close();
      this.#file = null;
    }
    await Deno.remove(this.#tmp).catch(() => {});
    releaseTemp(this.#tmp);
  }
}
