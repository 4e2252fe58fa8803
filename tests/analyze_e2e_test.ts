import assert from "node:assert";
import { join } from "node:path";
import type { AnalysisSummary } from "../analysis/analyze.ts";
import { decodeImage } from "../inspector/image_io.ts";
import { exists, ROOT, runScript, skip, tempDir } from "./helpers.ts";

const PERMS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi"];

Deno.test("analyze e2e: inspect the 3D-CNN fixture, then analyze agrees with the manifest", async () => {
  const model = join(ROOT, "fixtures", "r3d_video.onnx");
  if (!exists(model)) {
    skip("fixtures/r3d_video.onnx not found (run deno task fixtures)");
    return;
  }
  const dir = tempDir();
  try {
    const run = join(dir, "run");
    const ins = await runScript("scripts/inspect.ts", [
      "--name",
      "features",
      "--checkpoint",
      model,
      "--size",
      "112",
      "--batch_idx",
      "0,1",
      "--timestep",
      "0,5",
      "--layers",
      "stem",
      "layer2",
      "layer4",
      "--grid_channels",
      "0",
      "--save_dir",
      run,
    ], { permissions: PERMS });
    assert.strictEqual(ins.code, 0, `inspect failed: ${ins.stderr}`);
    const report = join(dir, "report");
    const ana = await runScript("scripts/analyze.ts", [
      join(run, "features.npy"),
      "--save_dir",
      report,
      "--quiet",
    ], { permissions: PERMS });
    assert.strictEqual(ana.code, 0, `analyze failed: ${ana.stderr}`);
    assert.match(ana.stdout, /report: .*index\.html/);

    const summary = JSON.parse(
      await Deno.readTextFile(join(report, "summary.json")),
    ) as AnalysisSummary;
    const manifest = JSON.parse(await Deno.readTextFile(join(run, "features.json"))) as {
      layers: {
        name: string;
        shape: number[];
        stats: Record<string, number | null>;
        channels: Record<string, (number | null)[]>;
      }[];
    };
    assert.deepStrictEqual(summary.records.timestep, [0, 5]);
    assert.deepStrictEqual(Object.keys(summary.layers), manifest.layers.map((l) => l.name));
    // inspect's statistics (over the same saved frames, computed during the forward pass) and
    // analyze's (from the .npy) must agree.
    for (const l of manifest.layers) {
      const s = summary.layers[l.name];
      assert.deepStrictEqual(s.shape, l.shape);
      for (const k of ["mean", "std", "min", "max", "sparsity", "nonfinite"] as const) {
        const a = s[k] as number, b = l.stats[k] as number;
        assert.ok(
          Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b)),
          `${l.name}.${k}: ${a} vs ${b}`,
        );
      }
      for (const k of ["mean", "std", "max", "sparsity"] as const) {
        s.channels[k].forEach((a, c) => {
          const b = l.channels[k][c] as number;
          assert.ok(
            Math.abs((a as number) - b) <= 1e-6 * Math.max(1, Math.abs(b)),
            `${l.name}.channels.${k}[${c}]`,
          );
        });
      }
    }
    // Whole-sequence statistics from the manifest: 2 samples x 8 frames per layer.
    assert.strictEqual(summary.temporal?.points.filter((p) => p.layer === "stem").length, 16);
    for (const f of summary.files.filter((f) => f.endsWith(".png"))) {
      const img = decodeImage(await Deno.readFile(join(report, f)), { name: f });
      assert.ok(img.width > 600 && img.height > 250, `${f}: ${img.width}x${img.height}`);
    }
    const html = await Deno.readTextFile(join(report, "index.html"));
    assert.match(html, /\(B, C, T', H, W\)/, "the layout from the manifest is shown");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
