//! Line charts as PNG, drawn with plotters and the shipped font: labelled
//! axes, a legend beside the plot (never over the data) when there is more
//! than one line, y axes from zero for non-negative data, NaN points left
//! out (the line breaks there). Used for timeseries.png and by other
//! commands that plot series.

use super::font::{register_plot_font, PLOT_FAMILY};
use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// One labelled line.
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// A labelled horizontal reference line (a response threshold, say).
#[derive(Clone, Debug)]
pub struct Guide {
    pub y: f64,
    pub label: String,
}

/// One chart: its title, axis labels (with units), lines and reference
/// lines (the y axis always reaches them).
#[derive(Clone, Debug)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub guides: Vec<Guide>,
}

/// Pixel size of a single chart and of each panel of a grid.
const CHART_PX: (u32, u32) = (900, 560);
const PANEL_PX: (u32, u32) = (600, 400);
/// Width of the legend column right of a chart with several lines.
const LEGEND_PX: u32 = 170;

/// One chart in a PNG file.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    guides: &[Guide],
) -> Result<()> {
    let panel = Panel {
        title: title.into(),
        x_label: x_label.into(),
        y_label: y_label.into(),
        series: series.to_vec(),
        guides: guides.to_vec(),
    };
    draw_png_with_text(path, CHART_PX, |root, texts| {
        draw_panel(root, &panel, 22, texts)
    })
}

/// Several charts in a grid of `columns` columns, in one PNG file.
pub fn panel_grid(path: &Path, panels: &[Panel], columns: usize) -> Result<()> {
    let columns = columns.clamp(1, panels.len().max(1));
    let rows = panels.len().div_ceil(columns).max(1);
    let size = (PANEL_PX.0 * columns as u32, PANEL_PX.1 * rows as u32);
    draw_png_with_text(path, size, |root, texts| {
        for (area, panel) in root.split_evenly((rows, columns)).iter().zip(panels) {
            draw_panel(area, panel, 19, texts)?;
        }
        Ok(())
    })
}

/// Draw into an RGB buffer and save it with `image` (plotters' own encoder
/// would pull in a second version of the image crate).
pub(crate) fn draw_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> Result<()>,
) -> Result<()> {
    draw_png_with_text(path, size, |root, _| draw(root))
}

/// A line of text drawn after plotters has finished, by tmesim's own
/// glyph layout (`output::text`, with the font's kerning): plotters' text
/// path spaces some letters wrongly at small sizes ("anti _pd1").
pub(crate) struct PlotText {
    pub text: String,
    /// Top-left corner, in pixels of the whole image.
    pub at: (i32, i32),
    pub px: f32,
    pub color: RGBColor,
}

/// `draw_png`, where `draw` may also leave lines of text for the glyph
/// layout of `output::text` to draw on top.
fn draw_png_with_text(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>, &mut Vec<PlotText>) -> Result<()>,
) -> Result<()> {
    register_plot_font();
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let mut texts = Vec::new();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw(&root, &mut texts)?;
        root.present().map_err(|e| anyhow!("plot: {e}"))?;
    }
    let mut img = image::RgbImage::from_raw(w, h, buf).expect("buffer matches size");
    for t in &texts {
        let RGBColor(r, g, b) = t.color;
        super::text::draw_text(
            &mut img,
            &t.text,
            (t.at.0 as f32, t.at.1 as f32),
            t.px,
            image::Rgb([r, g, b]),
            super::text::Align::Left,
        );
    }
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| anyhow!("cannot encode {}: {e}", path.display()))?;
    super::atomic::write(path, png.into_inner())
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
}

/// Colours of successive series (Tableau 10: distinct, colour-blind aware).
pub(crate) fn series_color(k: usize) -> RGBColor {
    let c = colorous::TABLEAU10[k % colorous::TABLEAU10.len()];
    RGBColor(c.r, c.g, c.b)
}

fn draw_panel(
    whole: &DrawingArea<BitMapBackend, Shift>,
    panel: &Panel,
    title_px: u32,
    texts: &mut Vec<PlotText>,
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<_>| anyhow!("plot {}: {e}", panel.title);
    // Several lines: the legend gets a column of its own, right of the plot.
    let labelled = panel.series.len() > 1;
    let (area, legend_area) = if labelled {
        let w = whole.dim_in_pixel().0;
        let (a, l) = whole.split_horizontally(w.saturating_sub(LEGEND_PX));
        (a, Some(l))
    } else {
        (whole.clone(), None)
    };
    let area = &area;
    let finite = || {
        panel
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    // The guides' levels count as data for the y axis (at the first x).
    let x_first = finite().map(|(x, _)| x).fold(f64::INFINITY, f64::min);
    let guide_points = panel
        .guides
        .iter()
        .filter(|_| x_first.is_finite())
        .map(|g| (x_first, g.y));
    let (x_range, y_range) = axis_ranges(finite().chain(guide_points));
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (PLOT_FAMILY, title_px))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d(x_range.clone(), y_range.clone())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(&panel.x_label)
        .y_desc(&panel.y_label)
        .label_style((PLOT_FAMILY, 14))
        .axis_desc_style((PLOT_FAMILY, 16))
        .light_line_style(RGBColor(245, 245, 245))
        .bold_line_style(RGBColor(210, 210, 210))
        .y_label_formatter(&|v| format_tick(*v))
        .x_label_formatter(&|v| format_tick(*v))
        .draw()
        .map_err(err)?;
    for g in &panel.guides {
        let grey = RGBColor(110, 110, 110);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x_range.start, g.y), (x_range.end, g.y)],
                grey.stroke_width(1),
            )))
            .map_err(err)?;
        let (gx, gy) = chart.backend_coord(&(x_range.start, g.y));
        texts.push(PlotText {
            text: g.label.clone(),
            at: (gx + 4, gy - 16),
            px: 13.0,
            color: grey,
        });
    }
    for (k, s) in panel.series.iter().enumerate() {
        let style = series_color(k).stroke_width(2);
        for segment in finite_segments(&s.points) {
            // A lone point has no line to draw: mark it.
            if segment.len() == 1 {
                chart.draw_series(std::iter::once(Circle::new(segment[0], 3, style.filled())))
            } else {
                chart.draw_series(LineSeries::new(segment, style))
            }
            .map_err(err)?;
        }
    }
    if let Some(legend) = legend_area {
        for (k, s) in panel.series.iter().enumerate() {
            let y = 60 + 24 * k as i32;
            let style = series_color(k).stroke_width(3);
            legend
                .draw(&PathElement::new(vec![(8, y), (32, y)], style))
                .map_err(err)?;
            let (x0, y0) = legend.get_base_pixel();
            texts.push(PlotText {
                text: s.label.clone(),
                at: (x0 + 40, y0 + y - 8),
                px: 14.0,
                color: BLACK,
            });
        }
    }
    Ok(())
}

/// Runs of consecutive finite points; a NaN ends a run.
fn finite_segments(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    points
        .split(|(x, y)| !(x.is_finite() && y.is_finite()))
        .filter(|run| !run.is_empty())
        .map(|run| run.to_vec())
        .collect()
}

/// Axis ranges around the data, with a margin; y starts at 0 when the data
/// are non-negative, so a small change does not look dramatic.
fn axis_ranges(
    points: impl Iterator<Item = (f64, f64)>,
) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in points {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        return (0.0..1.0, 0.0..1.0);
    }
    if x1 - x0 <= 0.0 {
        (x0, x1) = (x0 - 0.5, x1 + 0.5);
    }
    if y0 >= 0.0 {
        y0 = 0.0;
    }
    let pad = if y1 > y0 {
        0.06 * (y1 - y0)
    } else {
        0.5 * y1.abs().max(1e-12)
    };
    let y_low = if y0 == 0.0 { 0.0 } else { y0 - pad };
    (x0..x1, y_low..y1 + pad)
}

/// Tick labels short and without float noise: 0.30000000000000004 -> 0.3.
pub fn format_tick(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_points_break_the_line() {
        let pts = [(0.0, 1.0), (1.0, f64::NAN), (2.0, 3.0), (3.0, 4.0)];
        let segs = finite_segments(&pts);
        assert_eq!(segs, vec![vec![(0.0, 1.0)], vec![(2.0, 3.0), (3.0, 4.0)]]);
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(format_tick(0.30000000000000004), "0.3");
        assert_eq!(format_tick(20.0), "20");
        assert_eq!(format_tick(0.0), "0");
        assert_eq!(format_tick(1.5e-5), "1.5e-5");
    }

    #[test]
    fn chart_writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = std::env::var_os("TMESIM_KEEP_PLOT")
            .map_or_else(|| dir.path().join("c.png"), std::path::PathBuf::from);
        let series = vec![
            Series {
                label: "a".into(),
                points: (0..10).map(|i| (i as f64, (i * i) as f64)).collect(),
            },
            Series {
                label: "b (gaps)".into(),
                points: vec![(0.0, f64::NAN), (1.0, 2.0), (2.0, f64::NAN)],
            },
            Series {
                label: "empty".into(),
                points: vec![],
            },
        ];
        line_chart(&path, "title", "time (days)", "value (nM)", &series, &[]).unwrap();
        let img = image::open(&path).unwrap();
        assert_eq!((img.width(), img.height()), CHART_PX);
    }

    /// A reference line below all the data still shows: the y axis reaches
    /// it, and its grey line is drawn.
    #[test]
    fn guides_are_drawn_even_outside_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let series = vec![Series {
            label: "growing".into(),
            points: (0..10).map(|i| (i as f64, 10.0 * i as f64)).collect(),
        }];
        let grey_pixels = |guides: &[Guide]| {
            let path = dir.path().join(format!("g{}.png", guides.len()));
            line_chart(&path, "t", "time (days)", "change (%)", &series, guides).unwrap();
            let img = image::open(&path).unwrap().to_rgb8();
            img.pixels().filter(|p| p.0 == [110, 110, 110]).count()
        };
        let guide = Guide {
            y: -30.0,
            label: "-30%".into(),
        };
        // A line across the plot, several hundred pixels long (plotters
        // clips what lies outside the axes, so this also shows the axis
        // reached -30); anti-aliased text has a few such pixels anyway.
        let (without, with) = (grey_pixels(&[]), grey_pixels(&[guide]));
        assert!(with > without + 300, "{without} -> {with}");
    }
}
