//! The trial's figures: Kaplan-Meier progression-free survival per arm
//! with censoring marks and a numbers-at-risk table (pfs.png), best change
//! per patient per arm coloured by phenotype (waterfall.png), and the ORR
//! gain of every arm over the reference per phenotype (mechanism_map.png).

use super::records::Record;
use super::stats::{at_risk, kaplan_meier};
use super::tables::{followups, of_arm, MapCell};
use crate::output::arms::{PROGRESSION_RISE, RESPONSE_CHANGE};
use crate::output::font::PLOT_FAMILY;
use crate::output::plot::{draw_png, series_color};
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

fn plot_err<E: std::fmt::Debug>(what: &str) -> impl Fn(E) -> anyhow::Error + '_ {
    move |e| anyhow!("{what}: {e:?}")
}

/// Kaplan-Meier curves of every arm, censoring marks, numbers at risk,
/// and each published median PFS (`published`: arm index and day) as a
/// diamond on the 50% line in its arm's colour.
pub fn pfs(
    path: &Path,
    arms: &[String],
    records: &[Record],
    end_day: f64,
    published: &[(usize, f64)],
) -> Result<()> {
    let table_px = 40 + 22 * arms.len() as u32;
    let err = plot_err("pfs.png");
    draw_png(path, (1000, 620 + table_px), |root| {
        let (top, bottom) = root.split_vertically(620);
        let (plot, legend) = top.split_horizontally(780);
        let mut chart = ChartBuilder::on(&plot)
            .caption(
                "Progression-free survival (Kaplan-Meier)",
                (PLOT_FAMILY, 22),
            )
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..end_day, 0.0..1.02)
            .map_err(&err)?;
        chart
            .configure_mesh()
            .x_desc("days since the start of treatment")
            .y_desc("progression-free fraction")
            .label_style((PLOT_FAMILY, 14))
            .axis_desc_style((PLOT_FAMILY, 16))
            .light_line_style(RGBColor(245, 245, 245))
            .draw()
            .map_err(&err)?;
        for (k, arm) in arms.iter().enumerate() {
            let f = followups(&of_arm(records, arm));
            let color = series_color(k);
            // The step curve: flat to each event time, then down.
            let mut pts = vec![(0.0, 1.0)];
            let mut s = 1.0;
            for step in kaplan_meier(&f) {
                pts.push((step.time, s));
                s = step.survival;
                pts.push((step.time, s));
            }
            pts.push((end_day, s));
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(&err)?;
            // Censoring marks: a short vertical tick on the curve.
            let level = |t: f64| pts.iter().rev().find(|(x, _)| *x <= t).map_or(1.0, |p| p.1);
            let marks = f.iter().filter(|x| !x.event).map(|x| {
                let y = level(x.time);
                PathElement::new(
                    vec![(x.time, y - 0.015), (x.time, y + 0.015)],
                    color.stroke_width(2),
                )
            });
            chart.draw_series(marks).map_err(&err)?;
            // A published median beyond follow-up has no place on the axis.
            for &(_, day) in published.iter().filter(|&&(a, d)| a == k && d <= end_day) {
                chart
                    .draw_series([EmptyElement::at((day, 0.5))
                        + Polygon::new(vec![(0, -8), (8, 0), (0, 8), (-8, 0)], color.filled())
                        + PathElement::new(
                            vec![(0, -8), (8, 0), (0, 8), (-8, 0), (0, -8)],
                            BLACK.stroke_width(1),
                        )])
                    .map_err(&err)?;
            }
            let y = 60 + 24 * k as i32;
            legend
                .draw(&PathElement::new(
                    vec![(8, y), (32, y)],
                    color.stroke_width(3),
                ))
                .map_err(&err)?;
            legend
                .draw(&Text::new(
                    arm.clone(),
                    (40, y - 8),
                    (PLOT_FAMILY, 13).into_font(),
                ))
                .map_err(&err)?;
        }
        legend
            .draw(&Text::new(
                "| censored",
                (8, 60 + 24 * arms.len() as i32),
                (PLOT_FAMILY, 13).into_font(),
            ))
            .map_err(&err)?;
        if published.iter().any(|&(_, d)| d <= end_day) {
            legend
                .draw(&Text::new(
                    "<> published median",
                    (8, 84 + 24 * arms.len() as i32),
                    (PLOT_FAMILY, 13).into_font(),
                ))
                .map_err(&err)?;
        }
        // Numbers at risk under the x axis, one row per arm.
        let x_px = |t: f64| 12 + 70 + ((780 - 12 - 12 - 70) as f64 * t / end_day) as i32;
        let ticks: Vec<f64> = (0..=6).map(|i| end_day * i as f64 / 6.0).collect();
        bottom
            .draw(&Text::new(
                "numbers at risk",
                (8, 4),
                (PLOT_FAMILY, 14).into_font(),
            ))
            .map_err(&err)?;
        for (k, arm) in arms.iter().enumerate() {
            let f = followups(&of_arm(records, arm));
            let y = 26 + 22 * k as i32;
            bottom
                .draw(&Text::new(
                    arm.clone(),
                    (790, y),
                    (PLOT_FAMILY, 13).into_font().color(&series_color(k)),
                ))
                .map_err(&err)?;
            for &t in &ticks {
                // At the last tick: those followed to the end.
                let n = at_risk(&f, t.min(end_day - 1e-9));
                bottom
                    .draw(&Text::new(
                        n.to_string(),
                        (x_px(t) - 8, y),
                        (PLOT_FAMILY, 13).into_font(),
                    ))
                    .map_err(&err)?;
            }
        }
        Ok(())
    })
}

/// Phenotype colours, by position in the sorted phenotype list (twelve
/// distinct colours: the shipped phenotypes are eleven).
fn phenotype_color(k: usize) -> RGBColor {
    let c = colorous::PAIRED[k % colorous::PAIRED.len()];
    RGBColor(c.r, c.g, c.b)
}

/// Best change per patient, sorted, one panel per arm.
pub fn waterfall(path: &Path, arms: &[String], records: &[Record]) -> Result<()> {
    let mut phenotypes: Vec<&str> = records.iter().map(|r| r.phenotype.as_str()).collect();
    phenotypes.sort();
    phenotypes.dedup();
    let columns = arms.len().clamp(1, 3);
    let rows = arms.len().div_ceil(columns);
    let (pw, ph) = (520u32, 360u32);
    // The legend: as many 200-pixel columns as the figure is wide.
    let legend_columns = (pw as usize * columns / 200).max(1);
    let legend_px = 24 + 20 * phenotypes.len().div_ceil(legend_columns) as u32;
    let err = plot_err("waterfall.png");
    let y_hi = records
        .iter()
        .map(|r| r.best_change_pct)
        .fold(40.0f64, f64::max)
        .min(300.0);
    draw_png(
        path,
        (pw * columns as u32, ph * rows as u32 + legend_px),
        |root| {
            let (panels, legend) = root.split_vertically(ph * rows as u32);
            for (area, arm) in panels.split_evenly((rows, columns)).iter().zip(arms) {
                let mut rs = of_arm(records, arm);
                rs.sort_by(|a, b| b.best_change_pct.total_cmp(&a.best_change_pct));
                let n = rs.len().max(1) as f64;
                let mut chart = ChartBuilder::on(area)
                    .caption(arm, (PLOT_FAMILY, 16))
                    .margin(8)
                    .x_label_area_size(24)
                    .y_label_area_size(56)
                    .build_cartesian_2d(0.0..n, -100.0..y_hi)
                    .map_err(&err)?;
                chart
                    .configure_mesh()
                    .disable_x_mesh()
                    .x_labels(0)
                    .x_desc("patients, sorted")
                    .y_desc("best change (%)")
                    .label_style((PLOT_FAMILY, 12))
                    .axis_desc_style((PLOT_FAMILY, 13))
                    .draw()
                    .map_err(&err)?;
                let bars = rs.iter().enumerate().map(|(i, r)| {
                    let k = phenotypes
                        .iter()
                        .position(|p| *p == r.phenotype)
                        .unwrap_or(0);
                    let v = r.best_change_pct.min(y_hi);
                    Rectangle::new(
                        [(i as f64 + 0.1, 0.0), (i as f64 + 0.9, v)],
                        phenotype_color(k).filled(),
                    )
                });
                chart.draw_series(bars).map_err(&err)?;
                for (level, label) in [
                    (100.0 * RESPONSE_CHANGE, "-30%"),
                    (100.0 * PROGRESSION_RISE, "+20%"),
                ] {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(0.0, level), (n, level)],
                            BLACK.mix(0.6).stroke_width(1),
                        )))
                        .map_err(&err)?
                        .label(label);
                }
            }
            for (k, p) in phenotypes.iter().enumerate() {
                let (x, y) = (
                    10 + 200 * (k % legend_columns) as i32,
                    12 + 20 * (k / legend_columns) as i32,
                );
                legend
                    .draw(&Rectangle::new(
                        [(x, y), (x + 14, y + 14)],
                        phenotype_color(k).filled(),
                    ))
                    .map_err(&err)?;
                legend
                    .draw(&Text::new(
                        p.to_string(),
                        (x + 20, y),
                        (PLOT_FAMILY, 13).into_font(),
                    ))
                    .map_err(&err)?;
            }
            Ok(())
        },
    )
}

/// Colour of an ORR gain (points): white at 0, green for gains, purple
/// for losses, saturating at 50 points.
fn gain_color(g: f64) -> RGBColor {
    let t = if g.is_finite() {
        (g.abs() / 50.0).min(1.0)
    } else {
        0.0
    };
    let (r, gr, b) = if g >= 0.0 {
        (27.0, 120.0, 55.0)
    } else {
        (118.0, 42.0, 131.0)
    };
    let mix = |c: f64| (255.0 + (c - 255.0) * t).round() as u8;
    RGBColor(mix(r), mix(gr), mix(b))
}

/// The mechanism map as a labelled heat map: phenotypes down, arms across.
pub fn mechanism_map(
    path: &Path,
    arms: &[String],
    cells: &[MapCell],
    reference: &str,
) -> Result<()> {
    let mut phenotypes: Vec<&str> = cells.iter().map(|c| c.phenotype.as_str()).collect();
    phenotypes.dedup();
    let arms: Vec<&String> = arms.iter().filter(|a| *a != reference).collect();
    let (label_w, cell_w, cell_h, top) = (170i32, 150i32, 34i32, 120i32);
    // Wide enough for the title and the note under the map.
    let w = (label_w + cell_w * arms.len().max(1) as i32 + 20).max(780) as u32;
    let h = (top + cell_h * phenotypes.len().max(1) as i32 + 50) as u32;
    let err = plot_err("mechanism_map.png");
    draw_png(path, (w, h), |root| {
        let font = |px: u32| (PLOT_FAMILY, px).into_font();
        root.draw(&Text::new(
            format!("Against {reference}, per phenotype: ORR gain and paired best-change shift"),
            (10, 10),
            font(18),
        ))
        .map_err(&err)?;
        for (j, arm) in arms.iter().enumerate() {
            let x = label_w + cell_w * j as i32;
            // Arm names can be long: one therapy per line.
            for (l, part) in arm.split('+').enumerate() {
                let text = if l == 0 {
                    part.to_string()
                } else {
                    format!("+{part}")
                };
                root.draw(&Text::new(text, (x + 6, 44 + 18 * l as i32), font(13)))
                    .map_err(&err)?;
            }
        }
        for (i, ph) in phenotypes.iter().enumerate() {
            let y = top + cell_h * i as i32;
            root.draw(&Text::new(ph.to_string(), (10, y + 9), font(14)))
                .map_err(&err)?;
            for (j, arm) in arms.iter().enumerate() {
                let x = label_w + cell_w * j as i32;
                let Some(c) = cells.iter().find(|c| c.phenotype == *ph && &c.arm == *arm) else {
                    continue;
                };
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell_w - 2, y + cell_h - 2)],
                    // Coloured by the continuous shift (deeper shrinkage:
                    // green), which shows a drug acting where no patient
                    // changes RECIST category.
                    gain_color(-c.best_change_shift_pts).filled(),
                ))
                .map_err(&err)?;
                let dark = c.best_change_shift_pts.abs() > 30.0;
                let color = if dark { WHITE } else { BLACK };
                root.draw(&Text::new(
                    format!(
                        "{:+.0} | {:+.1} (n={})",
                        c.gain_pts(),
                        c.best_change_shift_pts,
                        c.patients
                    ),
                    (x + 8, y + 9),
                    font(13).color(&color),
                ))
                .map_err(&err)?;
            }
        }
        root.draw(&Text::new(
            "cell: ORR gain (points) | mean paired shift of the best change (points; colour, green = deeper) | n = patients",
            (10, h as i32 - 30),
            font(12),
        ))
        .map_err(&err)?;
        Ok(())
    })
}

/// One row of the trial chart: a published figure and the model's value
/// of the same measure on the same arm, each with its 95% interval.
pub struct FigureRow {
    pub label: String,
    pub published: (f64, Option<f64>, Option<f64>),
    pub model: Option<(f64, Option<f64>, Option<f64>)>,
}

/// trial.png: per measure the model can read (ORR, disease control,
/// median PFS), a panel with one row per published figure: the model's
/// value as a bar with its 95% interval (or a note where its median was
/// not reached), the trial's as a black diamond with its own.
pub fn trial(path: &Path, panels: &[(String, Vec<FigureRow>)]) -> Result<()> {
    let rows: usize = panels.iter().map(|(_, r)| r.len()).sum();
    let height = 70 * panels.len() as u32 + 34 * rows as u32 + 40;
    let err = plot_err("trial.png");
    draw_png(path, (1000, height), |root| {
        let mut rest = root.clone();
        for (title, rows) in panels {
            let h = 70 + 34 * rows.len() as u32;
            let (area, below) = rest.split_vertically(h);
            rest = below;
            let top = rows
                .iter()
                .flat_map(|r| {
                    let (v, _, hi) = r.published;
                    let m = r.model.map_or(0.0, |(m, _, mh)| mh.unwrap_or(m));
                    [v, hi.unwrap_or(v), m]
                })
                .fold(1.0f64, f64::max)
                * 1.1;
            let n = rows.len();
            let mut chart = ChartBuilder::on(&area)
                .caption(title.as_str(), (PLOT_FAMILY, 18))
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(330)
                .build_cartesian_2d(0.0..top, -0.5..(n as f64 - 0.5))
                .map_err(&err)?;
            chart
                .configure_mesh()
                .y_labels(n)
                .y_label_formatter(&|y: &f64| {
                    let k = y.round();
                    if (y - k).abs() < 1e-6 && k >= 0.0 && (k as usize) < n {
                        rows[n - 1 - k as usize].label.clone()
                    } else {
                        String::new()
                    }
                })
                .label_style((PLOT_FAMILY, 13))
                .disable_y_mesh()
                .light_line_style(WHITE)
                .draw()
                .map_err(&err)?;
            for (i, r) in rows.iter().enumerate() {
                let y = (n - 1 - i) as f64;
                if r.model.is_none() {
                    // A median beyond follow-up: say so, not an empty bar.
                    chart
                        .draw_series([Text::new(
                            "model: not reached in follow-up",
                            (0.0, y + 0.3),
                            (PLOT_FAMILY, 12).into_font().color(&series_color(0)),
                        )])
                        .map_err(&err)?;
                }
                if let Some((m, lo, hi)) = r.model {
                    chart
                        .draw_series([Rectangle::new(
                            [(0.0, y - 0.3), (m, y + 0.3)],
                            series_color(0).mix(0.45).filled(),
                        )])
                        .map_err(&err)?;
                    if let (Some(lo), Some(hi)) = (lo, hi) {
                        chart
                            .draw_series([PathElement::new(
                                vec![(lo, y), (hi, y)],
                                series_color(0).stroke_width(2),
                            )])
                            .map_err(&err)?;
                    }
                }
                let (v, lo, hi) = r.published;
                let yp = y - 0.12;
                if let (Some(lo), Some(hi)) = (lo, hi) {
                    chart
                        .draw_series([PathElement::new(
                            vec![(lo, yp), (hi, yp)],
                            BLACK.stroke_width(2),
                        )])
                        .map_err(&err)?;
                }
                chart
                    .draw_series([EmptyElement::at((v, yp))
                        + Polygon::new(vec![(0, -7), (7, 0), (0, 7), (-7, 0)], BLACK.filled())])
                    .map_err(&err)?;
            }
        }
        root.draw(&Text::new(
            "bar: the model (line: 95% interval); diamond: the trial (line: its 95% interval)",
            (10, height as i32 - 26),
            (PLOT_FAMILY, 14).into_font(),
        ))
        .map_err(&err)?;
        Ok(())
    })
}
