//! `tmesim info` (the GPU adapters and what `--backend auto` picks) and
//! `tmesim params` (the parameter registry).

use crate::gpu::context;
use anyhow::Result;

/// `tmesim info`.
pub fn info() -> Result<()> {
    let instance = context::instance();
    let adapters = context::adapters(&instance);
    if adapters.is_empty() {
        println!("no GPU adapters found; `--backend auto` runs on the CPU reference backend");
    }
    for a in &adapters {
        let info = a.get_info();
        let l = a.limits();
        println!("{}", context::describe(&info));
        println!("  driver: {} {}", info.driver, info.driver_info);
        println!(
            "  storage buffers per stage: {}",
            l.max_storage_buffers_per_shader_stage
        );
        println!(
            "  max storage binding: {} bytes, max buffer: {} bytes",
            l.max_storage_buffer_binding_size, l.max_buffer_size
        );
        println!(
            "  max workgroup invocations: {}, workgroup memory: {} bytes",
            l.max_compute_invocations_per_workgroup, l.max_compute_workgroup_storage_size
        );
        let max_voxels = l.max_buffer_size.min(l.max_storage_buffer_binding_size) / 4;
        println!("  largest grid: {max_voxels} voxels");
    }
    use crate::sim::select::{auto_pick, AutoPick, CpuBecause};
    match auto_pick(&instance) {
        AutoPick::Cpu(CpuBecause::SoftwareOnly(name)) => {
            println!("auto: CPU reference backend (only a software adapter: {name})")
        }
        AutoPick::Adapter(a) => println!("auto: {}", context::describe(&a.get_info())),
        AutoPick::Cpu(CpuBecause::NoAdapter(e)) => println!("auto: CPU reference backend ({e})"),
    }
    println!("cpu: {} rayon threads", rayon::current_num_threads());
    Ok(())
}

/// Printed at once; a reader that stops early is not an error.
pub fn params(markdown: bool) -> Result<()> {
    use std::fmt::Write as _;
    let specs = crate::model::params::PARAM_SPECS;
    let mut text = String::new();
    if markdown {
        text.push_str("| parameter | default | allowed range | unit | meaning | source |\n");
        text.push_str("|---|---|---|---|---|---|\n");
        for p in specs {
            let _ = writeln!(
                text,
                "| `{}` | {} | [{}, {}] | {} | {} | {} |",
                p.name, p.default, p.min, p.max, p.unit, p.description, p.source
            );
        }
    } else {
        for p in specs {
            let _ = writeln!(
                text,
                "{:<32} {:>10} [{}, {}] {}  -- {} (source: {})",
                p.name, p.default, p.min, p.max, p.unit, p.description, p.source
            );
        }
    }
    // A reader that stops early (`tmesim params | head`) is not an error.
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}
