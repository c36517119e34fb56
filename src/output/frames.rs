//! Labelled frames: a field's map on its fixed colour scale with the field
//! name, the simulated time, a colour bar with units and ticks and a scale
//! bar in um. 3D grids show a chosen z plane beside the maximum-intensity
//! projection. Also the montage (many fields per image) and the RGB
//! composite (three fields as red, green and blue over black tissue).

use super::colormap::{nice_ticks, ColorMap, Scale};
use super::plot::format_tick;
use super::text::{draw_text, text_width, Align};
use crate::model::fields::FieldSpec;
use crate::model::grid::Grid;
use image::{Rgb, RgbImage};
use std::path::Path;

/// One field to draw: what it is, its values, its fixed scale.
#[derive(Clone, Copy)]
pub struct FieldView<'a> {
    pub spec: &'a FieldSpec,
    pub data: &'a [f32],
    pub scale: Scale,
}

/// Sizes of one kind of frame.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    /// The map is enlarged by a whole factor to at least this many pixels
    /// along its longer side.
    pub map_px: usize,
    pub title_px: f32,
    pub label_px: f32,
    /// Print the field's description under its name.
    pub describe: bool,
}

/// A frame on its own.
pub const FULL: Style = Style {
    map_px: 400,
    title_px: 20.0,
    label_px: 14.0,
    describe: true,
};

/// A panel of the montage.
pub const PANEL: Style = Style {
    map_px: 220,
    title_px: 16.0,
    label_px: 12.0,
    describe: false,
};

const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
const GREY: Rgb<u8> = Rgb([90, 90, 90]);
const PAD: u32 = 10;
const BAR_W: u32 = 16;
const TICK_LEN: u32 = 5;

/// Which planes a frame shows: the slice, and in 3D the projection too.
struct Planes {
    maps: Vec<(String, Vec<f32>)>,
}

fn planes(grid: &Grid, data: &[f32], slice_z: usize) -> Planes {
    let n = grid.nx * grid.ny;
    let z = slice_z.min(grid.nz - 1);
    let slice = data[z * n..(z + 1) * n].to_vec();
    if grid.nz == 1 {
        return Planes {
            maps: vec![(String::new(), slice)],
        };
    }
    let mut mip = vec![f32::NEG_INFINITY; n];
    for plane in data.chunks_exact(n) {
        for (m, &v) in mip.iter_mut().zip(plane) {
            *m = m.max(v);
        }
    }
    let z_um = (z as f32 + 0.5) * grid.dx_um;
    Planes {
        maps: vec![
            (format!("z = {z} ({z_um:.0} µm)"), slice),
            ("max projection over z".into(), mip),
        ],
    }
}

fn zoom(grid: &Grid, style: &Style) -> u32 {
    style.map_px.div_ceil(grid.nx.max(grid.ny)).max(1) as u32
}

fn fill(img: &mut RgbImage, (x, y): (u32, u32), (w, h): (u32, u32), c: Rgb<u8>) {
    for py in y..(y + h).min(img.height()) {
        for px in x..(x + w).min(img.width()) {
            img.put_pixel(px, py, c);
        }
    }
}

/// Paint a map at (x0, y0), each voxel a `s` x `s` block; y points up.
fn paint_map(
    img: &mut RgbImage,
    grid: &Grid,
    (x0, y0): (u32, u32),
    s: u32,
    color: impl Fn(usize) -> [u8; 3],
) {
    for y in 0..grid.ny {
        let py = y0 + (grid.ny - 1 - y) as u32 * s;
        for x in 0..grid.nx {
            let c = Rgb(color(x + y * grid.nx));
            fill(img, (x0 + x as u32 * s, py), (s, s), c);
        }
    }
}

/// A round length near a quarter of the width, for the scale bar.
fn scale_bar_um(width_um: f32) -> f32 {
    const NICE: [f32; 14] = [
        1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 250.0, 500.0, 1000.0, 2000.0, 5000.0,
        10000.0,
    ];
    NICE.iter()
        .copied()
        .rev()
        .find(|&l| l <= 0.3 * width_um)
        .unwrap_or(1.0)
}

fn length_label(um: f32) -> String {
    if um >= 1000.0 {
        format!("{} mm", format_tick(um as f64 / 1000.0))
    } else {
        format!("{} µm", format_tick(um as f64))
    }
}

/// Height of the scale bar row under the maps.
fn scale_bar_height(style: &Style) -> u32 {
    (style.label_px * 1.4) as u32 + 6
}

fn draw_scale_bar(img: &mut RgbImage, grid: &Grid, (x, y): (u32, u32), s: u32, style: &Style) {
    let um = scale_bar_um(grid.nx as f32 * grid.dx_um);
    let len = (um / grid.dx_um * s as f32).round() as u32;
    let mid = y + (style.label_px * 0.7) as u32;
    fill(img, (x, mid - 2), (len, 4), BLACK);
    fill(img, (x, mid - 6), (2, 12), BLACK);
    fill(img, (x + len - 2, mid - 6), (2, 12), BLACK);
    draw_text(
        img,
        &length_label(um),
        ((x + len + 8) as f32, y as f32),
        style.label_px,
        BLACK,
        Align::Left,
    );
}

/// Width of the colour bar column (bar, ticks, labels, unit on top).
fn colorbar_width(view: &FieldView, style: &Style) -> u32 {
    let ticks = nice_ticks(view.scale.min, view.scale.max, 5);
    let labels = ticks
        .iter()
        .map(|&t| text_width(&format_tick(t as f64), style.label_px))
        .fold(0.0, f32::max);
    let unit = text_width(view.spec.unit, style.label_px);
    ((BAR_W + TICK_LEN + 4) as f32 + labels).max(unit) as u32 + 2
}

fn draw_colorbar(img: &mut RgbImage, view: &FieldView, (x, y): (u32, u32), h: u32, style: &Style) {
    let unit_h = (style.label_px * 1.5) as u32;
    draw_text(
        img,
        view.spec.unit,
        (x as f32, y as f32),
        style.label_px,
        BLACK,
        Align::Left,
    );
    // Half a label of room above and below so end labels stay inside.
    let half = (style.label_px * 0.6) as u32;
    let top = y + unit_h + half;
    let bar_h = h.saturating_sub(unit_h + 2 * half).max(10);
    let lut = ColorMap::for_field(view.spec, &view.scale).lut();
    for k in 0..bar_h {
        let t = 1.0 - k as f32 / (bar_h - 1) as f32;
        let c = lut[(t * (lut.len() - 1) as f32).round() as usize];
        fill(img, (x, top + k), (BAR_W, 1), Rgb(c));
    }
    let (lo, hi) = (view.scale.min, view.scale.max);
    for t in nice_ticks(lo, hi, 5) {
        let frac = (t - lo) / (hi - lo);
        let py = top + ((1.0 - frac) * (bar_h - 1) as f32).round() as u32;
        fill(img, (x + BAR_W, py), (TICK_LEN, 1), BLACK);
        draw_text(
            img,
            &format_tick(t as f64),
            (
                (x + BAR_W + TICK_LEN + 3) as f32,
                py as f32 - style.label_px * 0.6,
            ),
            style.label_px,
            BLACK,
            Align::Left,
        );
    }
    // Outline, so light ends of the map read against white.
    fill(img, (x, top), (BAR_W, 1), GREY);
    fill(img, (x, top + bar_h - 1), (BAR_W, 1), GREY);
    fill(img, (x, top), (1, bar_h), GREY);
    fill(img, (x + BAR_W - 1, top), (1, bar_h), GREY);
}

/// The header: title left, time right, optional second line.
fn header_height(style: &Style, second_line: bool) -> u32 {
    let line = (style.title_px * 1.35) as u32;
    PAD + line
        + if second_line {
            (style.label_px * 1.4) as u32
        } else {
            0
        }
}

fn draw_header(
    img: &mut RgbImage,
    title: &str,
    detail: Option<&str>,
    time_days: Option<f64>,
    style: &Style,
) {
    let w = img.width() as f32;
    draw_text(
        img,
        title,
        (PAD as f32, PAD as f32 * 0.6),
        style.title_px,
        BLACK,
        Align::Left,
    );
    if let Some(t) = time_days {
        draw_text(
            img,
            &day_label(t),
            (w - PAD as f32, PAD as f32 * 0.6),
            style.title_px,
            BLACK,
            Align::Right,
        );
    }
    if let Some(d) = detail {
        let y = PAD as f32 * 0.6 + style.title_px * 1.35;
        draw_text(img, d, (PAD as f32, y), style.label_px, GREY, Align::Left);
    }
}

/// "day 12.0" (one decimal: saves need not fall on whole days).
pub fn day_label(t: f64) -> String {
    format!("day {t:.1}")
}

/// The common layout of a field frame and a composite: header, maps in a
/// row (with captions in 3D), a scale bar, a right column of `side_w`.
struct Layout {
    zoom: u32,
    maps_at: Vec<(u32, u32)>,
    map_size: (u32, u32),
    side_at: (u32, u32),
    scale_bar_at: (u32, u32),
    size: (u32, u32),
}

fn layout(grid: &Grid, n_maps: usize, side_w: u32, header_h: u32, style: &Style) -> Layout {
    let s = zoom(grid, style);
    let (mw, mh) = (grid.nx as u32 * s, grid.ny as u32 * s);
    let caption_h = if n_maps > 1 {
        (style.label_px * 1.5) as u32
    } else {
        0
    };
    let gap = PAD * 2;
    let maps_y = header_h + caption_h;
    let maps_at: Vec<_> = (0..n_maps as u32)
        .map(|k| (PAD + k * (mw + gap), maps_y))
        .collect();
    let maps_right = PAD + n_maps as u32 * (mw + gap) - gap;
    let side_at = (maps_right + 2 * PAD, header_h);
    let scale_bar_at = (PAD, maps_y + mh + 6);
    let width = side_at.0 + side_w + PAD;
    let height = scale_bar_at.1 + scale_bar_height(style) + PAD / 2;
    Layout {
        zoom: s,
        maps_at,
        map_size: (mw, mh),
        side_at,
        scale_bar_at,
        size: (width, height),
    }
}

fn draw_captions(img: &mut RgbImage, l: &Layout, planes: &Planes, style: &Style) {
    if planes.maps.len() < 2 {
        return;
    }
    for ((caption, _), &(x, y)) in planes.maps.iter().zip(&l.maps_at) {
        let cy = y as f32 - style.label_px * 1.4;
        draw_text(
            img,
            caption,
            (x as f32, cy),
            style.label_px,
            GREY,
            Align::Left,
        );
    }
}

/// One field as a labelled frame. `time_days` None leaves the time out
/// (montage panels, whose montage carries it).
pub fn render_field(
    grid: &Grid,
    slice_z: usize,
    view: &FieldView,
    time_days: Option<f64>,
    style: &Style,
) -> RgbImage {
    let planes = planes(grid, view.data, slice_z);
    let header_h = header_height(style, style.describe);
    let side_w = colorbar_width(view, style);
    let l = layout(grid, planes.maps.len(), side_w, header_h, style);
    let mut img = RgbImage::from_pixel(l.size.0, l.size.1, WHITE);
    let lut = ColorMap::for_field(view.spec, &view.scale).lut();
    for ((_, plane), &at) in planes.maps.iter().zip(&l.maps_at) {
        paint_map(&mut img, grid, at, l.zoom, |i| {
            lut[view.scale.index(plane[i])]
        });
    }
    draw_captions(&mut img, &l, &planes, style);
    draw_colorbar(
        &mut img,
        view,
        l.side_at,
        l.map_size.1 + (l.maps_at[0].1 - header_h),
        style,
    );
    draw_scale_bar(&mut img, grid, l.scale_bar_at, l.zoom, style);
    draw_header(
        &mut img,
        view.spec.name,
        style.describe.then_some(view.spec.description),
        time_days,
        style,
    );
    img
}

/// Channel colours of the composite, in order.
pub const COMPOSITE_CHANNELS: [(&str, [u8; 3]); 3] = [
    ("red", [255, 40, 40]),
    ("green", [40, 255, 40]),
    ("blue", [60, 110, 255]),
];

/// Three fields added as red, green and blue light over black, each on its
/// own fixed scale, with a legend naming them.
pub fn render_composite(
    grid: &Grid,
    slice_z: usize,
    views: &[FieldView; 3],
    time_days: Option<f64>,
    style: &Style,
) -> RgbImage {
    let planes: Vec<Planes> = views
        .iter()
        .map(|v| planes(grid, v.data, slice_z))
        .collect();
    let header_h = header_height(style, style.describe);
    let legend: Vec<String> = views
        .iter()
        .map(|v| {
            format!(
                "{} 0–{} {}",
                v.spec.name,
                format_tick(v.scale.max as f64),
                v.spec.unit
            )
        })
        .collect();
    let swatch = style.label_px as u32;
    let side_w = swatch
        + 6
        + legend
            .iter()
            .map(|t| text_width(t, style.label_px))
            .fold(0.0, f32::max) as u32;
    let l = layout(grid, planes[0].maps.len(), side_w, header_h, style);
    let mut img = RgbImage::from_pixel(l.size.0, l.size.1, WHITE);
    for (m, &at) in l.maps_at.iter().enumerate() {
        paint_map(&mut img, grid, at, l.zoom, |i| {
            let mut c = [0f32; 3];
            for (k, view) in views.iter().enumerate() {
                let t = view.scale.unit(planes[k].maps[m].1[i]);
                for (ch, &base) in c.iter_mut().zip(&COMPOSITE_CHANNELS[k].1) {
                    *ch += t * base as f32;
                }
            }
            c.map(|v| v.min(255.0) as u8)
        });
    }
    draw_captions(&mut img, &l, &planes[0], style);
    for (k, text) in legend.iter().enumerate() {
        let y = l.side_at.1 + k as u32 * (style.label_px * 1.8) as u32;
        fill(
            &mut img,
            (l.side_at.0, y + 2),
            (swatch, swatch),
            Rgb(COMPOSITE_CHANNELS[k].1),
        );
        draw_text(
            &mut img,
            text,
            ((l.side_at.0 + swatch + 6) as f32, y as f32),
            style.label_px,
            BLACK,
            Align::Left,
        );
    }
    draw_scale_bar(&mut img, grid, l.scale_bar_at, l.zoom, style);
    let title = format!(
        "composite: {} / {} / {}",
        views[0].spec.name, views[1].spec.name, views[2].spec.name
    );
    draw_header(
        &mut img,
        &title,
        style
            .describe
            .then_some("each field on its own fixed scale, added as light"),
        time_days,
        style,
    );
    img
}

/// Panels in a grid of `columns`, under a title line with the time.
pub fn render_montage(
    title: &str,
    panels: &[RgbImage],
    columns: usize,
    time_days: f64,
) -> RgbImage {
    let columns = columns.clamp(1, panels.len().max(1)) as u32;
    let rows = (panels.len() as u32).div_ceil(columns);
    let cell_w = panels.iter().map(|p| p.width()).max().unwrap_or(1);
    let cell_h = panels.iter().map(|p| p.height()).max().unwrap_or(1);
    let header_h = header_height(&FULL, false);
    let w = columns * cell_w;
    let mut img = RgbImage::from_pixel(w, header_h + rows * cell_h, WHITE);
    for (k, panel) in panels.iter().enumerate() {
        let (c, r) = (k as u32 % columns, k as u32 / columns);
        image::imageops::replace(
            &mut img,
            panel,
            (c * cell_w) as i64,
            (header_h + r * cell_h) as i64,
        );
    }
    draw_header(&mut img, title, None, Some(time_days), &FULL);
    img
}

/// Save a frame as PNG, default compression: a third smaller than the
/// fastest level for montages, for a few ms per frame.
pub fn save_png(img: &RgbImage, path: &Path) -> image::ImageResult<()> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut file = super::atomic::AtomicFile::create(path)?;
    let encoder =
        PngEncoder::new_with_quality(&mut file, CompressionType::Default, FilterType::Adaptive);
    img.write_with_encoder(encoder)?;
    Ok(file.commit()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fields::{idx, FIELDS};

    #[test]
    fn scale_bar_is_round_and_fits() {
        assert_eq!(scale_bar_um(2500.0), 500.0);
        assert_eq!(scale_bar_um(5000.0), 1000.0);
        assert_eq!(scale_bar_um(1600.0), 250.0);
        assert_eq!(length_label(1000.0), "1 mm");
        assert_eq!(length_label(500.0), "500 µm");
    }

    #[test]
    fn frame_pixels_follow_the_colour_map_with_y_up() {
        let grid = Grid {
            nx: 4,
            ny: 3,
            nz: 1,
            dx_um: 10.0,
        };
        let mut data = vec![0.0; 12];
        data[0] = 1.0; // x = 0, y = 0: bottom left
        let spec = &FIELDS[idx::TUMOR];
        let scale = Scale::from_display_max(1.0);
        let view = FieldView {
            spec,
            data: &data,
            scale,
        };
        let img = render_field(&grid, 0, &view, Some(1.0), &FULL);
        let l = layout(
            &grid,
            1,
            colorbar_width(&view, &FULL),
            header_height(&FULL, true),
            &FULL,
        );
        let lut = ColorMap::Viridis.lut();
        let (x0, y0) = l.maps_at[0];
        let bottom_left = img.get_pixel(x0 + 1, y0 + l.map_size.1 - 2).0;
        let top_left = img.get_pixel(x0 + 1, y0 + 1).0;
        assert_eq!(bottom_left, lut[255]);
        assert_eq!(top_left, lut[0]);
    }

    #[test]
    fn three_d_frames_show_the_slice_and_the_projection() {
        let grid = Grid {
            nx: 4,
            ny: 4,
            nz: 3,
            dx_um: 10.0,
        };
        let mut data = vec![0.0; grid.len()];
        data[grid.index(0, 0, 2)] = 1.0; // off the middle plane (z = 1)
        let view = FieldView {
            spec: &FIELDS[idx::TUMOR],
            data: &data,
            scale: Scale::from_display_max(1.0),
        };
        let img = render_field(&grid, 1, &view, None, &FULL);
        let l = layout(
            &grid,
            2,
            colorbar_width(&view, &FULL),
            header_height(&FULL, true),
            &FULL,
        );
        let lut = ColorMap::Viridis.lut();
        let corner = |k: usize| {
            let (x0, y0) = l.maps_at[k];
            img.get_pixel(x0 + 1, y0 + l.map_size.1 - 2).0
        };
        assert_eq!(corner(0), lut[0], "the z = 1 slice has no signal");
        assert_eq!(corner(1), lut[255], "the projection shows the z = 2 voxel");
    }
}
