//! Grid geometry and the uniforms shared with the WGSL kernels.
//!
//! Keep `GridUniform` and `TransportUniform` in sync with `shaders/common.wgsl`;
//! `tests/shaders.rs` checks sizes and member offsets with naga.

use bytemuck::{Pod, Zeroable};

/// Threads per workgroup of every 1D kernel (`WG` in the generated WGSL
/// preamble).
pub const WORKGROUP_SIZE: u32 = 64;

/// Voxels per partial sum of a reduction: the workgroup of reduce_dc.wgsl
/// and systemic.wgsl (`REDUCE_WG` in the preamble) and the chunk of their
/// CPU twin.
pub const REDUCE_WG: u32 = 256;

/// Voxel grid: `nx * ny * nz` voxels of edge `dx_um`, x fastest in memory.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    pub nx: usize,
    pub ny: usize,
    pub nz: usize,
    pub dx_um: f32,
}

impl Grid {
    pub fn len(&self) -> usize {
        self.nx * self.ny * self.nz
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dims(&self) -> [usize; 3] {
        [self.nx, self.ny, self.nz]
    }

    /// Axes along which the grid has more than one voxel. Boundaries and
    /// transport act along these only, so a 2D run (`nz = 1`) has no z faces.
    pub fn active_axes(&self) -> Vec<usize> {
        (0..3).filter(|&a| self.dims()[a] > 1).collect()
    }

    /// Bitmask of [`Self::active_axes`] (bit 0 = x), as the kernels read it.
    pub fn active_mask(&self) -> u32 {
        self.active_axes().iter().map(|a| 1u32 << a).sum()
    }

    /// Number of spatial dimensions that carry transport (at least 1).
    pub fn spatial_dims(&self) -> usize {
        self.active_axes().len().max(1)
    }

    /// Volume (3D, um^3) or area (2D, um^2) of one voxel.
    pub fn voxel_measure(&self) -> f64 {
        (self.dx_um as f64).powi(self.spatial_dims() as i32)
    }

    pub fn index(&self, x: usize, y: usize, z: usize) -> usize {
        x + self.nx * (y + self.ny * z)
    }

    pub fn coords(&self, i: usize) -> (usize, usize, usize) {
        (
            i % self.nx,
            (i / self.nx) % self.ny,
            i / (self.nx * self.ny),
        )
    }

    /// Centre of voxel `i` in um, the domain starting at the origin.
    pub fn center_um(&self, i: usize) -> [f32; 3] {
        let (x, y, z) = self.coords(i);
        let h = self.dx_um;
        [
            (x as f32 + 0.5) * h,
            (y as f32 + 0.5) * h,
            (z as f32 + 0.5) * h,
        ]
    }

    /// Number of grid lines along `axis` and, for line `l`, its first voxel
    /// and stride. The shaders derive the same from the voxel (`main` in
    /// diffuse_exponential.wgsl and source_pass.wgsl).
    pub fn line_count(&self, axis: usize) -> usize {
        self.len() / self.dims()[axis]
    }

    pub fn line_start(&self, axis: usize, l: usize) -> (usize, usize) {
        let (nx, ny) = (self.nx, self.ny);
        match axis {
            0 => (l * nx, 1),
            1 => ((l % nx) + (l / nx) * nx * ny, nx),
            _ => (l, nx * ny),
        }
    }

    pub fn uniform(&self, dt_min: f32) -> GridUniform {
        let n = self.len() as u32;
        let groups = n.div_ceil(WORKGROUP_SIZE);
        GridUniform {
            nx: self.nx as u32,
            ny: self.ny as u32,
            nz: self.nz as u32,
            n,
            dx_um: self.dx_um,
            dt_min,
            inv_dx2: 1.0 / (self.dx_um * self.dx_um),
            row_threads: dispatch_shape(groups).0 * WORKGROUP_SIZE,
            active_mask: self.active_mask(),
            source_mask: 0,
            _pad: [0; 2],
        }
    }
}

/// Workgroup counts `(x, y)` covering `groups` workgroups within the
/// 65535-per-dimension limit. Threads index as `gid.x + gid.y * row_threads`.
pub fn dispatch_shape(groups: u32) -> (u32, u32) {
    const MAX: u32 = 65535;
    if groups <= MAX {
        (groups.max(1), 1)
    } else {
        let y = groups.div_ceil(MAX);
        (groups.div_ceil(y), y)
    }
}

/// Grid facts every kernel reads (WGSL `Grid`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GridUniform {
    pub nx: u32,
    pub ny: u32,
    pub nz: u32,
    pub n: u32,
    pub dx_um: f32,
    pub dt_min: f32,
    pub inv_dx2: f32,
    /// Threads per row of a 2D dispatch of all voxels.
    pub row_threads: u32,
    /// Bit a set when axis a has more than one voxel.
    pub active_mask: u32,
    /// Bit f set when the transport integrates field f's production
    /// (`SourcePlan::mask`): the reactions then leave it out.
    pub source_mask: u32,
    pub _pad: [u32; 2],
}

/// Per-field transport settings for one kernel invocation (WGSL `Transport`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct TransportUniform {
    /// Diffusion coefficient or random motility, um^2/min.
    pub diffusion: f32,
    /// Linear decay, 1/min.
    pub decay: f32,
    /// Chemotactic coefficient toward IFN-gamma, um^2/min.
    pub chemotaxis: f32,
    /// Time step of this kernel (macro step or sub-step), min.
    pub dt: f32,
    /// Dirichlet value (when `dirichlet` = 1).
    pub bc_value: f32,
    /// Crowding of the ghost voxel outside a Dirichlet boundary (cells).
    pub ghost_crowding: f32,
    pub dirichlet: u32,
    pub _pad: [u32; 1],
}

const _: () = assert!(std::mem::size_of::<GridUniform>() == 48);
const _: () = assert!(std::mem::size_of::<TransportUniform>() == 32);
