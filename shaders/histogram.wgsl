// histogram.wgsl — counts of f32 values in fixed bins (shared edges: linear or log spaced).
//
// Bins: edges e[0] < e[1] < ... < e[nb] (f32). Bin i holds e[i] <= v < e[i+1]; the last bin
// also holds v == e[nb] (NumPy's convention). Extra counters after the nb bins:
// counts[nb] = below (v < e[0]), counts[nb + 1] = above (v > e[nb]),
// counts[nb + 2] = non-finite (NaN, +-Inf; detected from the bit pattern).
//
// Bindings (group 0):
//   0  data   : array<f32>, read-only storage; this dispatch's values are data[shift ..
//               shift + count - 1].
//   1  edges  : array<f32>, read-only storage, nb + 1 edges (nb <= 1024).
//   2  counts : array<atomic<u32>>, storage, nb + 3 counters; accumulated across dispatches.
//   3  params : Params, uniform.
//
// Each workgroup (256 threads) counts one block of `block` consecutive values into workgroup
// memory, then adds its non-zero counters to `counts` with atomics.

struct Params {
  count: u32,
  shift: u32,
  block: u32,
  bins: u32,
  groups_x: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<storage, read> data: array<f32>;
@group(0) @binding(1) var<storage, read> edges: array<f32>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> params: Params;

const WG: u32 = 256u;
const MAX_BINS: u32 = 1024u;

var<workgroup> sh_edges: array<f32, 1025>;
var<workgroup> sh_counts: array<atomic<u32>, 1027>;

@compute @workgroup_size(256)
fn histogram(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let nb = params.bins;
  for (var i = t; i <= nb; i += WG) {
    sh_edges[i] = edges[i];
  }
  for (var i = t; i < nb + 3u; i += WG) {
    atomicStore(&sh_counts[i], 0u);
  }
  workgroupBarrier();
  let block = wid.x + wid.y * params.groups_x;
  let begin = block * params.block;
  let end = min(begin + params.block, params.count);
  let lo = sh_edges[0];
  let hi = sh_edges[nb];
  for (var k = begin + t; k < end; k += WG) {
    let v = data[params.shift + k];
    var slot: u32;
    if ((bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u) {
      slot = nb + 2u;
    } else if (v < lo) {
      slot = nb;
    } else if (v > hi) {
      slot = nb + 1u;
    } else {
      // Largest i in [0, nb - 1] with e[i] <= v.
      var a = 0u;
      var b = nb - 1u;
      while (a < b) {
        let m = (a + b + 1u) / 2u;
        if (sh_edges[m] <= v) {
          a = m;
        } else {
          b = m - 1u;
        }
      }
      slot = a;
    }
    atomicAdd(&sh_counts[slot], 1u);
  }
  workgroupBarrier();
  for (var i = t; i < nb + 3u; i += WG) {
    let c = atomicLoad(&sh_counts[i]);
    if (c > 0u) {
      atomicAdd(&counts[i], c);
    }
  }
}
