// Lymph-node priming: one workgroup per patient (wid.z) sums the patient's
// DC partials, then relaxes its priming level toward its target.
// CPU twin: src/cpu/systemic.rs.


var<workgroup> scratch: array<f32, REDUCE_WG>;

@compute @workgroup_size(REDUCE_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let b = wid.z;
    let count = (grid.n + REDUCE_WG - 1u) / REDUCE_WG;
    var acc = 0.0;
    for (var k = lid; k < count; k += REDUCE_WG) {
        acc += partials[b * count + k];
    }
    scratch[lid] = acc;
    workgroupBarrier();
    for (var s = REDUCE_WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            scratch[lid] += scratch[lid + s];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        p = params[b];
        // An unirradiated lesion drains to the same lymph nodes as the
        // patient's irradiated one: both lesions' DCs drive priming.
        var dc_mean = scratch[0] / f32(grid.n);
        if p.partner_dc_mean >= 0.0 {
            dc_mean = 0.5 * (dc_mean + p.partner_dc_mean);
        }
        let f_ctla4 = 1.0 / (1.0 + p.ctla4_priming_inhibition * (1.0 - p.ctla4_occupancy));
        let target_level = dc_mean / (dc_mean + p.dc_priming_k) * f_ctla4;
        let tau = p.priming_tau_days * MIN_PER_DAY;
        sys[b].priming = target_level + (sys[b].priming - target_level) * exp(-grid.dt_min / tau);
    }
}
