/**
 * The library's entry points (deno.json `exports`): each sub-path loads only what its job needs,
 * so that reading a `.npy` does not start onnxruntime or vega. Checked on Deno's own module graph
 * (`deno info --json`), following the static imports (what `import` evaluates).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "./helpers.ts";

const config = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json"))) as {
  exports: Record<string, string>;
};

/** The npm packages in the module graph of `entry` (relative to the root). */
function npmPackagesOf(entry: string): string[] {
  const r = new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", join(ROOT, entry)],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  const info = JSON.parse(new TextDecoder().decode(r.stdout)) as {
    roots: string[];
    modules: {
      specifier: string;
      dependencies?: {
        code?: { specifier: string };
        type?: { specifier: string };
        isDynamic?: boolean;
      }[];
    }[];
    redirects: Record<string, string>;
  };
  // Walk the static imports only (what `import` evaluates; a dynamic `import()` loads on use).
  // npm packages appear as modules `npm:/name@version[/path]`.
  const byUrl = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const todo = [...info.roots];
  while (todo.length) {
    const url = todo.pop()!;
    const target = info.redirects[url] ?? url;
    if (seen.has(target)) continue;
    seen.add(target);
    for (const d of byUrl.get(target)?.dependencies ?? []) {
      if (d.isDynamic) continue;
      const next = d.code?.specifier;
      if (next) todo.push(next); // type-only imports load nothing
    }
  }
  const names = [...seen].filter((s) => s.startsWith("npm:/"))
    .map((s) => s.slice(5).match(/^(@[^/]+\/[^@/]+|[^@/]+)/)![1]);
  return [...new Set(names)].sort();
}

/** Heavy packages each entry point may load (anything else in this list is a leak). */
const HEAVY = ["onnxruntime-web", "onnxruntime-node", "vega", "@resvg/resvg-wasm", "onnx-proto"];
const ALLOWED: Record<string, string[]> = {
  ".": HEAVY,
  "./core": [],
  "./npy": [],
  "./stats": [],
  "./inspector": ["onnxruntime-web", "onnxruntime-node", "onnx-proto"],
  "./analysis": ["vega", "@resvg/resvg-wasm"],
  "./compare": ["vega", "@resvg/resvg-wasm"],
  "./render": ["vega", "@resvg/resvg-wasm"],
};

Deno.test("exports: every sub-path is declared, exists and has an allowance", () => {
  assert.deepEqual(Object.keys(config.exports).sort(), Object.keys(ALLOWED).sort());
  for (const path of Object.values(config.exports)) {
    assert.ok(Deno.statSync(join(ROOT, path)).isFile, path);
  }
});

for (const [sub, path] of Object.entries(config.exports)) {
  Deno.test(`exports: ${sub} (${path}) loads only what it needs`, () => {
    const heavy = npmPackagesOf(path).filter((p) => HEAVY.includes(p));
    const leaked = heavy.filter((p) => !(ALLOWED[sub] ?? []).includes(p));
    assert.deepEqual(leaked, [], `${sub} pulls in ${leaked.join(", ")}`);
  });
}

Deno.test("exports: the graph walk sees the heavy packages where they are", () => {
  // The checks above would pass on an empty graph: the root entry must show vega and onnx-proto
  // (imported statically), ./npy must show none, and onnxruntime loads only on use (dynamic).
  const all = npmPackagesOf(config.exports["."]);
  for (const p of ["onnx-proto", "vega", "@resvg/resvg-wasm"]) {
    assert.ok(all.includes(p), `mod.ts graph lacks ${p}: ${all.join(", ")}`);
  }
  assert.ok(!all.includes("onnxruntime-web"), "onnxruntime-web is imported statically again");
  assert.deepEqual(npmPackagesOf(config.exports["./npy"]), []);
});

/** Every `npm:` specifier in the code (tests and docs included), by package name. */
function npmSpecifiers(): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  const walk = (dir: string): void => {
    for (const e of Deno.readDirSync(dir)) {
      if (e.name.startsWith(".") || ["node_modules", "out", "dist"].includes(e.name)) continue;
      const path = join(dir, e.name);
      if (e.isDirectory) walk(path);
      else if (e.name.endsWith(".ts") || e.name.endsWith(".md")) {
        for (
          const m of Deno.readTextFileSync(path).matchAll(
            /["'`]npm:(@?[^@"'`/]+(?:\/[^@"'`/]+)?)@([^/"'`]+)/g,
          )
        ) {
          const name = m[1].startsWith("@") ? m[1] : m[1].split("/")[0];
          if (!found.has(name)) found.set(name, new Set());
          found.get(name)!.add(m[2]);
        }
      }
    }
  };
  walk(ROOT);
  return found;
}

Deno.test("exports: the library imports self-contained npm: specifiers, one version per package", () => {
  // No import map: a script anywhere can import mod.ts by path or URL without --config.
  assert.equal(
    (config as { imports?: unknown }).imports,
    undefined,
    "deno.json has an import map again",
  );
  const specs = npmSpecifiers();
  for (
    const p of ["onnxruntime-web", "onnxruntime-node", "onnx-proto", "vega", "@resvg/resvg-wasm"]
  ) {
    assert.ok(specs.has(p), `no npm:${p}@... import found`);
  }
  const mixed = [...specs].filter(([, v]) => v.size > 1).map(([k, v]) =>
    `${k}: ${[...v].join(", ")}`
  );
  assert.deepEqual(mixed, [], "one version per package");
});
