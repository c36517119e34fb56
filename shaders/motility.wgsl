// One explicit sub-step of random motility and chemotaxis toward IFN-gamma
// with volume exclusion, for one cell field. Hop rate i -> j:
// (M + chi max(0, s_j - s_i)) / dx^2 times the free space at j, with the
// signal s from the crowding stage.
// CPU twin: src/cpu/motility.rs.

@group(0) @binding(0) var<storage, read> c: array<f32>;
@group(0) @binding(1) var<storage, read_write> c_out: array<f32>;
@group(0) @binding(2) var<storage, read> free: array<f32>;
@group(0) @binding(3) var<storage, read> signal: array<f32>;
@group(0) @binding(4) var<uniform> grid: Grid;
@group(0) @binding(5) var<uniform> tr: Transport;
// One parameter set per patient of the batch, for the current step.
@group(0) @binding(6) var<storage, read> params: array<Params>;
var<private> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = batch_voxel(gid);
    if i == NO_VOXEL {
        return;
    }
    p = params[gid.z];
    let ci = c[i];
    let si = signal[i];
    let free_i = free[i];
    var flux = 0.0;
    for (var axis = 0u; axis < 3u; axis++) {
        if !is_active(axis) {
            continue;
        }
        for (var s = 0; s < 2; s++) {
            let j = neighbor(i, axis, 2 * s - 1);
            if j >= 0 {
                let ju = u32(j);
                let sj = signal[ju];
                let w_ij = tr.diffusion + tr.chemotaxis * max(sj - si, 0.0);
                let w_ji = tr.diffusion + tr.chemotaxis * max(si - sj, 0.0);
                flux += w_ji * c[ju] * free_i - w_ij * ci * free[ju];
            } else if tr.dirichlet == 1u {
                let w = tr.diffusion;
                flux += w * tr.bc_value * free_i - w * ci * max(1.0 - tr.ghost_crowding / p.crowding_limit, 0.0);
            }
        }
    }
    c_out[i] = ci + tr.dt * flux * grid.inv_dx2;
}
