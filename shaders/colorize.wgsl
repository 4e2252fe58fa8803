// colorize.wgsl — colormapped RGBA for `rows` maps of `width` f32 values (feature grids).
//
// Every value v of row r becomes one RGBA word (little-endian bytes R, G, B, A):
//   finite v : lut[min(255, floor(max(0, (v - lo[r]) * scale[r])))]
//   NaN/Inf  : nan_rgba
// with (lo, scale) per row as f32 (scale = 256 / (max - min), 0 for a constant map). Only the
// correctly rounded f32 operations - and * are used, so the result equals the CPU reference
// (analysis/colormap.ts colorizeRows) byte for byte.
//
// Bindings (group 0):
//   0  data   : array<f32>, read-only storage; the dispatch's first value (global element e0)
//               sits at data[shift].
//   1  norms  : array<vec2<f32>>, read-only storage; (lo, scale) per row of the whole input.
//   2  lut    : array<u32, 256>, read-only storage; packed RGBA colormap.
//   3  out    : array<u32>, storage; out[j] for the dispatch's j-th value.
//   4  params : Params, uniform.

struct Params {
  count: u32,
  shift: u32,
  e0: u32,
  width: u32,
  nan_rgba: u32,
  groups_x: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<storage, read> data: array<f32>;
@group(0) @binding(1) var<storage, read> norms: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> lut: array<u32, 256>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(256)
fn colorize(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x + gid.y * params.groups_x * 256u;
  if (j >= params.count) {
    return;
  }
  let v = data[params.shift + j];
  if ((bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u) {
    out[j] = params.nan_rgba;
    return;
  }
  let norm = norms[(params.e0 + j) / params.width];
  let t = (v - norm.x) * norm.y;
  var idx = 0u;
  if (t > 0.0) {
    idx = u32(min(floor(t), 255.0));
  }
  out[j] = lut[idx];
}
