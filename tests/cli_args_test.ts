/**
 * `runMain`, the wrapper of every CLI: success exits with 0 at once (not when V8 tears the isolate
 * down, which can crash after the work is done), and failures are one line with the error's code.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, tempDir } from "./helpers.ts";

/** Run `body` as the main function of a script under `runMain`; the child is killed after 30 s. */
async function runUnderMain(body: string): Promise<{ code: number; ms: number; stderr: string }> {
  const file = join(tempDir(), "main.ts");
  const cliArgs = new URL("../scripts/cli_args.ts", import.meta.url).href;
  const errors = new URL("../core/errors.ts", import.meta.url).href;
  Deno.writeTextFileSync(
    file,
    `import { runMain } from "${cliArgs}";\n` +
      `import { InspectorError } from "${errors}";\n` +
      `await runMain(async () => { ${body} });\n`,
  );
  const t0 = performance.now();
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", file],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  return {
    code: r.code,
    ms: performance.now() - t0,
    stderr: new TextDecoder().decode(r.stderr),
  };
}

Deno.test("runMain: success exits with 0 at once, without waiting for what is left in the loop", async () => {
  // A 60 s timer keeps the event loop alive: a natural exit would wait for it (and then tear V8
  // down); runMain's explicit exit does not.
  const r = await runUnderMain("setTimeout(() => {}, 60_000); await Promise.resolve();");
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.ms < 25_000, `exited after ${r.ms.toFixed(0)} ms: runMain waited for the timer`);
});

Deno.test("runMain: an InspectorError is one line and its exit code; others exit with 1", async () => {
  const a = await runUnderMain(
    `throw new InspectorError("model x.onnx not found", { exitCode: 3 });`,
  );
  assert.equal(a.code, 3);
  assert.equal(a.stderr.trim(), "error: model x.onnx not found");
  const b = await runUnderMain(`throw new Error("boom");`);
  assert.equal(b.code, 1);
  assert.match(b.stderr, /^error: .*boom/);
});
