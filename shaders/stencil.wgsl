// D lap(u) - lambda u at voxel i, for the diffusion stages that bind `u`
// and `tr`; Dirichlet faces use the ghost 2v - u_i, which puts v on the
// face. Prepended after common.wgsl. CPU twin: cpu::diffuse_explicit::operator.

fn transport_rate(i: u32) -> f32 {
    let ui = u[i];
    var lap = 0.0;
    for (var k = 0u; k < 6u; k++) {
        let j = across(i, k);
        if j >= 0 {
            lap += u[u32(j)] - ui;
        } else if j == FACE_BOUNDARY && tr.dirichlet == 1u {
            lap += 2.0 * (tr.bc_value - ui);
        }
    }
    return tr.diffusion * lap * grid.inv_dx2 - tr.decay * ui;
}
