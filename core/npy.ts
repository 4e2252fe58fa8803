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

/** Minimal tokenizer for the Python-literal dict in a `.npy` header. */
function parsePyLiteral(src: string, what: string): unknown {
  let i = 0;
  const fail = (): never => {
    throw new InspectorError(`${what}: unreadable .npy header (${src.slice(0, 80)}...)`);
  };
  const ws = () => {
    while (i < src.length && /\s/.test(src[i])) i++;
  };
  const value = (): unknown => {
    ws();
    const c = src[i];
    if (c === "{") {
      i++;
      const out: Record<string, unknown> = {};
      for (;;) {
        ws();
        if (src[i] === "}") {
          i++;
          return out;
        }
        const k = value();
        ws();
        if (src[i++] !== ":") fail();
        out[String(k)] = value();
        ws();
        if (src[i] === ",") i++;
      }
    }
    if (c === "[" || c === "(") {
      const close = c === "[" ? "]" : ")";
      i++;
      const out: unknown[] = [];
      for (;;) {
        ws();
        if (src[i] === close) {
          i++;
          return out;
        }
        out.push(value());
        ws();
        if (src[i] === ",") i++;
        else if (src[i] !== close) fail();
      }
    }
    if (c === "'" || c === '"') {
      const end = src.indexOf(c, i + 1);
      if (end < 0) fail();
      const s = src.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    const m = /^(True|False|None|-?\d+L?)/.exec(src.slice(i));
    if (!m) return fail();
    i += m[0].length;
    if (m[0] === "True") return true;
    if (m[0] === "False") return false;
    if (m[0] === "None") return null;
    return parseInt(m[0], 10);
  };
  return value();
}

/**
 * Parse the header of a `.npy` file from its first bytes.
 *
 * @param bytes at least the whole header (the first 64 KiB is always enough in practice)
 * @param what name used in error messages (usually the path)
 *
 * @example Usage
 * ```ts
 * import { encodePlainNpy, parseNpyHeader } from "./npy.ts";
 * const bytes = encodePlainNpy(new Float32Array(6), [2, 3]);
 * console.log(parseNpyHeader(bytes).shape); // [2, 3]
 * ```
 */
export function parseNpyHeader(bytes: Uint8Array, what = "array"): NpyHeader {
  if (bytes.length < 10 || MAGIC.some((b, k) => bytes[k] !== b)) {
    throw new InspectorError(`${what} is not a NumPy .npy file (bad magic); save it with np.save`);
  }
  const version = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (version === 1) {
    headerLen = dv.getUint16(8, true);
    start = 10;
  } else if (version === 2 || version === 3) {
    if (bytes.length < 12) throw new InspectorError(`${what} is truncated inside its .npy header`);
    headerLen = dv.getUint32(8, true);
    start = 12;
  } else {
    throw new InspectorError(`${what}: unsupported .npy format version ${version}`);
  }
  if (bytes.length < start + headerLen) {
    throw new InspectorError(`${what} is truncated inside its .npy header`);
  }
  const text = new TextDecoder(version === 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(start, start + headerLen),
  );
  const dict = parsePyLiteral(text, what) as Record<string, unknown>;
  if (typeof dict !== "object" || dict === null || !("descr" in dict) || !("shape" in dict)) {
    throw new InspectorError(`${what}: .npy header lacks 'descr' or 'shape'`);
  }
  const shape = (dict.shape as unknown[]).map(Number);
  const fortranOrder = Boolean(dict.fortran_order);
  let scalar: NpyScalar | null = null;
  const fields: NpyField[] = [];
  let itemSize: number;
  if (typeof dict.descr === "string") {
    scalar = parseDescr(dict.descr, what);
    itemSize = SCALAR_SIZE[scalar];
  } else if (Array.isArray(dict.descr)) {
    let offset = 0;
    for (const f of dict.descr as unknown[]) {
      if (!Array.isArray(f) || f.length < 2 || typeof f[1] !== "string") {
        throw new InspectorError(
          `${what}: structured field ${JSON.stringify(f)} is not supported (nested dtypes are not)`,
        );
      }
      const s = parseDescr(f[1], what);
      const sub = f.length > 2 ? (f[2] as unknown[]).map(Number) : [];
      const byteLength = SCALAR_SIZE[s] * shapeSize(sub);
      const name = Array.isArray(f[0]) ? String(f[0][1]) : String(f[0]);
      fields.push({ name, scalar: s, shape: sub, offset, byteLength });
      offset += byteLength;
    }
    itemSize = offset;
  } else {
    throw new InspectorError(`${what}: unsupported .npy descr`);
  }
  return { version, scalar, fields, shape, fortranOrder, dataOffset: start + headerLen, itemSize };
}

function pyShape(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

function encodeHeader(descr: string, shape: readonly number[]): Uint8Array {
  let dict = `{'descr': ${descr}, 'fortran_order': False, 'shape': ${pyShape(shape)}, }`;
  const enc = new TextEncoder();
  // Version 1 unless the header does not fit 65535 bytes; total header padded to 64 bytes.
  let version = 1;
  let pre = 10;
  if (dict.length + 11 > 65535) {
    version = 2;
    pre = 12;
  }
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  dict = dict + " ".repeat(total - pre - dict.length - 1) + "\n";
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, dict.length, true);
  else dv.setUint32(8, dict.length, true);
  out.set(enc.encode(dict), pre);
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
    const name = f.name.replaceAll("\\", "\\\\").replaceAll("'", "\\'");
    return f.shape.length
      ? `('${name}', '${descrOf(f.scalar)}', ${pyShape(f.shape)})`
      : `('${name}', '${descrOf(f.scalar)}')`;
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
    if (this.#file) {
      await this.#file.sync().catch(() => {});
      this.#file.close();
      this.#file = null;
    }
    return this.#tmp;
  }

  /** Flush, close and rename into place. */
  async commit(): Promise<void> {
    if (!this.#file) return;
    await this.#file.sync().catch(() => {});
    this.#file.close();
    this.#file = null;
    await Deno.rename(this.#tmp, this.path);
    releaseTemp(this.#tmp);
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
