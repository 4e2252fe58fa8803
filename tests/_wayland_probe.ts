/**
 * Preloaded (`deno run --preload`) into the commands that tests/console_test.ts runs: before every
 * WebGPU adapter request, call libwayland-client's `wl_display_connect(NULL)` (and disconnect),
 * as Mesa's Vulkan device-selection layer does while the adapters are enumerated. So the
 * `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` line that users see on a
 * headless machine with Mesa's Vulkan drivers shows up on any machine that has
 * libwayland-client, whether or not it has a Vulkan driver; without the library this does nothing.
 *
 * @module
 */

const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
let lib:
  | Deno.DynamicLibrary<{
    wl_display_connect: { parameters: ["pointer"]; result: "pointer" };
    wl_display_disconnect: { parameters: ["pointer"]; result: "void" };
  }>
  | null = null;
for (const name of ["libwayland-client.so.0", "libwayland-client.so"]) {
  try {
    lib = Deno.dlopen(name, {
      wl_display_connect: { parameters: ["pointer"], result: "pointer" },
      wl_display_disconnect: { parameters: ["pointer"], result: "void" },
    });
    break;
  } catch { /* not installed (or no --allow-ffi): nothing to emulate */ }
}
if (gpu && lib) {
  const wayland = lib;
  const proto = Object.getPrototypeOf(gpu) as GPU;
  const original = proto.requestAdapter;
  proto.requestAdapter = function (this: GPU, options?: GPURequestAdapterOptions) {
    const display = wayland.symbols.wl_display_connect(null);
    if (display) wayland.symbols.wl_display_disconnect(display);
    return original.call(this, options);
  };
}
/** Whether the probe is active (libwayland-client found and WebGPU present). */
export const WAYLAND_PROBE: boolean = Boolean(gpu && lib);
