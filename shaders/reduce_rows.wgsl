// reduce_rows.wgsl — per-run moments of `rows` contiguous runs of `width` f32 values.
//
// The input is seen as rows x width (one row = the H x W map of one (frame, channel)). Each row
// is cut into chunks of `chunk` values; one work item = one (row, chunk) pair, numbered
// item = row * chunks_per_row + c. This dispatch handles items first_item .. first_item +
// item_count - 1 and writes one Partial per item to parts[item - first_item].
//
// Bindings (group 0):
//   0  data   : array<f32>, read-only storage. The slice of the input this dispatch reads; the
//               first value of item first_item (row0, c0) sits at data[shift].
//   1  parts  : array<Partial>, storage, one per item of this dispatch (32 bytes each).
//   2  params : Params, uniform.
//
// Partial (finite values only for mean/min/max): n = finite count, zeros = exact zeros (+0 and
// -0), bad = NaN/Inf count, mean = f32 mean of the finite values, sd = sum(x - mean),
// sd2 = sum((x - mean)^2) (corrected two-pass: the host computes sum = n * mean + sd and
// m2 = sd2 - sd^2 / n in f64), min/max of the finite values (undefined when n == 0).
// Non-finite and zero tests use the bit pattern, so they survive fast-math compilers.
//
// Entry points: `reduce_chunks` (a workgroup of 256 threads per item, for long rows) and
// `reduce_small` (one thread per item, for short rows; items are whole rows there).

struct Params {
  width: u32,
  chunk: u32,
  chunks_per_row: u32,
  first_item: u32,
  item_count: u32,
  row0: u32,
  c0: u32,
  shift: u32,
  groups_x: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

struct Partial {
  n: u32,
  zeros: u32,
  bad: u32,
  mean: f32,
  sd: f32,
  sd2: f32,
  minv: f32,
  maxv: f32,
}

@group(0) @binding(0) var<storage, read> data: array<f32>;
@group(0) @binding(1) var<storage, read_write> parts: array<Partial>;
@group(0) @binding(2) var<uniform> params: Params;

const WG: u32 = 256u;
const BIG: f32 = 3.4028234663852886e38;

var<workgroup> sh_f: array<vec3<f32>, 256>;
var<workgroup> sh_u: array<vec3<u32>, 256>;
var<workgroup> sh_mean: f32;

fn is_finite_bits(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

fn is_zero_bits(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) == 0u;
}

// Index in `data` of the first value of item `item`, and its length.
fn item_span(item: u32) -> vec2<u32> {
  let row = item / params.chunks_per_row;
  let c = item % params.chunks_per_row;
  let start = params.shift + ((row - params.row0) * params.width + c * params.chunk)
    - params.c0 * params.chunk;
  let len = min(params.chunk, params.width - c * params.chunk);
  return vec2<u32>(start, len);
}

@compute @workgroup_size(256)
fn reduce_chunks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let local_item = wid.x + wid.y * params.groups_x;
  let in_range = local_item < params.item_count;
  var span = vec2<u32>(0u, 0u);
  if (in_range) {
    span = item_span(params.first_item + local_item);
  }
  // Pass 1: count, sum, min, max, zeros, non-finite.
  var s = 0.0;
  var mn = BIG;
  var mx = -BIG;
  var n = 0u;
  var z = 0u;
  var b = 0u;
  for (var k = t; k < span.y; k += WG) {
    let v = data[span.x + k];
    if (is_zero_bits(v)) { z += 1u; }
    if (is_finite_bits(v)) {
      n += 1u;
      s += v;
      mn = min(mn, v);
      mx = max(mx, v);
    } else {
      b += 1u;
    }
  }
  sh_f[t] = vec3<f32>(s, mn, mx);
  sh_u[t] = vec3<u32>(n, z, b);
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (t < w) {
      let a = sh_f[t];
      let o = sh_f[t + w];
      sh_f[t] = vec3<f32>(a.x + o.x, min(a.y, o.y), max(a.z, o.z));
      sh_u[t] = sh_u[t] + sh_u[t + w];
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    let cnt = sh_u[0].x;
    sh_mean = select(0.0, sh_f[0].x / f32(max(cnt, 1u)), cnt > 0u);
  }
  workgroupBarrier();
  let mean = sh_mean;
  let tot_f = sh_f[0];
  let tot_u = sh_u[0];
  workgroupBarrier();
  // Pass 2: deviations from the chunk mean.
  var d1 = 0.0;
  var d2 = 0.0;
  for (var k = t; k < span.y; k += WG) {
    let v = data[span.x + k];
    if (is_finite_bits(v)) {
      let d = v - mean;
      d1 += d;
      d2 += d * d;
    }
  }
  sh_f[t] = vec3<f32>(d1, d2, 0.0);
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (t < w) {
      sh_f[t] = sh_f[t] + sh_f[t + w];
    }
    workgroupBarrier();
  }
  if (t == 0u && in_range) {
    parts[local_item] = Partial(
      tot_u.x, tot_u.y, tot_u.z, mean, sh_f[0].x, sh_f[0].y, tot_f.y, tot_f.z,
    );
  }
}

@compute @workgroup_size(64)
fn reduce_small(@builtin(global_invocation_id) gid: vec3<u32>) {
  let local_item = gid.x + gid.y * params.groups_x * 64u;
  if (local_item >= params.item_count) {
    return;
  }
  let span = item_span(params.first_item + local_item);
  var s = 0.0;
  var mn = BIG;
  var mx = -BIG;
  var n = 0u;
  var z = 0u;
  var b = 0u;
  for (var k = 0u; k < span.y; k++) {
    let v = data[span.x + k];
    if (is_zero_bits(v)) { z += 1u; }
    if (is_finite_bits(v)) {
      n += 1u;
      s += v;
      mn = min(mn, v);
      mx = max(mx, v);
    } else {
      b += 1u;
    }
  }
  let mean = select(0.0, s / f32(max(n, 1u)), n > 0u);
  var d1 = 0.0;
  var d2 = 0.0;
  for (var k = 0u; k < span.y; k++) {
    let v = data[span.x + k];
    if (is_finite_bits(v)) {
      let d = v - mean;
      d1 += d;
      d2 += d * d;
    }
  }
  parts[local_item] = Partial(n, z, b, mean, d1, d2, mn, mx);
}
