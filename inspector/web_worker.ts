/**
 * Starting this project's Web Workers safely.
 *
 * Loading onnxruntime-web's WASM build replaces `globalThis.Worker` with `node:worker_threads`'
 * Worker (Emscripten's threads in a Node-like runtime), whose workers neither take `onmessage`
 * nor keep Deno's event loop alive; {@linkcode startWorker} uses the Web Worker constructor as
 * it was when this module loaded. A worker also needs read access to its module: without it
 * (no `--allow-read`) none is started and the caller does the work on its own thread.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

const WebWorker: typeof Worker = globalThis.Worker;

/**
 * Start the module worker at `url`, or return null when it could not load (no read access to
 * its file).
 *
 * @example Usage
 * ```ts
 * import { startWorker } from "./web_worker.ts";
 * const w = startWorker(new URL("data:text/javascript,postMessage(42)"));
 * const got = await new Promise((r) => w!.onmessage = (e) => r(e.data));
 * w!.terminate();
 * console.log(got); // 42
 * ```
 */
export function startWorker(url: URL): Worker | null {
  if (url.protocol === "file:") {
    const state = Deno.permissions.querySync({ name: "read", path: fileURLToPath(url) }).state;
    if (state !== "granted") return null;
  }
  return new WebWorker(url, { type: "module" });
}
