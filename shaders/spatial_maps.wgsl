// spatial_maps.wgsl — mean, std and max over channels at every position of (C, H, W) frames.
//
// The input holds frames of `channels` maps of `hw` = H * W f32 values each, frame-major:
// value (f, c, p) sits at element (f * channels + c) * hw + p. The channels of a frame are cut
// into groups of `group` channels; one work unit = (frame, group), numbered
// unit = f * groups_per_frame + g. A thread handles one (unit, position) and writes one Partial
// over the finite values of that group's channels at that position.
//
// Bindings (group 0):
//   0  data   : array<f32>, read-only storage; the first value of unit first_unit (f0, g0)
//               sits at data[shift].
//   1  parts  : array<Partial>, storage; parts[(unit - first_unit) * hw + p], 32 bytes each.
//   2  params : Params, uniform.
//
// Partial: n = finite count, mean = f32 mean, sd = sum(x - mean), sd2 = sum((x - mean)^2),
// maxv = finite maximum (undefined when n == 0). The host merges groups in f64.

struct Params {
  hw: u32,
  channels: u32,
  group: u32,
  groups_per_frame: u32,
  first_unit: u32,
  unit_count: u32,
  f0: u32,
  g0: u32,
  shift: u32,
  groups_x: u32,
  _pad0: u32,
  _pad1: u32,
}

struct Partial {
  n: u32,
  mean: f32,
  sd: f32,
  sd2: f32,
  maxv: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<storage, read> data: array<f32>;
@group(0) @binding(1) var<storage, read_write> parts: array<Partial>;
@group(0) @binding(2) var<uniform> params: Params;

const BIG: f32 = 3.4028234663852886e38;

@compute @workgroup_size(64)
fn spatial_maps(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * params.groups_x * 64u;
  let total = params.unit_count * params.hw;
  if (i >= total) {
    return;
  }
  let local_unit = i / params.hw;
  let p = i % params.hw;
  let unit = params.first_unit + local_unit;
  let f = unit / params.groups_per_frame;
  let g = unit % params.groups_per_frame;
  let c_begin = g * params.group;
  let c_end = min(c_begin + params.group, params.channels);
  // Element of (f, c_begin, 0) relative to the dispatch's first value.
  let base = params.shift
    + ((f - params.f0) * params.channels + c_begin) * params.hw - params.g0 * params.group * params.hw;
  var n = 0u;
  var s = 0.0;
  var mx = -BIG;
  for (var c = 0u; c < c_end - c_begin; c++) {
    let v = data[base + c * params.hw + p];
    if ((bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u) {
      n += 1u;
      s += v;
      mx = max(mx, v);
    }
  }
  let mean = select(0.0, s / f32(max(n, 1u)), n > 0u);
  var d1 = 0.0;
  var d2 = 0.0;
  for (var c = 0u; c < c_end - c_begin; c++) {
    let v = data[base + c * params.hw + p];
    if ((bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u) {
      let d = v - mean;
      d1 += d;
      d2 += d * d;
    }
  }
  parts[i] = Partial(n, mean, d1, d2, mx, 0u, 0u, 0u);
}
