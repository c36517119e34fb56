// One damped-Jacobi sweep on the backward-Euler system (I - dt A) u' = u_old
// after the ADI step. The delta-form ADI keeps the exact steady state but,
// in 2D and 3D, barely damps grid-scale modes at large dt (amplification
// 1 - 8k/(1+4k)^2 for the 2D checkerboard, k = dt D/dx^2); the sweep damps
// them and leaves the steady state and the total unchanged. On entry `r`
// holds the ADI increment u - u_old; on exit the correction, which
// diffuse_apply adds to u. `tr.k` holds the weight 1/2 / (1 + 2 d k + dt
// lambda). CPU twin: src/cpu/diffuse_smooth.rs.

@group(0) @binding(0) var<storage, read> u: array<f32>;
@group(0) @binding(1) var<storage, read_write> r: array<f32>;
@group(0) @binding(2) var<uniform> grid: Grid;
@group(0) @binding(3) var<uniform> tr: Transport;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = voxel_index(gid);
    if i >= grid.n {
        return;
    }
    // u_old - (I - dt A) u = -(u - u_old) + dt A u
    r[i] = tr.k * (tr.dt * transport_rate(i) - r[i]);
}
