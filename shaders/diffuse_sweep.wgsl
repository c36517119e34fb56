// One implicit sweep of the delta-form ADI step along axis `tr.axis`: each
// thread solves one grid line with the precomputed Thomas factors
// (cp, inv at coef[tr.coef_offset ..]). On the last sweep the increment is
// added to the field. CPU twin: src/cpu/diffuse_sweep.rs, model/thomas.rs.

@group(0) @binding(0) var<storage, read_write> u: array<f32>;
@group(0) @binding(1) var<storage, read_write> r: array<f32>;
@group(0) @binding(2) var<storage, read> coef: array<f32>;
@group(0) @binding(3) var<uniform> grid: Grid;
@group(0) @binding(4) var<uniform> tr: Transport;

// First voxel and stride of line l along the sweep axis (Grid::line_start).
fn line_start(l: u32) -> vec2<u32> {
    if tr.axis == 0u {
        return vec2<u32>(l * grid.nx, 1u);
    }
    if tr.axis == 1u {
        return vec2<u32>((l % grid.nx) + (l / grid.nx) * grid.nx * grid.ny, grid.nx);
    }
    return vec2<u32>(l, grid.nx * grid.ny);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    var len: u32;
    if tr.axis == 0u {
        len = grid.nx;
    } else if tr.axis == 1u {
        len = grid.ny;
    } else {
        len = grid.nz;
    }
    let l = voxel_index(gid);
    if l >= grid.n / len {
        return;
    }
    let ls = line_start(l);
    let start = ls.x;
    let stride = ls.y;
    let cp = tr.coef_offset;
    let inv = tr.coef_offset + len;
    // Forward elimination.
    var prev = 0.0;
    for (var i = 0u; i < len; i++) {
        let j = start + i * stride;
        var lower = 0.0;
        if i > 0u {
            lower = tr.k;
        }
        prev = (r[j] + lower * prev) * coef[inv + i];
        r[j] = prev;
    }
    // Back substitution; `prev` holds the solution at i + 1.
    if tr.apply == 1u {
        u[start + (len - 1u) * stride] += prev;
    }
    for (var i = i32(len) - 2; i >= 0; i--) {
        let j = start + u32(i) * stride;
        prev = r[j] - coef[cp + u32(i)] * prev;
        r[j] = prev;
        if tr.apply == 1u {
            u[j] += prev;
        }
    }
}
