// One forward-Euler sub-step u_out = u + dt_sub (D lap(u) - lambda u).
// CPU twin: src/cpu/diffuse_explicit.rs.


@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = batch_voxel(gid);
    if i == NO_VOXEL {
        return;
    }
    u_out[i] = u[i] + tr.dt * transport_rate(i);
}
