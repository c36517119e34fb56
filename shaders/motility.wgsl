// One explicit sub-step of random motility and chemotaxis toward IFN-gamma
// with volume exclusion, for one cell field. Hop rate i -> j:
// (M + chi max(0, s_j - s_i)) / dx^2 times the free space at j, with the
// signal s from the crowding stage.
// CPU twin: src/cpu/motility.rs.


@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = patient_voxel(gid);
    if i == NO_VOXEL {
        return;
    }
    let ci = c[i];
    let si = signal[i];
    let free_i = free[i];
    var flux = 0.0;
    for (var k = 0u; k < 6u; k++) {
        let j = across(i, k);
        if j >= 0 {
            let ju = u32(j);
            let sj = signal[ju];
            let w_ij = tr.diffusion + tr.chemotaxis * max(sj - si, 0.0);
            let w_ji = tr.diffusion + tr.chemotaxis * max(si - sj, 0.0);
            flux += w_ji * c[ju] * free_i - w_ij * ci * free[ju];
        } else if j == FACE_BOUNDARY && tr.dirichlet == 1u {
            let w = tr.diffusion;
            flux += w * tr.bc_value * free_i - w * ci * max(1.0 - tr.ghost_crowding / p.crowding_limit, 0.0);
        }
    }
    c_out[i] = ci + tr.dt * flux * grid.inv_dx2;
}
