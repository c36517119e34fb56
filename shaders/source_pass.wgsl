// One pass of the source transform (backend::plan::SourcePass): every
// source slot of every patient multiplied along one axis by the slot's
// dense basis matrix, from `src` to `dst`; the last forward pass also
// multiplies each mode by its integral over the step (`phi`). gid.z is
// patient * slots + slot; slot s of patient b starts at (b * slots + s) *
// grid.n in both buffers. CPU twin: src/cpu/source_pass.rs.

struct SourcePass {
    len: u32,
    stride: u32,
    scale: u32,
    slots: u32,
    base: array<u32, MAX_SOURCES>,
}


@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let local = local_voxel(gid);
    if local == NO_VOXEL {
        return;
    }
    let slot = gid.z % pass_.slots;
    let i = gid.z * grid.n + local;
    let pos = (local / pass_.stride) % pass_.len;
    let start = i - pos * pass_.stride;
    let row = pass_.base[slot] + pos * pass_.len;
    var acc = 0.0;
    for (var k = 0u; k < pass_.len; k++) {
        acc += matrices[row + k] * src[start + k * pass_.stride];
    }
    if pass_.scale == 1u {
        acc *= phi[slot * grid.n + local];
    }
    dst[i] = acc;
}
