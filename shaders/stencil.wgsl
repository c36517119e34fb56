// D lap(u) - lambda u at voxel i, for the diffusion stages that bind `u`
// and `tr`; Dirichlet faces use the ghost 2v - u_i, which puts v on the
// face. Prepended after common.wgsl. CPU twin: cpu::diffuse_explicit::operator.

fn transport_rate(i: u32) -> f32 {
    let ui = u[i];
    var lap = 0.0;
    for (var axis = 0u; axis < 3u; axis++) {
        if !is_active(axis) {
            continue;
        }
        for (var s = 0; s < 2; s++) {
            let j = neighbor(i, axis, 2 * s - 1);
            if j >= 0 {
                lap += u[u32(j)] - ui;
            } else if tr.dirichlet == 1u {
                lap += 2.0 * (tr.bc_value - ui);
            }
        }
    }
    return tr.diffusion * lap * grid.inv_dx2 - tr.decay * ui;
}
