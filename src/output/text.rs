//! Text on frames, rasterised by ab_glyph from the shipped font.

use super::font::font;
use ab_glyph::{Font, Glyph, PxScale, ScaleFont};
use image::{Rgb, RgbImage};

/// Horizontal anchor of a text run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// Laid-out glyphs of one line, x from 0, baseline at y = 0.
fn layout(text: &str, px: f32) -> (Vec<Glyph>, f32) {
    let scaled = font().as_scaled(PxScale::from(px));
    let mut x = 0.0;
    let mut prev = None;
    let mut glyphs = Vec::new();
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            x += scaled.kern(p, id);
        }
        glyphs.push(id.with_scale_and_position(px, ab_glyph::point(x, 0.0)));
        x += scaled.h_advance(id);
        prev = Some(id);
    }
    (glyphs, x)
}

/// Width of `text` at `px` pixels per em.
pub fn text_width(text: &str, px: f32) -> f32 {
    layout(text, px).1
}

/// Height from the top of the line to the baseline.
pub fn ascent(px: f32) -> f32 {
    font().as_scaled(PxScale::from(px)).ascent()
}

/// Draw one line of text; `top` is the top of the line box.
pub fn draw_text(
    img: &mut RgbImage,
    text: &str,
    (x, top): (f32, f32),
    px: f32,
    color: Rgb<u8>,
    align: Align,
) {
    let (glyphs, width) = layout(text, px);
    let x0 = match align {
        Align::Left => x,
        Align::Right => x - width,
    }
    .round();
    let baseline = (top + ascent(px)).round();
    let (w, h) = img.dimensions();
    for g in glyphs {
        let Some(outline) = font().outline_glyph(g) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let px_x = x0 as i64 + bounds.min.x as i64 + gx as i64;
            let px_y = baseline as i64 + bounds.min.y as i64 + gy as i64;
            if px_x < 0 || px_y < 0 || px_x >= w as i64 || px_y >= h as i64 {
                return;
            }
            let p = img.get_pixel_mut(px_x as u32, px_y as u32);
            let a = coverage.clamp(0.0, 1.0);
            for c in 0..3 {
                p.0[c] = (p.0[c] as f32 * (1.0 - a) + color.0[c] as f32 * a).round() as u8;
            }
        });
    }
}
