/**
 * The Python literals of a `.npy` header, parsed as strictly as NumPy's `ast.literal_eval` does:
 * dicts, tuples, lists, strings (prefixes `r`/`u`, escapes, implicit concatenation), integers
 * (decimal, `0x`/`0o`/`0b`, `_` separators, one sign), `True`/`False`/`None`, comments and line
 * continuations. Anything else that Python would parse (floats, bytes, sets, ...) is kept as an
 * `other` value, rejected wherever it is used; anything Python would not parse is an error.
 *
 * Private to `core/npy.ts`.
 *
 * @module
 */

/** A parsed Python literal. */
export type PyValue =
  | { kind: "str"; value: string }
  | { kind: "int"; value: bigint }
  | { kind: "bool"; value: boolean }
  | { kind: "none" }
  | { kind: "tuple"; items: PyValue[] }
  | { kind: "list"; items: PyValue[] }
  | { kind: "dict"; entries: [PyValue, PyValue][] }
  | { kind: "other"; what: string };

/** Thrown for text Python would not parse as a literal; the message says where. */
export class PyLiteralError extends Error {}

const SIMPLE_ESCAPES: Record<string, string> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
};

/**
 * Parse `src` as one Python literal (the whole text: only blanks and comments may follow).
 *
 * @param options.longSuffix accept Python 2's `L` after an integer (NumPy does for versions 1 and 2)
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePyLiteral } from "./_py_literal.ts";
 * assert.deepEqual(parsePyLiteral("(2,)"), { kind: "tuple", items: [{ kind: "int", value: 2n }] });
 * assert.deepEqual(parsePyLiteral("'a' \"b\""), { kind: "str", value: "ab" });
 * assert.throws(() => parsePyLiteral("(2,,)"));
 * ```
 */
export function parsePyLiteral(src: string, options: { longSuffix?: boolean } = {}): PyValue {
  let i = 0;
  let depth = 0;
  const fail = (why: string): never => {
    throw new PyLiteralError(`${why} at character ${i}`);
  };
  // Blanks between tokens: inside brackets newlines too; comments; backslash-newline.
  const ws = (): void => {
    for (;;) {
      const c = src[i];
      if (c === " " || c === "\t" || c === "\f") i++;
      else if ((c === "\n" || c === "\r") && depth > 0) i++;
      else if (c === "#") {
        while (i < src.length && src[i] !== "\n" && src[i] !== "\r") i++;
      } else if (c === "\\" && (src[i + 1] === "\n" || src[i + 1] === "\r")) {
        i += src[i + 1] === "\r" && src[i + 2] === "\n" ? 3 : 2;
        if (i >= src.length) fail("line continuation at the end");
      } else return;
    }
  };

  const stringLiteral = (prefix: string): PyValue => {
    const p = prefix.toLowerCase();
    const raw = p.includes("r");
    const q = src[i];
    const triple = src[i + 1] === q && src[i + 2] === q;
    const close = triple ? q.repeat(3) : q;
    i += close.length;
    let out = "";
    for (;;) {
      if (i >= src.length) fail("unterminated string");
      if (src.startsWith(close, i)) {
        i += close.length;
        break;
      }
      const c = src[i];
      if ((c === "\n" || c === "\r") && !triple) fail("newline inside a string");
      if (c !== "\\") {
        out += c;
        i++;
        continue;
      }
      const e = src[i + 1];
      if (e === undefined) fail("unterminated string");
      if (raw) {
        out += c + e;
        i += 2;
        continue;
      }
      i += 2;
      if (e === "\n") continue;
      if (e === "\r") {
        if (src[i] === "\n") i++;
        continue;
      }
      if (e in SIMPLE_ESCAPES) out += SIMPLE_ESCAPES[e];
      else if (e >= "0" && e <= "7") {
        let digits = e;
        while (digits.length < 3 && /[0-7]/.test(src[i] ?? "")) digits += src[i++];
        out += String.fromCodePoint(parseInt(digits, 8));
      } else if (e === "x" || e === "u" || e === "U") {
        const n = e === "x" ? 2 : e === "u" ? 4 : 8;
        const hex = src.slice(i, i + n);
        if (!new RegExp(`^[0-9A-Fa-f]{${n}}$`).test(hex)) fail(`bad \\${e} escape`);
        const cp = parseInt(hex, 16);
        if (cp > 0x10ffff) fail("escape beyond U+10FFFF");
        i += n;
        out += cp >= 0xd800 && cp <= 0xdfff ? String.fromCharCode(cp) : String.fromCodePoint(cp);
      } else if (e === "N") fail("\\N{...} escapes are not supported");
      else out += c + e; // unknown escape: kept, as Python does
    }
    if (p.includes("b")) return { kind: "other", what: "bytes" };
    if (p.includes("f")) fail("f-strings are not literals");
    return { kind: "str", value: out };
  };

  const number = (sign: 1n | -1n): PyValue => {
    const m =
      /^(0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|[1-9](?:_?[0-9])*|0(?:_?0)*)(?![0-9A-Za-z_.])/
        .exec(src.slice(i));
    if (!m) {
      const f = /^(?:\d(?:_?\d)*)?(?:\.(?:\d(?:_?\d)*)?)?(?:[eE][+-]?\d(?:_?\d)*)?[jJ]?/.exec(
        src.slice(i),
      );
      if (f && f[0] && f[0] !== "." && !/[0-9A-Za-z_]/.test(src[i + f[0].length] ?? "")) {
        i += f[0].length;
        return { kind: "other", what: "float" };
      }
      if (options.longSuffix) {
        const l = /^([1-9](?:_?[0-9])*|0(?:_?0)*)L(?![0-9A-Za-z_.])/.exec(src.slice(i));
        if (l) {
          i += l[0].length;
          return { kind: "int", value: sign * BigInt(l[1].replaceAll("_", "")) };
        }
      }
      return fail("bad number");
    }
    i += m[0].length;
    let v = BigInt(m[1].replaceAll("_", ""));
    if (options.longSuffix) {
      // NumPy's _filter_header drops an `L` name token after a number (also after blanks).
      const save = i;
      while (src[i] === " " || src[i] === "\t") i++;
      if (src[i] === "L" && !/[0-9A-Za-z_]/.test(src[i + 1] ?? "")) i++;
      else i = save;
    }
    v *= sign;
    return { kind: "int", value: v };
  };

  const sequence = (close: string): { items: PyValue[]; comma: boolean } => {
    const items: PyValue[] = [];
    let comma = false;
    for (;;) {
      ws();
      if (src[i] === close) {
        i++;
        return { items, comma };
      }
      items.push(value());
      ws();
      if (src[i] === ",") {
        i++;
        comma = true;
      } else if (src[i] !== close) fail(`expected ',' or '${close}'`);
    }
  };

  const value = (): PyValue => {
    ws();
    const c = src[i];
    if (c === undefined) return fail("unexpected end");
    if (c === "(" || c === "[") {
      i++;
      depth++;
      const { items, comma } = sequence(c === "(" ? ")" : "]");
      depth--;
      if (c === "[") return { kind: "list", items };
      if (items.length === 1 && !comma) return items[0]; // (x) is x, not a tuple
      return { kind: "tuple", items };
    }
    if (c === "{") {
      i++;
      depth++;
      ws();
      const entries: [PyValue, PyValue][] = [];
      let isSet = false;
      for (;;) {
        ws();
        if (src[i] === "}") {
          i++;
          break;
        }
        const k = value();
        ws();
        if (src[i] === ":" && !isSet) {
          i++;
          entries.push([k, value()]);
        } else if (entries.length === 0) isSet = true;
        else fail("expected ':'");
        ws();
        if (src[i] === ",") i++;
        else if (src[i] !== "}") fail("expected ',' or '}'");
      }
      depth--;
      return isSet ? { kind: "other", what: "set" } : { kind: "dict", entries };
    }
    if (c === "-" || c === "+") {
      i++;
      ws();
      if (!/[0-9.]/.test(src[i] ?? "")) fail("a sign needs a number");
      return number(c === "-" ? -1n : 1n);
    }
    if (/[0-9.]/.test(c)) return number(1n);
    const str = /^([rRuUbBfF]{0,2})(['"])/.exec(src.slice(i));
    if (str && (str[1] === "" || /^(r|u|b|f|br|rb|fr|rf)$/i.test(str[1]))) {
      let out: PyValue | null = null;
      for (;;) {
        const s = /^([rRuUbBfF]{0,2})(['"])/.exec(src.slice(i));
        if (!s || !(s[1] === "" || /^(r|u|b|f|br|rb|fr|rf)$/i.test(s[1]))) break;
        i += s[1].length;
        const part = stringLiteral(s[1]);
        if (out === null) out = part;
        else if (out.kind !== part.kind) fail("cannot mix bytes and str");
        else if (out.kind === "str" && part.kind === "str") {
          out = { kind: "str", value: out.value + part.value };
        }
        ws();
      }
      return out!;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (name) {
      i += name[0].length;
      if (name[0] === "True") return { kind: "bool", value: true };
      if (name[0] === "False") return { kind: "bool", value: false };
      if (name[0] === "None") return { kind: "none" };
      return fail(`'${name[0]}' is not a literal`);
    }
    return fail(`unexpected '${c}'`);
  };

  // Python source may not hold a NUL byte anywhere, not even inside a string.
  const nul = src.indexOf("\0");
  if (nul >= 0) {
    i = nul;
    fail("a NUL character");
  }
  // ast.literal_eval strips leading blanks; blank and comment lines may come first.
  for (;;) {
    while (src[i] === " " || src[i] === "\t" || src[i] === "\f") i++;
    if (src[i] === "#") { while (i < src.length && src[i] !== "\n" && src[i] !== "\r") i++; }
    if (src[i] === "\n" || src[i] === "\r") i++;
    else break;
  }
  const v = value();
  for (;;) {
    ws();
    if (src[i] === "\n" || src[i] === "\r") i++;
    else break;
  }
  if (i < src.length) fail(`unexpected '${src[i]}' after the value`);
  return v;
}
