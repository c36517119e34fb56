// Shared declarations of every tmesim kernel. Prepended to each stage by
// src/gpu/shaders.rs, after the generated preamble (the `Params` struct,
// the constants WG, REDUCE_WG, MIN_PER_DAY, VALUE_FLOOR and RT_SHAPE_*,
// and every binding of the stage, from its list in the stage table).
//
// Keep `Grid`, `Transport` and `Systemic` in sync with GridUniform and
// TransportUniform (src/model/grid.rs) and Systemic (src/model/state.rs);
// tests/shaders.rs checks sizes and offsets with naga.

struct Grid {
    nx: u32,
    ny: u32,
    nz: u32,
    n: u32,
    dx_um: f32,
    dt_min: f32,
    inv_dx2: f32,
    row_threads: u32,
    active_mask: u32,
    source_mask: u32,
    _pad1: u32,
    _pad2: u32,
}

struct Transport {
    diffusion: f32,
    decay: f32,
    chemotaxis: f32,
    dt: f32,
    bc_value: f32,
    ghost_crowding: f32,
    dirichlet: u32,
    _pad0: u32,
}

struct Systemic {
    priming: f32,
    _pad0: f32,
    _pad1: f32,
    _pad2: f32,
}

// A batch of patients shares every buffer: patient b's copy of a field
// starts at b * grid.n, and b is gid.z of the dispatch (src/gpu/backend.rs).
// Voxel indices in the kernels are indices into these buffers; `neighbor`
// and the coordinates below never cross from one patient into the next.
const NO_VOXEL: u32 = 0xffffffffu;

// Voxel within its patient's grid of a thread in a 2D dispatch (see
// grid::dispatch_shape), or NO_VOXEL past the grid.
fn local_voxel(gid: vec3<u32>) -> u32 {
    let i = gid.x + gid.y * grid.row_threads;
    return select(NO_VOXEL, i, i < grid.n);
}

// The thread's voxel in the batch's buffers (patient gid.z), or NO_VOXEL.
fn batch_voxel(gid: vec3<u32>) -> u32 {
    let i = local_voxel(gid);
    return select(NO_VOXEL, gid.z * grid.n + i, i != NO_VOXEL);
}

// Coordinate of batch voxel i along `axis` within its patient's grid.
fn coord(i: u32, axis: u32) -> u32 {
    if axis == 0u {
        return i % grid.nx;
    } else if axis == 1u {
        return (i / grid.nx) % grid.ny;
    }
    return (i / (grid.nx * grid.ny)) % grid.nz;
}

fn is_active(axis: u32) -> bool {
    return (grid.active_mask & (1u << axis)) != 0u;
}

// The six faces of a voxel in a fixed order (x then y then z, the lower
// side first), as the stencils sum their fluxes: `across(i, k)` is the
// neighbour across face k, FACE_BOUNDARY at the domain's edge, or
// FACE_INACTIVE on an axis the grid does not have (z of a 2D grid).
const FACE_BOUNDARY: i32 = -1;
const FACE_INACTIVE: i32 = -2;

fn across(i: u32, k: u32) -> i32 {
    let axis = k / 2u;
    if !is_active(axis) {
        return FACE_INACTIVE;
    }
    return neighbor(i, axis, 2 * i32(k % 2u) - 1);
}

// Neighbour of voxel i one step along `axis` in direction `dir` (-1 or 1),
// or -1 across the domain boundary (mirrors cpu::neighbors).
fn neighbor(i: u32, axis: u32, dir: i32) -> i32 {
    let pos = coord(i, axis);
    var len: u32;
    var stride: u32;
    if axis == 0u {
        len = grid.nx;
        stride = 1u;
    } else if axis == 1u {
        len = grid.ny;
        stride = grid.nx;
    } else {
        len = grid.nz;
        stride = grid.nx * grid.ny;
    }
    if dir < 0 {
        if pos == 0u {
            return -1;
        }
        return i32(i - stride);
    }
    if pos + 1u >= len {
        return -1;
    }
    return i32(i + stride);
}

// x^n / (x^n + k^n) for x >= 0; 0 at x <= 0 (mirrors cpu::react::hill).
fn hill(x: f32, k: f32, n: f32) -> f32 {
    if x <= 0.0 {
        return 0.0;
    }
    return 1.0 / (1.0 + pow(k / x, n));
}

// x / (x + k) for x >= 0 (mirrors cpu::react::sat).
fn sat(x: f32, k: f32) -> f32 {
    let y = max(x, 0.0);
    return y / (y + k);
}
