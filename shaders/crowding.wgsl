// Free space 1 - rho / rho_max per voxel (rho the sum of all cell
// fractions) and the chemotactic signal s = ifng / (ifng + K), both read by
// the motility stage.
// CPU twin: src/cpu/crowding.rs. The bindings (the cell fields and ifng
// among them) and `cell_sum` are generated from the stage table and the
// field registry by src/gpu/shaders.rs.


@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = patient_voxel(gid);
    if i == NO_VOXEL {
        return;
    }
    free[i] = max(1.0 - cell_sum(i) / p.crowding_limit, 0.0);
    let x = ifng[i];
    signal[i] = x / (x + p.chemotaxis_ifng_k_nm);
}
