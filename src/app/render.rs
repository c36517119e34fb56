//! `tmesim render`: a finished run's pictures redrawn from its stored
//! fields (`output::render`), with the flags checked first.

use anyhow::Result;
use std::path::Path;

/// `tmesim render RUN_DIR`, with `--fps` and `--scale` checked first.
pub fn render(
    dir: &Path,
    only: Vec<String>,
    gif: bool,
    apng: bool,
    fps: Option<f32>,
    thin: crate::output::animate::Thin,
) -> Result<()> {
    if let Some(f) = fps {
        anyhow::ensure!(
            (0.1..=100.0).contains(&f),
            "--fps must be within [0.1, 100] (the range of output.fps), got {f}"
        );
    }
    anyhow::ensure!(
        thin.scale > 0.0 && thin.scale <= 1.0,
        "--scale must be in (0, 1], got {}",
        thin.scale
    );
    let opts = crate::output::render::RenderOptions {
        only,
        gif,
        apng,
        fps,
        thin,
    };
    let start = std::time::Instant::now();
    let n = crate::output::render::render_run(dir, &opts)?;
    eprintln!(
        "rendered {n} saved times of {} in {:.1} s",
        dir.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
