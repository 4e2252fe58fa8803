/**
 * Reading and writing runs without a model runtime or a chart library: the features `.npy`
 * (NumPy-compatible, one record per saved frame), its manifest, and the one error type.
 * Importing this entry point (`@feature-inspector/feature-inspector/core`, or `./npy` for the
 * `.npy` codec alone) loads neither onnxruntime nor vega.
 *
 * ```ts ignore
 * import { readFeatures } from "./core/mod.ts";
 *
 * using run = await readFeatures("out/features.npy");
 * const layer1 = await run.layer("layer1");
 * console.log(layer1.shape, run.manifest?.layers[0].stats.mean);
 * ```
 *
 * @module
 */

export { readFeatures } from "./run_folder.ts";
export type { FeaturesFile, ReadFeaturesOptions, SavedLayer } from "./run_folder.ts";
export { MANIFEST_FORMAT_VERSION, readManifest } from "./manifest.ts";
export type {
  Manifest,
  ManifestChannels,
  ManifestLayer,
  ManifestSummary,
  ReadManifestOptions,
} from "./manifest.ts";
export {
  decodePlainNpy,
  encodePlainNpy,
  readPlainNpy,
  StructuredNpyReader,
  StructuredNpyWriter,
} from "./npy.ts";
export type { NpyField, NpyHeader, NpyScalar, NumericArray, PlainArray } from "./npy.ts";
export { describeError, InspectorError } from "./errors.ts";
export type { RgbaImage } from "./image.ts";
export type { FileChecksum, OutputSet } from "./atomic.ts";
