// The production rates of the source molecules (the fields whose bit is
// set in grid.source_mask, in field order) at every voxel, into `sources`:
// patient b's slot s starts at (b * slots + s) * grid.n. Appended to
// react.wgsl (both stages build this module), whose pieces it calls as
// `main` does. CPU twin:
// cpu::react::produce.

@compute @workgroup_size(WG)
fn produce(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = patient_voxel(gid);
    if i == NO_VOXEL {
        return;
    }
    let local = i - gid.z * grid.n;
    let x = read_voxel(i);
    let t = t_cell_function(x);
    let d = tumor_deaths(x, t, in_radiation_field(i) * (1.0 / MIN_PER_DAY));
    emit_sources(gid.z, local, molecule_rates(x, t, d));
}

// The production of each source molecule (the fields whose bit is set in
// grid.source_mask, in field order) of patient `patient` at voxel `local`
// into `sources`. Also called by `main` in react.wgsl.
fn emit_sources(patient: u32, local: u32, m: MoleculeRates) {
    let slots = countOneBits(grid.source_mask);
    var slot = 0u;
    let rates = array<f32, 5>(m.ifng_p, m.il10_p, m.vegf_p, m.ado_p, m.kyn_p);
    for (var f = 0u; f < 5u; f++) {
        if (grid.source_mask & (1u << f)) != 0u {
            sources[(patient * slots + slot) * grid.n + local] = rates[f];
            slot++;
        }
    }
}
