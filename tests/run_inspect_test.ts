import assert from "node:assert/strict";
import { join } from "node:path";
import { runInspect } from "../inspector/run_inspect.ts";
import { InspectorError } from "../core/errors.ts";
import { encodePlainNpy } from "../core/npy.ts";
import { loadClips } from "../inspector/clips.ts";
import { decodeImage } from "../inspector/image_io.ts";
import { featureGridLayout } from "../render/grid_layout.ts";

/** Entries of a folder, or [] when it does not exist. */
function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

const BASE = { size: 32, maxLen: 2, batchSize: 2, ep: "wasm", threads: 1 } as const;

async function expectInspectError(
  options: Parameters<typeof runInspect>[0],
  pattern: RegExp,
): Promise<void> {
  await assert.rejects(runInspect(options), (e: unknown) => {
    assert.ok(e instanceof InspectorError, `expected an InspectorError, got ${e}`);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("runInspect: clips and the same batch as .npy give the same features and files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const save = join(dir, "out");
    const r = await runInspect({ ...BASE, saveDir: save, layers: ["layer1"], timestep: "1" });
    assert.ok(r.timings.load_data > 0 && r.timings.session > 0);
    // Frames other than (0, 0) name the files: another timestep into this folder keeps its own.
    assert.deepEqual(listDir(save), ["features_t1.json", "features_t1.npy", "layer1_b0_t1.png"]);
    // The manifest describes the batch that was loaded, and the input equals loadClips' own.
    const m = JSON.parse(await Deno.readTextFile(r.json));
    assert.deepEqual(m.data.input_shape, [2, 2, 3, 32, 32]);
    const clips = await loadClips("fixture", { batchSize: 2, maxLen: 2, size: 32 });
    assert.deepEqual(m.data.clips.map((c: { id: string }) => c.id), clips.clips.map((c) => c.id));
    const again = await runInspect({
      ...BASE,
      saveDir: join(dir, "again"),
      layers: ["layer1"],
      timestep: "1",
      input: [await writeInput(dir, clips.data, clips.shape)],
    });
    assert.deepEqual(
      again.extraction.layers[0].frames[0][0],
      r.extraction.layers[0].frames[0][0],
      "clips and the same batch as .npy give the same features",
    );
    // The clip run's grid shows the input frame (thumbnail row under the colour bar, file in
    // the title); the .npy run has no frame file, so no thumbnail row.
    const sf = m.data.saved_frames[0][0];
    const frame = decodeImage(await Deno.readFile(join(m.data.clips[0].dir, sf.file)));
    const shape: [number, number, number] = [
      r.extraction.layers[0].layout.frameShape[0],
      r.extraction.layers[0].layout.frameShape.at(-2)!,
      r.extraction.layers[0].layout.frameShape.at(-1)!,
    ];
    const withFrame = featureGridLayout(shape, { title: "t", frame: { image: frame } });
    const plain = featureGridLayout(shape, { title: "t" });
    const grid = decodeImage(await Deno.readFile(join(save, "layer1_b0_t1.png")));
    const gridNpy = decodeImage(await Deno.readFile(join(dir, "again", "layer1_b0_t1.png")));
    assert.equal(grid.height, withFrame.height * 2);
    assert.equal(gridNpy.height, plain.height * 2);
    const th = withFrame.thumbnail!;
    const o = 4 *
      (Math.round((th.y + th.height / 2) * 2) * grid.width + Math.round((th.x + th.width / 2) * 2));
    assert.notDeepEqual([...grid.data.subarray(o, o + 3)], [255, 255, 255], "thumbnail drawn");
    assert.match(sf.file, /\.(png|jpe?g)$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function writeInput(
  dir: string,
  data: Float32Array,
  shape: readonly number[],
): Promise<string> {
  const path = join(dir, "input.npy");
  await Deno.writeFile(path, encodePlainNpy(data, [...shape]));
  return path;
}

Deno.test("runInspect: a data error wins over a session error, and nothing is left behind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const save = join(dir, "out");
    // Both fail: the clips folder is missing and no layer resolves. The data error comes first.
    await expectInspectError(
      { ...BASE, dset: join(dir, "missing"), layers: ["no_such_layer"], saveDir: save },
      /missing|not found|does not exist/i,
    );
    assert.deepEqual(listDir(dir), []);
    // Only the session fails: its error, and the output folder it would have used is gone.
    await expectInspectError(
      { ...BASE, layers: ["no_such_layer"], saveDir: save },
      /none of the requested layers resolved/,
    );
    assert.deepEqual(listDir(dir), []);
    // The data loads, the target is out of range: that error, with the session closed.
    await expectInspectError(
      { ...BASE, batchIdx: "5", saveDir: save },
      /options\.batchIdx 5 is out of range/,
    );
    await expectInspectError(
      { ...BASE, batchIdx: "5", layers: ["no_such_layer"], saveDir: save },
      /options\.batchIdx 5 is out of range/,
    );
    assert.deepEqual(listDir(dir), []);
    // A save dir that is a file: its error, after the data and before the session.
    await Deno.writeTextFile(join(dir, "file"), "x");
    await expectInspectError(
      { ...BASE, layers: ["no_such_layer"], saveDir: join(dir, "file") },
      /not a folder/,
    );
    assert.deepEqual(listDir(dir), ["file"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
