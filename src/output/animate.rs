//! Time-lapses assembled from the saved PNG frames: animated GIF and
//! animated PNG (APNG). Built at the end of a run (and by `tmesim render`)
//! from the files on disk, so a run holds no frames in memory.

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// A time-lapse format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Gif,
    Apng,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Gif => "gif",
            Format::Apng => "apng",
        }
    }
}

/// `frames/<name>_0000.png` ... for `count` saves, in order.
pub fn frame_paths(out: &Path, name: &str, count: usize) -> Vec<PathBuf> {
    (0..count)
        .map(|i| out.join(super::layout::frame(name, i)))
        .collect()
}

fn read_rgb(path: &Path) -> Result<image::RgbImage> {
    Ok(image::open(path)
        .with_context(|| format!("cannot read frame {}", path.display()))?
        .into_rgb8())
}

/// Write `dest` as a looping time-lapse of `frames` at `fps`.
pub fn write(dest: &Path, frames: &[PathBuf], fps: f32, format: Format) -> Result<()> {
    if frames.is_empty() {
        bail!("no frames for {}", dest.display());
    }
    let first = read_rgb(&frames[0])?;
    let (w, h) = first.dimensions();
    let file = BufWriter::new(
        File::create(dest).with_context(|| format!("cannot write {}", dest.display()))?,
    );
    let mut next = Some(first);
    let mut load = |k: usize| -> Result<image::RgbImage> {
        let img = match next.take() {
            Some(img) => img,
            None => read_rgb(&frames[k])?,
        };
        if img.dimensions() != (w, h) {
            bail!(
                "{} differs in size from the first frame",
                frames[k].display()
            );
        }
        Ok(img)
    };
    match format {
        Format::Gif => {
            let mut enc = gif::Encoder::new(file, w as u16, h as u16, &[])?;
            enc.set_repeat(gif::Repeat::Infinite)?;
            // GIF delays are in hundredths of a second.
            let delay = (100.0 / fps).round().max(2.0) as u16;
            for k in 0..frames.len() {
                let img = load(k)?;
                // NeuQuant palette per frame; speed 10 trades a little
                // colour accuracy for a fast encode.
                let mut frame = gif::Frame::from_rgb_speed(w as u16, h as u16, img.as_raw(), 10);
                frame.delay = delay;
                enc.write_frame(&frame)?;
            }
        }
        Format::Apng => {
            let mut enc = png::Encoder::new(file, w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_compression(png::Compression::Fast);
            enc.set_animated(frames.len() as u32, 0)?;
            // Delay in seconds as a fraction: 1000 / (1000 fps).
            enc.set_frame_delay(1000, (1000.0 * fps).round().clamp(1.0, 65535.0) as u16)?;
            let mut writer = enc.write_header()?;
            for k in 0..frames.len() {
                writer.write_image_data(load(k)?.as_raw())?;
            }
            writer.finish()?;
        }
    }
    Ok(())
}
