/**
 * The folder layers of docs/architecture.md, enforced: every import points down the stack
 * (scripts -> bench -> reports/extraction -> shaders -> render -> stats -> core), folders of one
 * rank never import each other, and no two files import each other, directly or around a loop.
 *
 * The graph is Deno's own (`deno info --json`: static, type-only and dynamic imports), plus the
 * Web Worker entry points a file starts (`new URL("./x.ts", import.meta.url)`).
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath as fromFileUrl, pathToFileURL as toFileUrl } from "node:url";
import { exists, ROOT } from "./helpers.ts";

/** Rank of each source folder: a file may import only files of a strictly lower rank or its own folder. */
export const LAYERS: Readonly<Record<string, number>> = {
  core: 0,
  stats: 1,
  render: 2,
  shaders: 3,
  inspector: 4,
  analysis: 4,
  compare: 4,
  fixtures: 4,
  bench: 5,
  scripts: 6,
  ".": 7, // mod.ts and the sub-path entry points
};

/** Every `.ts` source file outside `tests/`, relative to the root. */
function sourceFiles(dir = ROOT): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const path = join(dir, e.name);
    const rel = relative(ROOT, path);
    if (e.isDirectory) {
      if (e.name.startsWith(".") || ["tests", "node_modules", "out", "dist"].includes(e.name)) {
        continue;
      }
      out.push(...sourceFiles(path));
    } else if (e.name.endsWith(".ts")) {
      out.push(rel);
    }
  }
  return out.sort();
}

/** The module graph of every source file, as Deno itself resolves it (`deno info --json`). */
function denoGraph(files: string[]): Map<string, string[]> {
  const dir = Deno.makeTempDirSync({ prefix: "arch_" });
  const entry = join(dir, "entry.ts");
  Deno.writeTextFileSync(
    entry,
    files.map((f) => `import "${toFileUrl(join(ROOT, f))}";\n`).join(""),
  );
  const r = new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--config", join(ROOT, "deno.json"), entry],
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  Deno.removeSync(dir, { recursive: true });
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  const info = JSON.parse(new TextDecoder().decode(r.stdout)) as {
    modules: {
      local?: string;
      dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
    }[];
  };
  const graph = new Map<string, string[]>();
  for (const m of info.modules) {
    if (!m.local?.startsWith(ROOT)) continue;
    const file = relative(ROOT, m.local);
    if (!files.includes(file)) continue;
    const deps = (m.dependencies ?? []).flatMap((d) => [d.code?.specifier, d.type?.specifier])
      .filter((s): s is string => s !== undefined && s.startsWith("file:"))
      .map((s) => relative(ROOT, fromFileUrl(s)));
    graph.set(file, [...new Set(deps)]);
  }
  return graph;
}

/** Web Worker entry points a file starts (`new URL("./x.ts", import.meta.url)`): edges Deno's graph lacks. */
export function workerImports(file: string, src: string): string[] {
  return [
    ...src.matchAll(
      /new (?:Worker|URL)\(\s*(?:new URL\(\s*)?["'](\.{1,2}\/[^"']+\.ts)["']\s*,\s*import\.meta\.url/g,
    ),
  ]
    .map((m) => normalize(join(dirname(file), m[1])))
    .filter((dep) => dep !== file);
}

function layerOf(file: string): string {
  const top = file.includes("/") ? file.slice(0, file.indexOf("/")) : ".";
  return top;
}

const FILES = sourceFiles();
const GRAPH = denoGraph(FILES);
for (const f of FILES) {
  const deps = GRAPH.get(f) ?? [];
  GRAPH.set(f, [...new Set([...deps, ...workerImports(f, Deno.readTextFileSync(join(ROOT, f)))])]);
}

Deno.test("architecture: the graph sees static, type-only, dynamic and worker imports", () => {
  assert.ok(GRAPH.get("mod.ts")!.includes("inspector/mod.ts"));
  assert.ok(GRAPH.get("inspector/mod.ts")!.includes("inspector/feature_map_inspector.ts"));
  assert.ok(GRAPH.get("inspector/clips.ts")!.includes("inspector/decode_worker.ts"), "worker edge");
  assert.deepEqual(
    workerImports("x/m.ts", `const w = new Worker(new URL("./g.ts", import.meta.url));`),
    ["x/g.ts"],
  );
});

Deno.test("architecture: every source folder has a rank", () => {
  const unranked = [...new Set(FILES.map(layerOf))].filter((l) => !(l in LAYERS));
  assert.deepEqual(unranked, [], `add these folders to LAYERS in tests/architecture_test.ts`);
  // The scan sees the real layout (a broken scanner would pass everything below).
  assert.ok(FILES.length > 60, `only ${FILES.length} source files found`);
  assert.ok(GRAPH.get("mod.ts")!.length > 5, "mod.ts imports nothing?");
});

Deno.test("architecture: every import points down (or stays in its folder)", () => {
  const bad: string[] = [];
  for (const [file, deps] of GRAPH) {
    const from = layerOf(file);
    for (const dep of deps) {
      const to = layerOf(dep);
      if (to === from) continue;
      if (!(LAYERS[to] < LAYERS[from])) {
        bad.push(`${file} -> ${dep} (${from}:${LAYERS[from]} -> ${to}:${LAYERS[to]})`);
      }
    }
  }
  assert.deepEqual(bad, [], "upward or sideways imports");
});

Deno.test("architecture: no import cycles between files", () => {
  const state = new Map<string, 1 | 2>();
  const cycles: string[] = [];
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 1);
    stack.push(f);
    for (const d of GRAPH.get(f) ?? []) {
      if (!GRAPH.has(d)) continue;
      if (state.get(d) === 1) cycles.push([...stack.slice(stack.indexOf(d)), d].join(" -> "));
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of GRAPH.keys()) if (!state.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});

Deno.test("architecture: every import names a file that exists", () => {
  const missing = [...GRAPH].flatMap(([f, ds]) =>
    ds.filter((d) => !exists(join(ROOT, d))).map((d) => `${f} -> ${d}`)
  );
  assert.deepEqual(missing, []);
});
