//! Time-lapses assembled from the saved PNG frames: animated GIF and
//! animated PNG (APNG). Built at the end of a run (and by `tmesim render`)
//! from the files on disk, so a run holds no frames in memory.

use super::atomic::AtomicFile;
use anyhow::{bail, Context, Result};
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

/// Most distinct colours a frame may have for the fast palette below.
const FAST_PALETTE_LIMIT: usize = 2048;

/// One GIF frame with its own palette. Frames are colour-mapped fields on
/// white with dark text: a few hundred distinct colours, so the 256 most
/// frequent, with the rest mapped to their nearest, look exact and cost far
/// less than a NeuQuant pass, which is kept for busier frames (composites).
fn gif_frame(img: &image::RgbImage) -> gif::Frame<'static> {
    use std::collections::HashMap;
    let (w, h) = (img.width() as u16, img.height() as u16);
    let key = |p: &[u8]| (p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32;
    let mut counts: HashMap<u32, u32> = HashMap::new();
    // Runs of equal pixels (maps are enlarged blocks) cost one lookup.
    let mut run = (u32::MAX, 0u32);
    for p in img.as_raw().chunks_exact(3) {
        let k = key(p);
        if k == run.0 {
            run.1 += 1;
            continue;
        }
        if run.1 > 0 {
            *counts.entry(run.0).or_default() += run.1;
        }
        run = (k, 1);
        if counts.len() > FAST_PALETTE_LIMIT {
            return gif::Frame::from_rgb_speed(w, h, img.as_raw(), 10);
        }
    }
    *counts.entry(run.0).or_default() += run.1;
    let mut by_count: Vec<(u32, u32)> = counts.into_iter().collect();
    by_count.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let chosen = choose_palette(by_count.into_iter().map(|(k, _)| k).collect());
    let rgb = |k: u32| [(k >> 16) as u8, (k >> 8) as u8, k as u8];
    let palette: Vec<[u8; 3]> = chosen.iter().map(|&k| rgb(k)).collect();
    let mut index: HashMap<u32, u8> = chosen
        .iter()
        .enumerate()
        .map(|(i, &k)| (k, i as u8))
        .collect();
    let nearest = |c: [u8; 3]| -> u8 {
        let d = |p: &[u8; 3]| {
            (0..3)
                .map(|i| (p[i] as i32 - c[i] as i32).pow(2))
                .sum::<i32>()
        };
        (0..palette.len())
            .min_by_key(|&i| d(&palette[i]))
            .unwrap_or(0) as u8
    };
    let mut last = (u32::MAX, 0u8);
    let buffer: Vec<u8> = img
        .as_raw()
        .chunks_exact(3)
        .map(|p| {
            let k = key(p);
            if k != last.0 {
                let i = *index.entry(k).or_insert_with(|| nearest(rgb(k)));
                last = (k, i);
            }
            last.1
        })
        .collect();
    gif::Frame::from_palette_pixels(w, h, buffer, palette.concat(), None)
}

/// Key colour of unchanged pixels: pure magenta, in none of the colour
/// maps, nor in the grey text.
const UNCHANGED: [u8; 3] = [255, 0, 255];

/// A GIF frame after `prev`: pixels equal to the previous frame's become
/// transparent (the previous frame shows through), so LZW codes long runs.
/// Exact: falls back to a full frame whenever the key colour could be
/// confused with a real one.
fn gif_delta_frame(img: &image::RgbImage, prev: &image::RgbImage) -> gif::Frame<'static> {
    let mut masked = img.clone();
    for (p, q) in masked.pixels_mut().zip(prev.pixels()) {
        if p.0 == UNCHANGED {
            return gif_frame(img);
        }
        if p.0 == q.0 {
            p.0 = UNCHANGED;
        }
    }
    let mut frame = gif_frame(&masked);
    let key = frame
        .palette
        .as_ref()
        .and_then(|pal| pal.chunks_exact(3).position(|c| c == UNCHANGED));
    let Some(key) = key else {
        return gif_frame(img);
    };
    // Only unchanged pixels may carry the key index.
    let exact = frame
        .buffer
        .iter()
        .zip(masked.pixels())
        .all(|(&i, p)| (i as usize == key) == (p.0 == UNCHANGED));
    if !exact {
        return gif_frame(img);
    }
    frame.transparent = Some(key as u8);
    frame
}

/// 256 of `colours` (most frequent first): the most frequent, a grey ramp
/// for anti-aliased text, and the remaining coloured ones spread evenly by
/// lightness. The colour maps are monotonic in lightness, so the spread
/// keeps colour bars and gentle gradients smooth where the frequent
/// colours alone would band them.
fn choose_palette(colours: Vec<u32>) -> Vec<u32> {
    const FREQUENT: usize = 144;
    const GREYS: u32 = 16;
    if colours.len() <= 256 {
        return colours;
    }
    let channels = |k: u32| [k >> 16 & 255, k >> 8 & 255, k & 255];
    let is_grey = |k: &u32| {
        let c = channels(*k);
        c.iter().max().unwrap() - c.iter().min().unwrap() < 12
    };
    let lightness = |k: &u32| {
        let [r, g, b] = channels(*k);
        2 * r + 5 * g + b
    };
    let mut chosen: Vec<u32> = colours[..FREQUENT].to_vec();
    chosen.extend((0..GREYS).map(|i| {
        let v = i * 255 / (GREYS - 1);
        v << 16 | v << 8 | v
    }));
    let mut rest: Vec<u32> = colours[FREQUENT..]
        .iter()
        .copied()
        .filter(|k| !is_grey(k))
        .collect();
    rest.sort_unstable_by_key(lightness);
    let spread = 256 - chosen.len();
    if rest.len() <= spread {
        chosen.extend(rest);
    } else {
        chosen.extend((0..spread).map(|i| rest[i * (rest.len() - 1) / (spread - 1)]));
    }
    chosen.sort_unstable();
    chosen.dedup();
    chosen
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

/// A lighter time-lapse: every `every`-th frame (the last always kept),
/// each resized by `scale` (`tmesim render --every N --scale F`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thin {
    pub every: usize,
    pub scale: f32,
}

impl Default for Thin {
    fn default() -> Self {
        Self {
            every: 1,
            scale: 1.0,
        }
    }
}

impl Thin {
    /// The frames kept, in order.
    pub fn select(&self, frames: &[PathBuf]) -> Vec<PathBuf> {
        let every = self.every.max(1);
        let mut kept: Vec<PathBuf> = frames.iter().step_by(every).cloned().collect();
        if let Some(last) = frames.last() {
            if kept.last() != Some(last) {
                kept.push(last.clone());
            }
        }
        kept
    }
}

/// Write `dest` as a looping time-lapse of `frames` at `fps`.
pub fn write(dest: &Path, frames: &[PathBuf], fps: f32, format: Format) -> Result<()> {
    write_thinned(dest, frames, fps, format, Thin::default())
}

/// Like [`write`], with frames dropped and resized as `thin` says.
pub fn write_thinned(
    dest: &Path,
    frames: &[PathBuf],
    fps: f32,
    format: Format,
    thin: Thin,
) -> Result<()> {
    let frames = &thin.select(frames)[..];
    if frames.is_empty() {
        bail!("no frames for {}", dest.display());
    }
    let read_rgb = |p: &Path| -> Result<image::RgbImage> {
        let img = read_rgb(p)?;
        if thin.scale == 1.0 {
            return Ok(img);
        }
        let w = ((img.width() as f32 * thin.scale).round() as u32).max(1);
        let h = ((img.height() as f32 * thin.scale).round() as u32).max(1);
        Ok(image::imageops::resize(
            &img,
            w,
            h,
            image::imageops::FilterType::Lanczos3,
        ))
    };
    let first = read_rgb(&frames[0])?;
    let mut file =
        AtomicFile::create(dest).with_context(|| format!("cannot write {}", dest.display()))?;
    encode(&mut file, first, frames, &read_rgb, fps, format)
        .with_context(|| format!("cannot write {}", dest.display()))?;
    file.commit()
        .with_context(|| format!("cannot write {}", dest.display()))
}

/// Encode the time-lapse into `file`; `first` is frame 0, already read,
/// and `read` reads (and scales) every other frame as it read the first.
fn encode(
    file: &mut AtomicFile,
    first: image::RgbImage,
    frames: &[PathBuf],
    read: &dyn Fn(&Path) -> Result<image::RgbImage>,
    fps: f32,
    format: Format,
) -> Result<()> {
    let (w, h) = first.dimensions();
    let mut next = Some(first);
    let mut load = |k: usize| -> Result<image::RgbImage> {
        let img = match next.take() {
            Some(img) => img,
            None => read(&frames[k])?,
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
            let mut prev: Option<image::RgbImage> = None;
            for k in 0..frames.len() {
                let img = load(k)?;
                let mut frame = match &prev {
                    Some(p) => gif_delta_frame(&img, p),
                    None => gif_frame(&img),
                };
                // Each frame stays on screen under the next one, whose
                // unchanged pixels are transparent.
                frame.dispose = gif::DisposalMethod::Keep;
                frame.delay = delay;
                enc.write_frame(&frame)?;
                prev = Some(img);
            }
        }
        Format::Apng => {
            let mut enc = png::Encoder::new(file, w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_compression(png::Compression::Fast);
            enc.set_animated(frames.len() as u32, 0)?;
            let (num, den) = apng_delay(fps);
            enc.set_frame_delay(num, den)?;
            let mut writer = enc.write_header()?;
            for k in 0..frames.len() {
                writer.write_image_data(load(k)?.as_raw())?;
            }
            writer.finish()?;
        }
    }
    Ok(())
}

/// An APNG frame delay of 1/`fps` seconds as num/den, both 16-bit: the
/// exact 1000 / (1000 fps) in lowest terms where it fits (every fps with
/// three decimals up to 65.535, and 100, 80, 75...), else the closest
/// num/65535. (Clamping 1000 fps at 65535 made fps > 65.5 play slower.)
pub fn apng_delay(fps: f32) -> (u16, u16) {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let den = ((fps as f64) * 1000.0).round().max(1.0) as u64;
    let g = gcd(1000, den);
    let (n, d) = (1000 / g, den / g);
    if n <= 65535 && d <= 65535 {
        return (n as u16, d as u16);
    }
    let n = (65535.0 / fps as f64).round().clamp(1.0, 65535.0);
    (n as u16, 65535)
}

#[cfg(test)]
mod tests {
    #[test]
    fn apng_delays_are_one_over_fps_at_every_allowed_rate() {
        for fps in [
            0.1f32, 0.5, 1.0, 7.0, 12.0, 24.0, 29.97, 30.0, 60.0, 65.0, 66.0, 70.0, 99.7, 100.0,
        ] {
            let (n, d) = super::apng_delay(fps);
            let played = n as f64 / d as f64 * fps as f64;
            assert!(
                (played - 1.0).abs() < 1e-3,
                "fps {fps}: delay {n}/{d} s plays at {} fps",
                fps as f64 / played
            );
        }
        assert_eq!(super::apng_delay(100.0), (1, 100));
    }
}
