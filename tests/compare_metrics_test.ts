/**
 * The compare metrics against NumPy on the same arrays (relative 1e-5), CKA against a direct
 * NumPy implementation (Gram form) and against the n x n kernel (HSIC) form, and the edge cases.
 */
import assert from "node:assert/strict";
import {
  cosineSimilarity,
  linearCka,
  linearCkaDetailed,
  maxAbsDiff,
  meanAbsDiff,
  mergePairMoments,
  pairMetrics,
  pairMoments,
  pearsonCorrelation,
  relL2,
} from "../stats/similarity.ts";
import { encodePlainNpy } from "../core/npy.ts";

/** Seeded standard normals (mulberry32 + Box-Muller). */
function normals(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

function close(actual: number | null, expected: number | null, what: string, rel = 1e-5): void {
  assert.ok(actual !== null && expected !== null, `${what}: got ${actual}, numpy ${expected}`);
  const tol = rel * Math.max(Math.abs(expected), 1e-30);
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${what}: ${actual} vs numpy ${expected} (|diff| ${Math.abs(actual - expected)} > ${tol})`,
  );
}

async function hasNumpy(): Promise<boolean> {
  try {
    const out = await new Deno.Command("python3", {
      args: ["-c", "import numpy"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

const NUMPY_SCRIPT = `
import json, sys
import numpy as np
d = sys.argv[1]
cases = json.load(open(d + '/cases.json'))
res = {}
for name, c in cases.items():
    a = np.load(d + '/' + name + '_a.npy').astype(np.float64).ravel()
    b = np.load(d + '/' + name + '_b.npy').astype(np.float64).ravel()
    r = {}
    if c['pointwise']:
        m = np.isfinite(a) & np.isfinite(b)
        x, y = a[m], b[m]
        r['rel_l2'] = float(np.linalg.norm(x - y) / np.linalg.norm(x))
        r['cosine'] = float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y)))
        r['pearson'] = float(np.corrcoef(x, y)[0, 1])
        r['max_abs_diff'] = float(np.max(np.abs(x - y)))
        r['mean_abs_diff'] = float(np.mean(np.abs(x - y)))
    p = c['positions']
    X = a.reshape(-1, p).T
    Y = b.reshape(-1, p).T
    ok = np.isfinite(X).all(1) & np.isfinite(Y).all(1)
    X, Y = X[ok], Y[ok]
    Xc = X - X.mean(0)
    Yc = Y - Y.mean(0)
    r['cka'] = float(np.linalg.norm(Yc.T @ Xc, 'fro') ** 2 /
                     (np.linalg.norm(Xc.T @ Xc, 'fro') * np.linalg.norm(Yc.T @ Yc, 'fro')))
    if X.shape[0] <= 400:
        K = Xc @ Xc.T
        L = Yc @ Yc.T
        r['cka_hsic'] = float((K * L).sum() / (np.linalg.norm(K) * np.linalg.norm(L)))
    res[name] = r
print(json.dumps(res))
`;

interface Case {
  a: Float32Array;
  b: Float32Array;
  shapeA: number[];
  shapeB: number[];
  positions: number;
  pointwise: boolean;
}

function makeCases(): Record<string, Case> {
  const cases: Record<string, Case> = {};
  // Same shape, B = A + small noise.
  {
    const a = normals(16 * 7 * 9, 1);
    const noise = normals(a.length, 2);
    const b = a.map((v, i) => v + 0.1 * noise[i]);
    cases.noisy = { a, b, shapeA: [16, 7, 9], shapeB: [16, 7, 9], positions: 63, pointwise: true };
  }
  // ReLU-like sparse activations with an offset, larger spatial size.
  {
    const a = normals(8 * 40 * 40, 3).map((v) => Math.max(0, v + 0.3));
    const noise = normals(a.length, 4);
    const b = a.map((v, i) => Math.max(0, v + 0.05 * noise[i] + 0.01));
    cases.relu = {
      a,
      b,
      shapeA: [8, 40, 40],
      shapeB: [8, 40, 40],
      positions: 1600,
      pointwise: true,
    };
  }
  // Different channel counts: B = mix of A's channels plus noise (CKA only).
  {
    const ca = 12, cb = 20, p = 10 * 11;
    const a = normals(ca * p, 5);
    const w = normals(cb * ca, 6);
    const noise = normals(cb * p, 7);
    const b = new Float32Array(cb * p);
    for (let i = 0; i < cb; i++) {
      for (let k = 0; k < p; k++) {
        let s = 0;
        for (let j = 0; j < ca; j++) s += w[i * ca + j] * a[j * p + k];
        b[i * p + k] = Math.tanh(s) + 0.5 * noise[i * p + k];
      }
    }
    cases.channels = {
      a,
      b,
      shapeA: [ca, 10, 11],
      shapeB: [cb, 10, 11],
      positions: p,
      pointwise: false,
    };
  }
  // Non-finite values: NaN and Inf in A, -Inf in B.
  {
    const a = normals(6 * 8 * 8, 8);
    const b = normals(a.length, 9).map((v, i) => a[i] * 0.7 + v * 0.3);
    a[5] = NaN;
    a[100] = Infinity;
    b[200] = -Infinity;
    b[5] = NaN;
    cases.nonfinite = {
      a,
      b,
      shapeA: [6, 8, 8],
      shapeB: [6, 8, 8],
      positions: 64,
      pointwise: true,
    };
  }
  // Unrelated arrays.
  {
    const a = normals(4 * 30 * 30, 10).map((v) => v * 3 + 2);
    const b = normals(a.length, 11);
    cases.unrelated = {
      a,
      b,
      shapeA: [4, 30, 30],
      shapeB: [4, 30, 30],
      positions: 900,
      pointwise: true,
    };
  }
  return cases;
}

Deno.test("compare metrics match NumPy (relative 1e-5), CKA vs direct NumPy and HSIC form", async (t) => {
  if (!(await hasNumpy())) {
    console.warn("SKIP: python3 with numpy not found; metric cross-check against NumPy skipped");
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "compare_metrics_" });
  try {
    const cases = makeCases();
    const meta: Record<string, { positions: number; pointwise: boolean }> = {};
    for (const [name, c] of Object.entries(cases)) {
      await Deno.writeFile(`${dir}/${name}_a.npy`, encodePlainNpy(c.a, c.shapeA));
      await Deno.writeFile(`${dir}/${name}_b.npy`, encodePlainNpy(c.b, c.shapeB));
      meta[name] = { positions: c.positions, pointwise: c.pointwise };
    }
    await Deno.writeTextFile(`${dir}/cases.json`, JSON.stringify(meta));
    const out = await new Deno.Command("python3", { args: ["-c", NUMPY_SCRIPT, dir] }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const ref = JSON.parse(new TextDecoder().decode(out.stdout)) as Record<
      string,
      Record<string, number>
    >;
    for (const [name, c] of Object.entries(cases)) {
      await t.step(name, () => {
        const r = ref[name];
        if (c.pointwise) {
          const m = pairMetrics(pairMoments(c.a, c.b));
          close(m.rel_l2, r.rel_l2, `${name} rel_l2`);
          close(m.cosine, r.cosine, `${name} cosine`);
          close(m.pearson, r.pearson, `${name} pearson`);
          close(m.max_abs_diff, r.max_abs_diff, `${name} max_abs_diff`);
          close(m.mean_abs_diff, r.mean_abs_diff, `${name} mean_abs_diff`);
          // The single-metric helpers agree with the moments.
          close(relL2(c.a, c.b), r.rel_l2, `${name} relL2()`);
          close(cosineSimilarity(c.a, c.b), r.cosine, `${name} cosineSimilarity()`);
          close(pearsonCorrelation(c.a, c.b), r.pearson, `${name} pearsonCorrelation()`);
          close(maxAbsDiff(c.a, c.b), r.max_abs_diff, `${name} maxAbsDiff()`);
          close(meanAbsDiff(c.a, c.b), r.mean_abs_diff, `${name} meanAbsDiff()`);
        }
        close(linearCka(c.a, c.b, { positions: c.positions }), r.cka, `${name} cka`);
        if (r.cka_hsic !== undefined) {
          close(linearCka(c.a, c.b, { positions: c.positions }), r.cka_hsic, `${name} cka (HSIC)`);
        }
      });
    }
    // Sanity of the references themselves: the cases are not all trivially similar.
    assert.ok(ref.unrelated.cka < 0.05 && Math.abs(ref.unrelated.pearson) < 0.1);
    assert.ok(ref.noisy.cosine > 0.99 && ref.noisy.rel_l2 > 0.05);
    assert.ok(ref.channels.cka > 0.2 && ref.channels.cka < 0.95);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("identical arrays: rel_l2 0, cosine 1, pearson 1, cka 1, max_abs_diff 0", () => {
  const a = normals(32 * 14 * 14, 21).map((v) => Math.max(v, 0));
  const m = pairMetrics(pairMoments(a, a.slice()));
  assert.equal(m.rel_l2, 0);
  assert.equal(m.max_abs_diff, 0);
  assert.equal(m.mean_abs_diff, 0);
  assert.ok(Math.abs(m.cosine! - 1) < 1e-12);
  assert.ok(Math.abs(m.pearson! - 1) < 1e-12);
  assert.equal(linearCka(a, a.slice(), { positions: 196 }), 1);
  assert.equal(linearCka(a, a, { positions: 196 }), 1);
});

Deno.test("merged frame moments equal the metrics of the concatenated frames", () => {
  const a = normals(3 * 500, 31).map((v) => v + 1);
  const b = normals(3 * 500, 32).map((v, i) => a[i] * 0.9 + v * 0.2 - 0.3);
  const whole = pairMetrics(pairMoments(a, b));
  const merged = pairMetrics(
    mergePairMoments(
      [0, 1, 2].map((f) =>
        pairMoments(a.subarray(f * 500, (f + 1) * 500), b.subarray(f * 500, (f + 1) * 500))
      ),
    ),
  );
  for (const k of ["rel_l2", "cosine", "pearson", "max_abs_diff", "mean_abs_diff"] as const) {
    close(merged[k], whole[k], `merged ${k}`, 1e-12);
  }
});

Deno.test("edge cases: zero-norm A, constant sides, non-finite counts, CKA validity", () => {
  const zeros = new Float32Array(12);
  const b = Float32Array.from({ length: 12 }, (_, i) => i - 3);
  const z = pairMetrics(pairMoments(zeros, b));
  assert.equal(z.rel_l2, null);
  assert.equal(z.cosine, null);
  assert.equal(z.pearson, null);
  assert.equal(z.max_abs_diff, 8);
  assert.ok(z.notes.some((n) => n.includes("||A|| = 0")));

  const constant = new Float32Array(12).fill(2);
  const c = pairMetrics(pairMoments(constant, b));
  assert.ok(c.rel_l2 !== null && c.cosine !== null);
  assert.equal(c.pearson, null);
  assert.ok(c.notes.some((n) => n.includes("pearson undefined")));
  const ck = linearCkaDetailed(constant, b, { positions: 6 });
  assert.equal(ck.cka, null);
  assert.match(ck.note!, /constant/);

  const a = Float32Array.from(b);
  a[2] = NaN;
  const bb = Float32Array.from(b);
  bb[7] = Infinity;
  const nf = pairMetrics(pairMoments(a, bb));
  assert.equal(nf.nonfinite_a, 1);
  assert.equal(nf.nonfinite_b, 1);
  assert.equal(nf.nonfinite_mismatch, 2);
  assert.equal(nf.count, 10);
  assert.equal(nf.rel_l2, 0);
  assert.ok(nf.notes.some((n) => n.includes("non-finite")));
  const nck = linearCkaDetailed(a, bb, { positions: 6 });
  assert.equal(nck.positions, 4);
  assert.match(nck.note!, /2 of 6 positions dropped/);

  assert.throws(() => pairMoments(new Float32Array(3), new Float32Array(4)), RangeError);
  assert.throws(() => linearCka(new Float32Array(10), new Float32Array(12), { positions: 4 }));
});
