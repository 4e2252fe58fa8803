// Saliency metrics and minibatch CKA against NumPy written from the published definitions, and
// against chance (shuffled fixations).
import assert from "node:assert/strict";
import { aucJudd, cc, fixationMap, nss, sim } from "../stats/saliency.ts";
import { addCkaBatch, ckaValue, emptyCka, mergeCka } from "../stats/cka.ts";
import { prng } from "../stats/prng.ts";
import { haveNumpy, python, skip } from "./helpers.ts";

const W = 24, H = 16;

function scene(seed: number, r: () => number = prng(seed)) {
  const fx = Math.floor(r() * W), fy = Math.floor(r() * H);
  const map = new Float64Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      map[y * W + x] = Math.exp(-((x - fx) ** 2 + (y - fy) ** 2) / 8) + 0.2 * r();
    }
  }
  return { map, fix: [{ x: fx, y: fy }, { x: Math.floor(r() * W), y: Math.floor(r() * H) }] };
}

const PY_SAL = `
import json, sys, numpy as np
d = json.loads(sys.stdin.read()) if False else json.loads(sys.argv[1])
W, H, s = d["w"], d["h"], d["sigma"]
m = np.array(d["map"]).reshape(H, W)
fx = [(f["y"], f["x"]) for f in d["fix"]]
z = (m - m.mean()) / m.std()
nss = float(np.mean([z[p] for p in fx]))
# AUC-Judd (Judd et al. 2009 / MIT benchmark code)
fm = np.zeros((H, W), bool)
for p in fx: fm[p] = True
sal = m.ravel(); th = np.sort(np.array([m[p] for p in fx]))[::-1]
nf, npx = len(th), sal.size
tp = [0.0]; fp = [0.0]
for i, t in enumerate(th):
    above = (sal >= t).sum()
    tp.append((i + 1) / nf); fp.append((above - i - 1) / (npx - nf))
tp.append(1.0); fp.append(1.0)
auc = float(np.trapz(tp, fp)) if hasattr(np, "trapz") else float(np.trapezoid(tp, fp))
# Gaussian fixation map, truncated at ceil(3 sigma), zero padding
r = int(np.ceil(3 * s)); k = np.exp(-(np.arange(-r, r + 1) ** 2) / (2 * s * s))
src = np.zeros((H, W))
for p in fx: src[p] += 1
t1 = np.array([np.convolve(row, k, mode="full")[r:r + W] for row in src])
g = np.array([np.convolve(col, k, mode="full")[r:r + H] for col in t1.T]).T
cc = float(np.corrcoef(m.ravel(), g.ravel())[0, 1])
a = m - m.min(); a = a / a.sum(); b = g - g.min(); b = b / b.sum()
sim = float(np.minimum(a, b).sum())
print(json.dumps({"nss": nss, "auc": auc, "cc": cc, "sim": sim}))
`;

Deno.test("saliency metrics match NumPy from the benchmark definitions", async () => {
  if (!haveNumpy()) return skip("python3 with numpy not available");
  for (const seed of [1, 2, 3]) {
    const { map, fix } = scene(seed);
    const sigma = 2.5;
    const ref = await python(PY_SAL, [
      JSON.stringify({ w: W, h: H, sigma, map: [...map], fix }),
    ]) as Record<
      string,
      number
    >;
    const g = fixationMap(W, H, fix, { sigma });
    assert.ok(Math.abs(nss(map, W, H, fix)! - ref.nss) < 1e-9);
    assert.ok(Math.abs(aucJudd(map, W, H, fix)! - ref.auc) < 1e-9);
    assert.ok(Math.abs(cc(map, g)! - ref.cc) < 1e-9);
    assert.ok(Math.abs(sim(map, g)! - ref.sim) < 1e-9);
  }
});

Deno.test("a map that follows the gaze beats shuffled gaze (chance)", () => {
  const stream = prng(99);
  const frames = Array.from({ length: 40 }, () => scene(0, stream));
  let nA = 0, nS = 0, aA = 0, aS = 0;
  for (let i = 0; i < frames.length; i++) {
    const own = frames[i].fix.slice(0, 1), other = frames[(i + 7) % frames.length].fix.slice(0, 1);
    nA += nss(frames[i].map, W, H, own)! / frames.length;
    nS += nss(frames[i].map, W, H, other)! / frames.length;
    aA += aucJudd(frames[i].map, W, H, own)! / frames.length;
    aS += aucJudd(frames[i].map, W, H, other)! / frames.length;
  }
  // NSS chance is 0; AUC-Judd with one fixation per frame has chance 0.75 (1 - fp/2, fp uniform).
  assert.ok(nA > 3, `aligned NSS ${nA}`);
  assert.ok(Math.abs(nS) < 0.4, `shuffled NSS ${nS}`);
  assert.ok(aA > 0.99 && Math.abs(aS - 0.75) < 0.1, `AUC aligned ${aA} shuffled ${aS}`);
});

const PY_CKA = `
import json, sys, numpy as np
d = json.loads(sys.argv[1])
def hsic1(K, L):
    n = K.shape[0]; K = K.copy(); L = L.copy(); np.fill_diagonal(K, 0); np.fill_diagonal(L, 0)
    one = np.ones(n)
    return (np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * (one @ K @ L @ one)) / (n * (n - 3))
xy = xx = yy = 0.0
for b in d:
    X = np.array(b["x"]).reshape(-1, b["dx"]); Y = np.array(b["y"]).reshape(-1, b["dy"])
    K, L = X @ X.T, Y @ Y.T
    xy += hsic1(K, L); xx += hsic1(K, K); yy += hsic1(L, L)
print(json.dumps(xy / np.sqrt(xx * yy)))
`;

Deno.test("minibatch CKA (unbiased HSIC) matches NumPy and merges across accumulators", async () => {
  if (!haveNumpy()) return skip("python3 with numpy not available");
  const r = prng(5);
  const batches = Array.from({ length: 4 }, () => {
    const n = 10, dx = 6, dy = 3;
    const x = Array.from({ length: n * dx }, () => r() - 0.5);
    const y = Array.from(
      { length: n * dy },
      (_, i) => x[Math.floor(i / dy) * dx + (i % dy)] + 0.3 * (r() - 0.5),
    );
    return { x, dx, y, dy };
  });
  const ref = await python(PY_CKA, [JSON.stringify(batches)]) as number;
  const all = batches.reduce(addCkaBatch, emptyCka());
  assert.ok(Math.abs(ckaValue(all)! - ref) < 1e-9, `${ckaValue(all)} vs ${ref}`);
  const a = batches.slice(0, 2).reduce(addCkaBatch, emptyCka());
  const b = batches.slice(2).reduce(addCkaBatch, emptyCka());
  assert.ok(Math.abs(ckaValue(mergeCka(a, b))! - ref) < 1e-9);
});
