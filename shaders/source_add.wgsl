// Add each source slot's transformed production (source buffer 0) to its
// molecule field, held at >= 0 (the f32 transform leaves round-off of
// either sign where the exact response is near zero). The bindings
// (the slot fields among them) and `add` are generated (src/gpu/shaders.rs). CPU twin:
// cpu::source_pass::source_add.


@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let local = local_voxel(gid);
    if local == NO_VOXEL {
        return;
    }
    let slots = countOneBits(grid.source_mask);
    let patient = gid.z / slots;
    let slot = gid.z % slots;
    add(slot, patient * grid.n + local, sources[gid.z * grid.n + local]);
}
