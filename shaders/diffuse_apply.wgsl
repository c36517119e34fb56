// u += r: adds the smoothing correction. CPU twin: src/cpu/diffuse_smooth.rs.

@group(0) @binding(0) var<storage, read_write> u: array<f32>;
@group(0) @binding(1) var<storage, read> r: array<f32>;
@group(0) @binding(2) var<uniform> grid: Grid;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = voxel_index(gid);
    if i >= grid.n {
        return;
    }
    u[i] += r[i];
}
