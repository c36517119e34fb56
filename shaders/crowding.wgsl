// Free space 1 - rho / rho_max per voxel (rho the sum of all cell
// fractions) and the chemotactic signal s = ifng / (ifng + K), both read by
// the motility stage.
// CPU twin: src/cpu/crowding.rs. The bindings of the cell fields and of
// ifng (from binding 4) and `cell_sum` are generated from the field
// registry by src/gpu/shaders.rs.

@group(0) @binding(0) var<storage, read_write> free: array<f32>;
@group(0) @binding(1) var<storage, read_write> signal: array<f32>;
@group(0) @binding(2) var<uniform> grid: Grid;
// One parameter set per patient of the batch, for the current step.
@group(0) @binding(3) var<storage, read> params: array<Params>;
var<private> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = batch_voxel(gid);
    if i == NO_VOXEL {
        return;
    }
    p = params[gid.z];
    free[i] = max(1.0 - cell_sum(i) / p.crowding_limit, 0.0);
    let x = ifng[i];
    signal[i] = x / (x + p.chemotaxis_ifng_k_nm);
}
