// Total cell volume fraction per voxel. CPU twin: src/cpu/crowding.rs.
// The cell-field bindings (from binding 2) and `cell_sum` are generated
// from the field registry by src/gpu/shaders.rs.

@group(0) @binding(0) var<storage, read_write> rho: array<f32>;
@group(0) @binding(1) var<uniform> grid: Grid;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = voxel_index(gid);
    if i >= grid.n {
        return;
    }
    rho[i] = cell_sum(i);
}
