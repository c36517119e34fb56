// Partial sums of the mature DC field, one per workgroup of REDUCE_WG voxels,
// for the lymph-node priming ODE; workgroup row wid.z is the patient, whose
// partials follow those of the patient before. CPU twin: cpu::systemic::reduce_dc.


var<workgroup> scratch: array<f32, REDUCE_WG>;

@compute @workgroup_size(REDUCE_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let group = wid.x + wid.y * nwg.x;
    let i = group * REDUCE_WG + lid;
    let groups = (grid.n + REDUCE_WG - 1u) / REDUCE_WG;
    var v = 0.0;
    if i < grid.n {
        v = dc[wid.z * grid.n + i];
    }
    scratch[lid] = v;
    workgroupBarrier();
    for (var s = REDUCE_WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            scratch[lid] += scratch[lid + s];
        }
        workgroupBarrier();
    }
    if lid == 0u && group * REDUCE_WG < grid.n {
        partials[wid.z * groups + group] = scratch[0];
    }
}
