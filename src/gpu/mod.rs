//! The wgpu backend: adapter selection, WGSL sources, pipelines and the
//! dispatch schedule. Every stage has a CPU twin in src/cpu.

pub mod backend;
pub mod context;
pub(crate) mod copy_bench;
pub(crate) mod flops;
mod resources;
pub mod runtime_dir;
pub mod shaders;
