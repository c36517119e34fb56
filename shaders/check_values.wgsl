// Flags voxels whose value is not finite or below VALUE_FLOOR: per field, a
// count and the lowest flagged voxel (flags[2f], flags[2f + 1]), so a run
// can check its whole state while reading back a few bytes. The bindings
// and check_voxel() are generated (src/gpu/shaders.rs).
// CPU twin: backend::scan_values.


fn flag(f: u32, i: u32, v: f32) {
    // Exponent bits all set: infinity or NaN (a bit test, which compilers
    // that assume finite math cannot fold away, unlike v != v).
    let finite = (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
    if !finite || v < VALUE_FLOOR {
        atomicAdd(&flags[2u * f], 1u);
        atomicMin(&flags[2u * f + 1u], i);
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = batch_voxel(gid);
    if i == NO_VOXEL {
        return;
    }
    check_voxel(i);
}
