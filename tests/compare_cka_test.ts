/**
 * `compare --matrix` and `compare run1 run2 run3`: the examples-axis CKA matrix and the series
 * drift against NumPy (unbiased HSIC in matrix form, the structured `.npy` read by `np.load`),
 * the diagonal of A vs A, the CSV files, the PNGs, and the CLI.
 */
import assert from "node:assert/strict";
import { compareFeatures } from "../compare/compare.ts";
import { compareSeries } from "../compare/compare_series.ts";
import { StructuredNpyWriter } from "../core/npy.ts";
import { haveNumpy, prng, python, ROOT, runScript, skip, tempDir } from "./helpers.ts";

const GRID: [number, number] = [2, 6]; // 12 examples
const SHAPES: Record<string, number[]> = { conv1: [3, 4, 4], layer1: [5, 2, 2], fc: [7] };

/** A synthetic run: conv1 random, layer1 and fc nonlinear functions of it plus `noise`. */
async function writeRun(path: string, seed: number, noise: number, fcWidth = 7): Promise<void> {
  const base = prng(1), rnd = prng(seed);
  const n = GRID[0] * GRID[1];
  const w = await StructuredNpyWriter.create(path, {
    shape: GRID,
    fields: Object.entries(SHAPES).map(([name, shape]) => ({
      name,
      scalar: "f4",
      shape: name === "fc" ? [fcWidth] : shape,
    })),
  });
  const conv: Float32Array[] = [];
  for (let r = 0; r < n; r++) {
    conv.push(Float32Array.from({ length: 48 }, () => base() * 2 - 1 + noise * (rnd() - 0.5)));
  }
  for (let r = 0; r < n; r++) {
    const x = conv[r];
    await w.writeField("conv1", r, x);
    await w.writeField(
      "layer1",
      r,
      Float32Array.from({ length: 20 }, (_, i) => Math.tanh(x[i] * x[i + 20] + noise * rnd())),
    );
    await w.writeField(
      "fc",
      r,
      Float32Array.from(
        { length: fcWidth },
        (_, i) => Math.max(0, x[i] - x[47 - i]) + noise * rnd(),
      ),
    );
  }
  await w.commit();
}

/** NumPy linear CKA, unbiased HSIC, over `nb` near-equal minibatches of the examples. */
const NUMPY_CKA = `
import json, sys, numpy as np
def hsic(K, L):
    n = K.shape[0]
    K = K.copy(); L = L.copy(); np.fill_diagonal(K, 0); np.fill_diagonal(L, 0)
    one = np.ones(n)
    return (np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * (one @ K @ L @ one)) / (n * (n - 3))
def cka(X, Y, nb):
    n = X.shape[0]; xy = xx = yy = 0.0
    for i in range(nb):
        s, e = (i * n) // nb, ((i + 1) * n) // nb
        K = X[s:e] @ X[s:e].T; L = Y[s:e] @ Y[s:e].T
        xy += hsic(K, L); xx += hsic(K, K); yy += hsic(L, L)
    return xy / np.sqrt(xx * yy)
def flat(a, l):
    return a[l].astype(np.float64).reshape(a.shape[0] * a.shape[1], -1)
`;

Deno.test("compare --matrix: CKA of every layer pair equals NumPy; A vs A has diagonal 1", async () => {
  if (!haveNumpy()) return skip("python3 with numpy not available");
  const dir = tempDir();
  try {
    await writeRun(`${dir}/a.npy`, 2, 0.3);
    await writeRun(`${dir}/b.npy`, 3, 1.0);
    for (const batchSize of [256, 8]) {
      const save = `${dir}/cmp${batchSize}`;
      const cmp = await compareFeatures(`${dir}/a.npy`, `${dir}/b.npy`, {
        saveDir: save,
        matrix: true,
        ckaBatchSize: batchSize,
      });
      const m = cmp.cka_matrix!;
      const nb = batchSize === 8 ? 2 : 1;
      assert.equal(m.minibatches, nb);
      assert.equal(m.examples, 12);
      assert.deepEqual(m.rows, ["conv1", "layer1", "fc"]);
      const ref = await python(
        NUMPY_CKA + `
a = np.load(sys.argv[1]); b = np.load(sys.argv[2]); L = ["conv1", "layer1", "fc"]
print(json.dumps([[cka(flat(a, r), flat(b, c), ${nb}) for c in L] for r in L]))`,
        [`${dir}/a.npy`, `${dir}/b.npy`],
      ) as number[][];
      let worst = 0;
      ref.forEach((row, i) =>
        row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - m.values[i][j]!))))
      );
      console.log(`  batch ${batchSize}: max |CKA - numpy| = ${worst.toExponential(2)}`, ref[0]);
      assert.ok(worst < 1e-9, `max diff ${worst}`);
      // CSV: rows A layers, columns B layers, the same numbers.
      const csv = Deno.readTextFileSync(`${save}/cka_matrix.csv`).trim().split("\n");
      assert.equal(csv[0], "layer,conv1,layer1,fc");
      assert.equal(csv.length, 4);
      const cells = csv[2].split(",");
      assert.equal(cells[0], "layer1");
      assert.ok(Math.abs(Number(cells[3]) - ref[1][2]) < 1e-9);
      const png = Deno.readFileSync(`${save}/cka_matrix.png`);
      assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
      const json = JSON.parse(Deno.readTextFileSync(`${save}/comparison.json`));
      assert.deepEqual(json.cka_matrix.values, m.values);
      assert.ok(json.files.includes("cka_matrix.csv") && json.files.includes("cka_matrix.png"));
    }
    // A against itself: diagonal 1, symmetric.
    const self = await compareFeatures(`${dir}/a.npy`, `${dir}/a.npy`, {
      matrix: true,
      write: false,
    });
    const v = self.cka_matrix!.values;
    for (let i = 0; i < 3; i++) {
      assert.ok(Math.abs(v[i][i]! - 1) < 1e-12, `diagonal ${i}: ${v[i][i]}`);
      for (let j = 0; j < 3; j++) assert.ok(Math.abs(v[i][j]! - v[j][i]!) < 1e-12);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("compare run1 run2 run3: series CSV equals NumPy CKA and rel L2", async () => {
  if (!haveNumpy()) return skip("python3 with numpy not available");
  const dir = tempDir();
  try {
    const paths = [0, 1, 2].map((i) => `${dir}/e${i}/features.npy`);
    for (const [i, noise] of [0.2, 0.6, 1.5].entries()) {
      Deno.mkdirSync(`${dir}/e${i}`);
      await writeRun(paths[i], 10 + i, noise);
    }
    const s = await compareSeries(paths, { saveDir: `${dir}/out` });
    assert.deepEqual(s.layer_order, ["conv1", "layer1", "fc"]);
    assert.deepEqual(s.names, ["e0/features", "e1/features", "e2/features"]);
    const ref = await python(
      NUMPY_CKA + `
runs = [np.load(p) for p in sys.argv[1:]]; L = ["conv1", "layer1", "fc"]; out = []
rel = lambda x, r: float(np.linalg.norm(x - r) / np.linalg.norm(r))
for i, a in enumerate(runs):
    for l in L:
        x = flat(a, l); last = flat(runs[-1], l); prev = flat(runs[i - 1], l) if i else None
        out.append([i, l, cka(x, prev, 1) if i else None, rel(x, prev) if i else None,
                    cka(x, last, 1), rel(x, last)])
print(json.dumps(out))`,
      paths,
    ) as [number, string, number | null, number | null, number, number][];
    const csv = Deno.readTextFileSync(`${dir}/out/series.csv`).trim().split("\n");
    assert.equal(csv[0], "run,path,layer,cka_prev,rel_l2_prev,cka_last,rel_l2_last");
    assert.equal(csv.length, 1 + ref.length);
    let worst = 0;
    ref.forEach((r, k) => {
      const c = csv[k + 1].split(",");
      assert.equal(Number(c[0]), r[0]);
      assert.equal(c[2], r[1]);
      for (const [col, want] of [[3, r[2]], [4, r[3]], [5, r[4]], [6, r[5]]] as const) {
        if (want === null) assert.equal(c[col], "");
        else worst = Math.max(worst, Math.abs(Number(c[col]) - want));
      }
    });
    console.log(`  series: max |csv - numpy| = ${worst.toExponential(2)}`, csv[4]);
    assert.ok(worst < 1e-6, `max diff ${worst}`);
    // The last run against itself: CKA 1, rel L2 0.
    const last = s.rows.filter((r) => r.run === 2);
    for (const r of last) assert.ok(Math.abs(r.cka_last! - 1) < 1e-12 && r.rel_l2_last === 0);
    const png = Deno.readFileSync(`${dir}/out/series.png`);
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
    assert.deepEqual(JSON.parse(Deno.readTextFileSync(`${dir}/out/series.json`)).files, [
      "series.json",
      "series.csv",
      "series.png",
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("compare CLI: --matrix with one run folder, series of three, and the errors", async () => {
  const dir = tempDir();
  try {
    for (const i of [0, 1, 2]) {
      Deno.mkdirSync(`${dir}/e${i}`);
      await writeRun(`${dir}/e${i}/features.npy`, 20 + i, 0.5);
    }
    const perms = ["--allow-read", "--allow-write", "--allow-env"];
    const one = await runScript("scripts/compare.ts", [
      `${dir}/e0`,
      "--matrix",
      "--save_dir",
      `${dir}/m`,
      "--quiet",
    ], { permissions: perms, cwd: ROOT });
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /linear CKA over 12 examples/);
    assert.match(
      Deno.readTextFileSync(`${dir}/m/cka_matrix.csv`),
      /^layer,conv1,layer1,fc\nconv1,1,/,
    );
    const series = await runScript("scripts/compare.ts", [
      `${dir}/e0`,
      `${dir}/e1/features.json`,
      `${dir}/e2/features.npy`,
      "--save_dir",
      `${dir}/s`,
      "--quiet",
    ], { permissions: perms });
    assert.equal(series.code, 0, series.stderr);
    assert.match(series.stdout, /cka_prev/);
    assert.ok(Deno.statSync(`${dir}/s/series.png`).isFile);
    const lone = await runScript("scripts/compare.ts", [`${dir}/e0/features.npy`], {
      permissions: perms,
    });
    assert.notEqual(lone.code, 0);
    assert.match(lone.stderr, /--matrix/);
    const three = await runScript("scripts/compare.ts", [
      `${dir}/e0`,
      `${dir}/e1`,
      `${dir}/e2`,
      "--matrix",
    ], { permissions: perms });
    assert.notEqual(three.code, 0);
    assert.match(three.stderr, /--matrix takes one or two runs/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("compare --matrix on fixture outputs (inspect of the bundled model) equals NumPy", async () => {
  if (!haveNumpy()) return skip("python3 with numpy not available");
  const dir = tempDir();
  try {
    const perms = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi"];
    const ins = await runScript("scripts/inspect.ts", [
      "--timestep",
      "all",
      "--ep",
      "wasm",
      "--layers",
      "conv1",
      "relu",
      "layer1",
      "layer2",
      "layer3",
      "layer4",
      "--grid_channels",
      "0",
      "--save_dir",
      `${dir}/run`,
    ], { permissions: perms });
    assert.equal(ins.code, 0, `inspect failed: ${ins.stderr}`);
    const npy = [...Deno.readDirSync(`${dir}/run`)].find((e) => e.name.endsWith(".npy"))!.name;
    const cmp = await compareFeatures(`${dir}/run/${npy}`, `${dir}/run/${npy}`, {
      matrix: true,
      saveDir: `${dir}/m`,
    });
    const m = cmp.cka_matrix!;
    assert.ok(m.examples >= 4);
    const ref = await python(
      NUMPY_CKA + `
a = np.load(sys.argv[1]); L = json.loads(sys.argv[2])
print(json.dumps([[cka(flat(a, r), flat(a, c), 1) for c in L] for r in L]))`,
      [`${dir}/run/${npy}`, JSON.stringify(m.rows)],
    ) as number[][];
    let worst = 0;
    ref.forEach((row, i) =>
      row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - m.values[i][j]!))))
    );
    console.log(`  fixture ${m.rows.join(",")} x ${m.examples} frames: max diff ${worst}`);
    console.log(`  relu row: ${m.values[1].map((v) => v!.toFixed(4)).join(" ")}`);
    assert.ok(worst < 1e-9, `max diff ${worst}`);
    m.rows.forEach((_, i) => assert.ok(Math.abs(m.values[i][i]! - 1) < 1e-12));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("series: a layer of another width keeps CKA, rel L2 null, with a note", async () => {
  const dir = tempDir();
  try {
    const paths = [0, 1, 2].map((i) => `${dir}/r${i}.npy`);
    for (const i of [0, 1, 2]) await writeRun(paths[i], 30 + i, 0.4, i === 2 ? 9 : 7);
    const s = await compareSeries(paths, { write: false, layers: ["fc", "conv1"] });
    assert.deepEqual(s.layer_order, ["conv1", "fc"]);
    const fc1 = s.rows.find((r) => r.run === 1 && r.layer === "fc")!;
    assert.ok(fc1.rel_l2_prev !== null && fc1.rel_l2_last === null);
    assert.ok(fc1.cka_last !== null && fc1.cka_last > -1 && fc1.cka_last <= 1);
    assert.match(s.notes.join("\n"), /fc: shape 7 in .* vs 9 in .*rel L2 is null/);
    await assert.rejects(
      compareSeries(paths, { write: false, layers: ["nope"] }),
      /--layers 'nope' is not in/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
