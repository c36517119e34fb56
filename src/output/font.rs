//! The one font every output draws text with: DejaVu Sans, shipped in
//! assets/fonts/ (licence beside it), so frames and plots look the same on
//! every machine and need no system fonts.

use ab_glyph::FontRef;
use std::sync::OnceLock;

/// The shipped TTF file.
pub fn font_bytes() -> &'static [u8] {
    include_bytes!("../../assets/fonts/DejaVuSans.ttf")
}

/// The parsed font, for drawing text onto frames.
pub fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(font_bytes()).expect("shipped font parses"))
}

/// The family name plots ask plotters for.
pub const PLOT_FAMILY: &str = "sans-serif";

/// Register the shipped font with plotters under [`PLOT_FAMILY`]; plotters
/// built with `ab_glyph` finds no font otherwise. Safe to call repeatedly.
pub fn register_plot_font() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        use plotters::style::FontStyle;
        for style in [FontStyle::Normal, FontStyle::Bold] {
            plotters::style::register_font(PLOT_FAMILY, style, font_bytes())
                .unwrap_or_else(|_| panic!("shipped font registers"));
        }
    });
}
