/**
 * Planned memory stays under `--memory_budget` or is refused before it is allocated (issue 17,
 * item 1): the input batch and its decode buffers, and the smallest forward pass, are estimated
 * first; an oversized run fails fast with one `error:` line, leaves no save folder, and its peak
 * RSS stays small.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, ROOT } from "./helpers.ts";
import {
  checkInputBudget,
  estimateInputBytes,
  memoryCeiling,
  MIN_CEILING_BYTES,
} from "../inspector/batch_plan.ts";
import { planClips } from "../inspector/clips.ts";
import { InspectorError } from "../core/errors.ts";

const MiB = 2 ** 20;
/** A child past this RSS is killed (so that a regression cannot exhaust the machine). */
const KILL_BYTES = 4e9;

interface Measured {
  code: number;
  stdout: string[];
  stderr: string[];
  /** Peak resident set size of the child, bytes. */
  peakBytes: number;
  /** Wall-clock milliseconds. */
  ms: number;
}

/** VmHWM of a live process, bytes (0 when it is gone). */
function vmHwm(pid: number): number {
  try {
    const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmHWM:\s+(\d+)\s+kB/m);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Run `scripts/inspect.ts` in a child and measure its peak RSS by polling `/proc/<pid>/status`
 * VmHWM every 5 ms (the high-water mark, so nothing between polls is missed but the last few
 * milliseconds); a child past {@linkcode KILL_BYTES} is killed.
 */
async function inspect(args: string[], dir: string): Promise<Measured> {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--v8-flags=--no-wasm-tier-up",
      "--allow-read",
      `--allow-write=${dir}`,
      "--allow-env",
      "--allow-ffi",
      join(ROOT, "scripts", "inspect.ts"),
      ...args,
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let peakBytes = 0;
  const timer = setInterval(() => {
    peakBytes = Math.max(peakBytes, vmHwm(child.pid));
    if (peakBytes > KILL_BYTES) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }
  }, 5);
  const r = await child.output();
  clearInterval(timer);
  const ms = performance.now() - t0;
  const lines = (b: Uint8Array) =>
    new TextDecoder().decode(b).split("\n").filter((l) => l.trim() !== "");
  return { code: r.code, stdout: lines(r.stdout), stderr: lines(r.stderr), peakBytes, ms };
}

/** The save folder is absent or holds nothing. */
function assertNothingLeft(saveDir: string): void {
  if (!exists(saveDir)) return;
  const left = [...Deno.readDirSync(saveDir)].map((e) => e.name);
  assert.deepEqual(left, [], `left in ${saveDir}: ${left.join(", ")}`);
}

function assertOneError(r: Measured, ...want: RegExp[]): string {
  const all = `--- stdout\n${r.stdout.join("\n")}\n--- stderr\n${r.stderr.join("\n")}`;
  assert.notEqual(r.code, 0, all);
  assert.ok(r.code !== 137 && r.code !== 133, `killed (exit ${r.code})\n${all}`);
  const errors = r.stderr.filter((l) => l.startsWith("error:"));
  assert.equal(errors.length, 1, `one error line:\n${all}`);
  assert.equal(r.stderr[r.stderr.length - 1], errors[0], `the error is the last line:\n${all}`);
  for (const w of want) assert.match(errors[0], w);
  assert.doesNotMatch(errors[0], /options\./, "the CLI names flags, not options");
  return errors[0];
}

const GB = 1e9;

Deno.test("memory: --size 20000 is refused at once, before the batch is allocated", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "mem_budget_" });
  try {
    const save = join(dir, "out");
    const r = await inspect(
      [
        "--size",
        "20000",
        "--batch_size",
        "1",
        "--max_len",
        "2",
        "--ep",
        "wasm",
        "--save_dir",
        save,
      ],
      dir,
    );
    const line = assertOneError(
      r,
      /^error: the input batch alone needs 8\.94 GiB \(1 x 2 x 3 x 20000 x 20000 float32\)/,
      /over --memory_budget 1024 MiB/,
      /lower --size or --batch_size\/--max_len, or raise --memory_budget/,
    );
    assertNothingLeft(save);
    console.log(
      `  ${line}\n  peak RSS ${(r.peakBytes / 1e6).toFixed(0)} MB, ${r.ms.toFixed(0)} ms`,
    );
    assert.ok(r.peakBytes > 0, "peak RSS measured");
    assert.ok(r.peakBytes < 1.5 * GB, `peak RSS ${r.peakBytes} bytes`);
    assert.ok(r.ms < 30_000, `took ${r.ms} ms`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("memory: a forward pass over the budget is refused before it runs", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "mem_budget_" });
  try {
    const save = join(dir, "out");
    // 4096x4096: the batch (384 MiB) fits, one frame's activations (over 1 GiB) do not.
    const r = await inspect(
      ["--size", "4096", "--batch_size", "1", "--max_len", "2", "--ep", "wasm", "--save_dir", save],
      dir,
    );
    const line = assertOneError(
      r,
      /^error: the smallest forward pass \(one frame at 4096x4096\) needs about/,
      /over --memory_budget 1024 MiB: lower --size .*or raise --memory_budget$/,
    );
    assertNothingLeft(save);
    console.log(
      `  ${line}\n  peak RSS ${(r.peakBytes / 1e6).toFixed(0)} MB, ${r.ms.toFixed(0)} ms`,
    );
    assert.ok(r.peakBytes > 0 && r.peakBytes < 1.5 * GB, `peak RSS ${r.peakBytes} bytes`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("memory: a run that fits the budget passes", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "mem_budget_" });
  try {
    const save = join(dir, "out");
    const r = await inspect(
      ["--size", "512", "--max_len", "2", "--ep", "wasm", "--save_dir", save],
      dir,
    );
    assert.equal(r.code, 0, r.stderr.join("\n"));
    assert.ok(exists(join(save, "features.npy")) && exists(join(save, "features.json")));
    console.log(`  peak RSS ${(r.peakBytes / 1e6).toFixed(0)} MB, ${r.ms.toFixed(0)} ms`);
    assert.ok(r.peakBytes < 1.5 * GB, `peak RSS ${r.peakBytes} bytes`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("memory: the input estimate and its ceiling", () => {
  assert.equal(memoryCeiling(), 1024 * MiB);
  assert.equal(memoryCeiling(16 * MiB), MIN_CEILING_BYTES);
  assert.equal(memoryCeiling(4096 * MiB), 4096 * MiB);
  const m = estimateInputBytes([2, 8, 3, 512, 512], { workers: 1 });
  assert.equal(m.batch, 2 * 8 * 3 * 512 * 512 * 4);
  // The default run (2 clips x 8 frames at 512) fits the default budget.
  assert.equal(checkInputBudget([2, 8, 3, 512, 512]).batch, m.batch);
  // Several workers join their parts: the batch twice.
  assert.ok(estimateInputBytes([2, 8, 3, 512, 512], { workers: 4 }).decode > m.batch);
  assert.throws(
    () => checkInputBudget([1, 2, 3, 20000, 20000]),
    (err: Error) =>
      err instanceof InspectorError &&
      err.message ===
        "the input batch alone needs 8.94 GiB (1 x 2 x 3 x 20000 x 20000 float32), over " +
          "options.memoryBudgetMiB 1024 MiB: lower options.size or " +
          "options.batchSize/options.maxLen, or raise options.memoryBudgetMiB",
  );
  // A bigger budget lets it through.
  checkInputBudget([1, 2, 3, 20000, 20000], { budgetBytes: 32 * 1024 * MiB });
  // A budget under the floor refuses at the floor.
  assert.throws(
    () => checkInputBudget([2, 8, 3, 2048, 2048], { budgetBytes: 16 * MiB }),
    /over the 256 MiB floor of the memory ceiling \(options\.memoryBudgetMiB 16\)/,
  );
});

Deno.test("memory: planClips refuses an oversized batch before decoding", async () => {
  await assert.rejects(
    planClips("fixture", { batchSize: 1, maxLen: 2, size: 20000, budgetBytes: 1024 * MiB }),
    /the input batch alone needs 8\.94 GiB/,
  );
  const plan = await planClips("fixture", {
    batchSize: 2,
    maxLen: 8,
    size: 512,
    budgetBytes: 1024 * MiB,
  });
  assert.deepEqual(plan.shape, [2, 8, 3, 512, 512]);
});

Deno.test("memory: a feature grid over the ceiling is refused before it is drawn", async () => {
  const { checkGridBudget } = await import("../inspector/batch_plan.ts");
  // 16 tiles of a 4096x4096 map: a 1 GiB canvas plus encoder buffers.
  assert.throws(
    () => checkGridBudget("conv1", [64, 4096, 4096], { channels: 16, budgetBytes: 2 ** 30 }),
    /feature grid of conv1 \(16 tiles of 4096x4096\) needs about 2\.00 GiB.*options\.gridChannels/,
  );
  // The default run's largest grid (8 channels of 256x256, upscaled x1) fits easily.
  checkGridBudget("conv1", [8, 256, 256], { channels: 16 });
  // Small maps are upscaled to ~256 px tiles; still tiny.
  checkGridBudget("layer4", [512, 7, 7], { channels: 16 });
});

Deno.test("names: inspect's grids of layers with one file stem get unique names", async () => {
  const { uniqueFileStems } = await import("../core/file_stem.ts");
  assert.deepEqual(uniqueFileStems(["a/b", "a_b", "a.b", "a b"]), ["a_b", "a_b_2", "a.b", "a_b_3"]);
});
