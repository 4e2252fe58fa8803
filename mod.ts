/**
 * feature-inspector: see what each layer of a trained video CNN (exported to ONNX) has learned.
 *
 * The workflow of the original PyTorch forward-hook toolkit, on an ONNX model, with every
 * requested frame from one forward pass:
 *
 * ```ts ignore
 * import { FeatureMapInspector, loadClips } from "./mod.ts";
 *
 * await using inspector = await FeatureMapInspector.create("fixtures/resnet18_video.onnx", {
 *   layers: ["conv1", "layer1", "layer4"],
 *   saveDir: "out",
 * });
 * const batch = await loadClips("fixture", { batchSize: 2, maxLen: 8, size: 112 });
 * inspector.setTarget({ batchIdx: 0, timestep: "0-7" });
 * const features = await inspector.extractFeatures({ data: batch.data, dims: [...batch.shape] });
 * for (const layer of features.layers) {
 *   console.log(layer.name, layer.layout.label, layer.stats.summary.mean);
 * }
 * await inspector.saveFeatures();
 * await inspector.visualizeFeatureMaps("layer1", { numChannels: 16 });
 * ```
 *
 * Building blocks for custom analyses: {@linkcode readFeatures}, {@linkcode analyzeFeatures},
 * {@linkcode compareFeatures}, {@linkcode loadClips}, the metrics ({@linkcode linearCka} ...),
 * the statistics ({@linkcode createReducer}) and the runtimes ({@linkcode createSession}).
 *
 * This entry point loads everything (onnxruntime, vega). Narrower ones, each loading only what
 * its job needs (deno.json `exports`; a test checks their module graphs):
 *
 * | import | what | loads |
 * | --- | --- | --- |
 * | `./core` (`core/mod.ts`) | `readFeatures`, the manifest, `.npy`, errors | nothing heavy |
 * | `./npy` (`core/npy.ts`) | the `.npy` reader and writer alone | nothing heavy |
 * | `./stats` (`stats/mod.ts`) | metrics, moments, histograms, health flags | nothing heavy |
 * | `./inspector` (`inspector/mod.ts`) | `FeatureMapInspector`, `runInspect`, `loadClips` | onnxruntime |
 * | `./analysis` (`analysis/mod.ts`) | `analyzeFeatures` | vega, resvg |
 * | `./compare` (`compare/mod.ts`) | `compareFeatures` | vega, resvg |
 * | `./render` (`render/mod.ts`) | feature grid, PNG, Vega to PNG | vega, resvg |
 *
 * @module
 */

// Extraction
export * from "./inspector/mod.ts";

// Runs on disk
export * from "./core/mod.ts";

// Statistics and metrics
export * from "./stats/mod.ts";
export { createReducer, tensorInput } from "./shaders/reduce.ts";
export type {
  GpuMode,
  GpuTensor,
  Reducer,
  ReducerInfo,
  ReducerInput,
  ReducerOptions,
  ReducerUsage,
  TensorLike,
} from "./shaders/reduce.ts";

// Reports and pictures
export * from "./analysis/mod.ts";
export * from "./compare/mod.ts";
export * from "./render/mod.ts";
