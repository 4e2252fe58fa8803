/**
 * Issue 17, items 8 and 11: names that must stay inside the save folder and still save (quotes,
 * non-ASCII, colliding stems, `constructor`), a `.npy` header parser as strict as NumPy's
 * (checked against `np.load` itself on a list of malformed headers), and negative flag values.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  decodePlainNpy,
  parseNpyHeader,
  StructuredNpyReader,
  StructuredNpyWriter,
} from "../core/npy.ts";
import { InspectorError } from "../core/errors.ts";
import { checkFileStem } from "../core/file_stem.ts";
import { analyzeFeatures } from "../analysis/analyze.ts";
import { parseCli } from "../scripts/cli_args.ts";
import { flag } from "../scripts/options/group.ts";
import { writeSynthetic } from "./analyze_data.ts";
import { haveNumpy, python, runScript, skip, tempDir } from "./helpers.ts";

// ---------------------------------------------------------------------------------------------
// Item 8: names

Deno.test("names: options.name must be a plain file stem", () => {
  for (const bad of ["../x", "a/b", "a\\b", "..", "x..y", ".hidden", "", "a\0b", "a\nb"]) {
    assert.throws(
      () => checkFileStem(bad),
      (e: Error) =>
        e instanceof InspectorError && /is not a plain file name/.test(e.message) &&
        !e.message.includes("\n"),
      JSON.stringify(bad),
    );
  }
  for (const ok of ["features", "features_b1_t0-7", "run 2", "é", "a.b"]) {
    assert.equal(checkFileStem(ok), ok);
  }
});

Deno.test("names: inspect --name ../x is refused with one line, nothing written", async () => {
  const dir = tempDir("fi_names_");
  try {
    const save = join(dir, "save");
    // Full permissions: the library itself must refuse, not Deno's --allow-write.
    const r = await runScript("scripts/inspect.ts", [
      "--save_dir",
      save,
      "--name",
      "../x",
      "--size",
      "32",
      "--max_len",
      "2",
    ], { permissions: ["-A"] });
    assert.notEqual(r.code, 0, r.stderr);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^error: --name '\.\.\/x' is not a plain file name/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n !== "save"), []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

const ODD_NAMES = ["it's", 'say "hi"', "é", "日本語", "a\\b", "tab\there", "x'\"y", "Ω/conv'1"];

Deno.test("names: layer names with quotes and non-ASCII save, reload, and NumPy reads them", async () => {
  const dir = tempDir("fi_names_");
  try {
    const path = join(dir, "f.npy");
    const w = await StructuredNpyWriter.create(path, {
      shape: [1, 2],
      fields: ODD_NAMES.map((name) => ({ name, scalar: "f4" as const, shape: [3] })),
    });
    for (const [k, name] of ODD_NAMES.entries()) {
      for (let r = 0; r < 2; r++) await w.writeField(name, r, Float32Array.of(k, r, k + r));
    }
    await w.commit();
    {
      using f = await StructuredNpyReader.open(path);
      assert.deepEqual(f.fieldNames, ODD_NAMES);
      assert.deepEqual([...await f.readField("日本語", 1)], [3, 1, 4]);
    }
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["f.npy"]);
    if (!haveNumpy()) return skip("python3 with numpy is not available");
    const got = await python(
      "import json,sys,numpy as np; a=np.load(sys.argv[1]); " +
        "print(json.dumps([list(a.dtype.names), [a[n][0,1].tolist() for n in a.dtype.names]]))",
      [path],
    ) as [string[], number[][]];
    assert.deepEqual(got[0], ODD_NAMES);
    assert.deepEqual(got[1], ODD_NAMES.map((_, k) => [k, 1, k + 1]));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** Run `fn` with console.error/warn captured; returns what was printed. */
async function capturingConsole(fn: () => Promise<unknown>): Promise<string[]> {
  const printed: string[] = [];
  const { error, warn } = console;
  console.error = (...a: unknown[]) => printed.push(a.map(String).join(" "));
  console.warn = console.error;
  try {
    await fn();
  } finally {
    console.error = error;
    console.warn = warn;
  }
  return printed;
}

Deno.test("names: analyze gives colliding stems and prototype names their own charts", async () => {
  const dir = tempDir("fi_names_");
  try {
    const names = ["a/b", "a_b", "constructor", "toString", "__proto__"];
    const npy = await writeSynthetic(join(dir, "f.npy"), {
      records: [1, 2],
      layers: names.map((name) => ({ name, shape: [4, 6, 6], kind: "relu" as const })),
    });
    const save = join(dir, "report");
    let summary: Awaited<ReturnType<typeof analyzeFeatures>> | undefined;
    const printed = await capturingConsole(async () => {
      summary = await analyzeFeatures(npy, { saveDir: save, gpu: "off" });
    });
    assert.deepEqual(printed, [], "Vega printed errors");
    const s = summary!;
    assert.deepEqual(Object.keys(s.layers), names);
    const files = names.map((n) => s.layers[n].files);
    assert.deepEqual(files[0], [
      "a_b_distribution.png",
      "a_b_channel_stats.png",
      "a_b_spatial_patterns.png",
    ]);
    assert.deepEqual(files[1], [
      "a_b_2_distribution.png",
      "a_b_2_channel_stats.png",
      "a_b_2_spatial_patterns.png",
    ]);
    const all = files.flat();
    assert.equal(new Set(all).size, all.length, "two layers share a chart file");
    for (const f of all) assert.ok(Deno.statSync(join(save, f)).size > 1000, f);
    const json = JSON.parse(Deno.readTextFileSync(join(save, "summary.json")));
    assert.deepEqual(Object.keys(json.layers), names);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Item 11: headers as strict as NumPy's

/** A header case: the dict text (or raw bytes after the magic), and the data bytes that follow. */
interface HeaderCase {
  /** What is being tried. */
  why: string;
  /** Header text (for versions 1 and 2 latin-1, for 3 UTF-8). */
  text?: string;
  /** Format version bytes (default [1, 0]). */
  version?: [number, number];
  /** Override the header-length field. */
  lengthField?: number;
  /** Data bytes after the header (default 64). */
  data?: number;
}

const D = (descr: string, shape = "(2,)", fo = "False"): string =>
  `{'descr': ${descr}, 'fortran_order': ${fo}, 'shape': ${shape}, }`;

const HEADER_CASES: HeaderCase[] = [
  // Accepted by NumPy
  { why: "plain", text: D("'<f4'") },
  {
    why: "no trailing comma, padded",
    text: D("'<f4'").replace(", }", "}") + " ".repeat(20) + "\n",
  },
  { why: "version 2", text: D("'<f8'"), version: [2, 0] },
  { why: "version 3", text: D("'<f4'"), version: [3, 0] },
  { why: "structured", text: D("[('a', '<f4', (2,)), ('b', '<f2')]", "(1, 2)"), data: 128 },
  { why: "field shape as an int", text: D("[('a', '<f4', 3)]", "(1,)") },
  { why: "field as a list", text: D("[['a', '<f4']]", "(1,)") },
  { why: "(title, name) field", text: D("[(('t', 'a'), '<f4')]", "(1,)") },
  { why: "padding field", text: D("[('a', '<f4'), ('', '|V4'), ('b', '<f4')]", "(1,)") },
  { why: "double-quoted name with '", text: D(`[("a'b", '<f4')]`, "(1,)") },
  { why: "escaped name", text: D("[('a\\x41\\'', '<f4')]", "(1,)") },
  { why: "keys in another order", text: "{'shape': (2,), 'fortran_order': False, 'descr': '<f4'}" },
  { why: "Python 2 long", text: D("'<f4'", "(2L,)") },
  { why: "hex and underscores", text: D("'<f4'", "(0x2, 1_0)"), data: 128 },
  { why: "implicit concatenation", text: D("'<' 'f4'") },
  { why: "comment", text: "{'descr': '<f4', # c\n 'fortran_order': False, 'shape': (2,)}" },
  { why: "leading blank line", text: "\n" + D("'<f4'") },
  { why: "duplicate key, last wins", text: D("'<f4'", "(1.5,), 'shape': (2,)") },
  { why: "zero-size", text: D("'<f4'", "(0, 3)"), data: 0 },
  { why: "scalar", text: D("'<i8'", "()"), data: 8 },
  { why: "trailing data", text: D("'<f4'"), data: 100 },
  // Rejected by NumPy
  { why: "missing key", text: "{'descr': '<f4', 'shape': (2,)}" },
  { why: "extra key", text: D("'<f4'").replace("}", "'x': 1}") },
  { why: "not a dict", text: "['<f4', False, (2,)]" },
  { why: "shape a list", text: D("'<f4'", "[2]") },
  { why: "shape an int", text: D("'<f4'", "(2)") },
  { why: "shape negative", text: D("'<f4'", "(-1,)") },
  { why: "shape negative pair", text: D("'<f4'", "(-2, -1)") },
  { why: "shape float", text: D("'<f4'", "(2.0,)") },
  { why: "shape bool", text: D("'<f4'", "(True,)") },
  { why: "shape string", text: D("'<f4'", "('2',)") },
  { why: "fortran_order 0", text: D("'<f4'", "(2,)", "0") },
  { why: "fortran_order string", text: D("'<f4'", "(2,)", "'False'") },
  { why: "descr int", text: D("4") },
  { why: "descr invalid", text: D("'<f3'") },
  { why: "descr bytes", text: D("b'<f4'") },
  { why: "field shape a string", text: D("[('a', '<f4', 'x')]", "(1,)") },
  { why: "field shape negative", text: D("[('a', '<f4', -1)]", "(1,)") },
  { why: "field of one item", text: D("[('a',)]", "(1,)") },
  { why: "field of four items", text: D("[('a', '<f4', (2,), 1)]", "(1,)") },
  { why: "field name an int", text: D("[(1, '<f4')]", "(1,)") },
  { why: "duplicate field", text: D("[('a', '<f4'), ('a', '<f4')]", "(1,)") },
  { why: "double comma", text: D("'<f4'").replace(", }", ",, }") },
  { why: "missing comma", text: "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}" },
  { why: "missing comma in tuple", text: D("'<f4'", "(1 2)") },
  { why: "unterminated string", text: "{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}" },
  { why: "unbalanced", text: D("'<f4'").replace("}", "") },
  { why: "NUL after", text: D("'<f4'") + "\0" },
  { why: "a name", text: D("float32") },
  { why: "a call", text: D("'<f4'", "tuple([2])") },
  { why: "text after the dict", text: D("'<f4'") + " x" },
  { why: "line continuation at the end", text: D("'<f4'") + " \\\n" },
  { why: "version 1.1", text: D("'<f4'"), version: [1, 1] },
  { why: "version 4", text: D("'<f4'"), version: [4, 0] },
  { why: "header length past the file", text: D("'<f4'"), lengthField: 4000, data: 0 },
  { why: "header length cuts the dict", text: D("'<f4'"), lengthField: 30 },
  { why: "version 3 not UTF-8", text: D("[('\xe9', '<f4')]", "(1,)"), version: [3, 0] },
  { why: "data too short", text: D("'<f4'", "(20,)"), data: 64 },
  { why: "Python 2 long in version 3", text: D("'<f4'", "(2L,)"), version: [3, 0] },
];

function caseBytes(c: HeaderCase): Uint8Array {
  const [major, minor] = c.version ?? [1, 0];
  const text = c.text ?? "";
  const body = major === 3 && !c.why.includes("not UTF-8")
    ? new TextEncoder().encode(text)
    : Uint8Array.from(text, (ch) => ch.charCodeAt(0) & 0xff);
  const pre = major === 1 ? 10 : 12;
  const out = new Uint8Array(pre + body.length + (c.data ?? 64));
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, minor]);
  const dv = new DataView(out.buffer);
  const len = c.lengthField ?? body.length;
  if (major === 1) dv.setUint16(8, len, true);
  else dv.setUint32(8, len, true);
  out.set(body, pre);
  return out;
}

/** Whether this reader accepts a file: plain arrays are decoded, structured ones opened. */
async function weAccept(path: string, bytes: Uint8Array): Promise<string> {
  try {
    const h = parseNpyHeader(bytes, path);
    if (h.scalar !== null) decodePlainNpy(bytes, path);
    else (await StructuredNpyReader.open(path)).close();
    return "ok";
  } catch (err) {
    if (!(err instanceof InspectorError) || err.message.includes("\n")) return `crash: ${err}`;
    return `rejected: ${err.message}`;
  }
}

Deno.test("npy: the header parser accepts what np.load accepts and rejects what it rejects", async () => {
  const dir = tempDir("fi_headers_");
  try {
    const paths = HEADER_CASES.map((c, k) => {
      const p = join(dir, `case${k}.npy`);
      Deno.writeFileSync(p, caseBytes(c));
      return p;
    });
    const ours = await Promise.all(paths.map((p) => weAccept(p, Deno.readFileSync(p))));
    if (!haveNumpy()) return skip("python3 with numpy is not available");
    const numpy = await python(
      "import json,sys,warnings,numpy as np\nwarnings.simplefilter('ignore')\nout=[]\n" +
        "for p in sys.argv[1:]:\n  try:\n    np.load(p); out.append('ok')\n" +
        "  except Exception as e: out.append('rejected: %s' % type(e).__name__)\n" +
        "print(json.dumps(out))",
      paths,
    ) as string[];
    const wrong = HEADER_CASES.map((c, k) => ({ why: c.why, numpy: numpy[k], ours: ours[k] }))
      .filter((r) => (r.numpy === "ok") !== (r.ours === "ok") || r.ours.startsWith("crash"));
    assert.deepEqual(wrong, []);
    // The list holds both kinds.
    assert.ok(numpy.filter((v) => v === "ok").length >= 15);
    assert.ok(numpy.filter((v) => v !== "ok").length >= 30);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("npy: a field shape that is not a tuple is a clean error, not a TypeError", () => {
  const bytes = caseBytes({ why: "", text: D("[('a', '<f4', 'x')]", "(1,)") });
  assert.throws(
    () => parseNpyHeader(bytes, "f.npy"),
    (e: Error) => e instanceof InspectorError && /f\.npy: invalid \.npy header/.test(e.message),
  );
});

// ---------------------------------------------------------------------------------------------
// Item 11: negative flag values

Deno.test("cli: a negative flag value reaches the flag's own check", () => {
  const size = flag.int({ metavar: "N", help: [], min: 1 });
  const flags = { size: { type: "string" as const }, name: { type: "string" as const } };
  for (const args of [["--size", "-5"], ["--size=-5"]]) {
    const r = parseCli(args, { flags });
    assert.throws(
      () => size.parse(r.values.size, "--size"),
      (e: Error) =>
        e instanceof InspectorError && e.message === "--size -5: expected a whole number >= 1",
    );
  }
  assert.throws(
    () => parseCli(["--name", "-x"], { flags }),
    (e: Error) =>
      e instanceof InspectorError &&
      /^--name -x: a value that starts with '-' is written --name=-x/.test(e.message) &&
      !/ambiguous/.test(e.message),
  );
});

Deno.test("cli: inspect --size -5 is the usual one-line flag error", async () => {
  const r = await runScript("scripts/inspect.ts", ["--size", "-5"], { permissions: ["-A"] });
  assert.notEqual(r.code, 0);
  assert.equal(r.stderr.trim(), "error: --size -5: expected a whole number >= 8");
});
