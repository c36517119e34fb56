//! Colour-mapped PNG frames: one image per field and saved time, on a fixed
//! scale per field so frames compare over time. 3D grids show the middle z
//! plane.

use crate::model::grid::Grid;
use std::path::Path;

/// Frames are enlarged by a whole factor to at least this many pixels.
const MIN_FRAME_PX: usize = 400;

/// Entries of the colour lookup table.
const LUT_SIZE: usize = 256;

/// Viridis sampled once, so frames cost a table lookup per pixel.
fn viridis_lut() -> &'static [[u8; 3]; LUT_SIZE] {
    static LUT: std::sync::OnceLock<[[u8; 3]; LUT_SIZE]> = std::sync::OnceLock::new();
    LUT.get_or_init(|| {
        std::array::from_fn(|k| {
            let c = colorous::VIRIDIS.eval_rational(k, LUT_SIZE);
            [c.r, c.g, c.b]
        })
    })
}

/// Write `data` as a viridis PNG on the scale [0, vmax].
pub fn write_frame(path: &Path, grid: &Grid, data: &[f32], vmax: f32) -> image::ImageResult<()> {
    let lut = viridis_lut();
    let scale = MIN_FRAME_PX.div_ceil(grid.nx.max(grid.ny)).max(1);
    let (w, h) = (grid.nx * scale, grid.ny * scale);
    let z = grid.nz / 2;
    let plane = &data[z * grid.nx * grid.ny..(z + 1) * grid.nx * grid.ny];
    let mut img = image::RgbImage::new(w as u32, h as u32);
    for (px, py, pixel) in img.enumerate_pixels_mut() {
        let x = px as usize / scale;
        // Image rows run top-down; put y = 0 at the bottom, as in a plot.
        let y = grid.ny - 1 - py as usize / scale;
        let v = plane[x + y * grid.nx];
        let t = if v.is_finite() {
            (v / vmax).clamp(0.0, 1.0)
        } else {
            0.0
        };
        *pixel = image::Rgb(lut[((t * (LUT_SIZE - 1) as f32).round() as usize).min(LUT_SIZE - 1)]);
    }
    img.save(path)
}
