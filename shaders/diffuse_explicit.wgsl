// One forward-Euler sub-step u_out = u + dt_sub (D lap(u) - lambda u).
// CPU twin: src/cpu/diffuse_explicit.rs.

@group(0) @binding(0) var<storage, read> u: array<f32>;
@group(0) @binding(1) var<storage, read_write> u_out: array<f32>;
@group(0) @binding(2) var<uniform> grid: Grid;
@group(0) @binding(3) var<uniform> tr: Transport;

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
    return tr.diffusivity * lap * grid.inv_dx2 - tr.decay * ui;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = voxel_index(gid);
    if i >= grid.n {
        return;
    }
    u_out[i] = u[i] + tr.dt * transport_rate(i);
}
