// One pass of the exact molecule transport: every molecule's field is
// multiplied along one axis by its propagator (model::exponential), and
// the last pass adds each molecule's Dirichlet offset. All molecules of all
// patients go in one dispatch: gid.z is patient * molecules + molecule slot. The bindings (the stage
// table of src/gpu/shaders.rs; `pass_` is a storage buffer, not a uniform,
// because software drivers such as lavapipe specialise shaders on uniform
// values used as loop bounds, and recompiled per pass) and `line_dot` /
// `store` are generated. CPU twin: src/cpu/diffuse_exponential.rs.

struct ExponentialPass {
    len: u32,
    stride: u32,
    last: u32,
    // Bit m set when molecule slot m has a Dirichlet offset.
    offset_mask: u32,
    // Molecule slots in use (the dispatch's depth per patient).
    molecules: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    // Per molecule slot: half-width h of the propagator's band (the
    // entries beyond it are zero and not stored) ...
    band: array<u32, MAX_MOLECULES>,
    // ... and where its band rows (plan::band_window) start in `matrices`.
    base: array<u32, MAX_MOLECULES>,
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let local = local_voxel(gid);
    if local == NO_VOXEL {
        return;
    }
    let m = gid.z % pass_.molecules;
    let i = (gid.z / pass_.molecules) * grid.n + local;
    let pos = (i / pass_.stride) % pass_.len;
    let start = i - pos * pass_.stride;
    let h = pass_.band[m];
    let lo = select(0u, pos - h, pos > h);
    let hi = min(pass_.len, pos + h + 1u);
    // Row pos's stored window (plan::band_window): width min(2h + 1, len)
    // from column min(max(pos - h, 0), len - width); entry k = lo:
    let width = min(2u * h + 1u, pass_.len);
    let window = min(lo, pass_.len - width);
    let first = pass_.base[m] + pos * width + lo - window;
    var v = line_dot(m, first, start, lo, hi);
    if pass_.last == 1u && (pass_.offset_mask & (1u << m)) != 0u {
        // The offset depends on the plan alone: one copy serves every patient.
        v += offset(m, local);
    }
    // Subnormal values become 0, as on the CPU (slow there, meaningless here).
    store(m, i, select(v, 0.0, abs(v) < MIN_NORMAL));
}
