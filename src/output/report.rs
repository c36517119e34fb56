//! report.html: one static page per run folder (and per compare folder)
//! with the plots, the time-lapses, the final frames, the config and the
//! manifest. Relative links only, no scripts, no network.

use super::layout;
use super::manifest::Manifest;
// HTML text and attributes need the same escapes as XML.
use super::vtk::xml_escape as esc;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A relative path as an href (forward slashes, spaces and odd characters
/// percent-encoded).
pub(crate) fn href(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_./~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1400px;color:#222}\
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ccc}\
img{max-width:100%;height:auto;border:1px solid #ddd}\
.grid{display:flex;flex-wrap:wrap;gap:12px}.grid figure{margin:0;width:420px}\
figcaption{font-size:.9em;color:#555}pre{background:#f6f6f6;padding:1em;overflow:auto;max-height:40em}\
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}\
.headline{font-size:1.15em;background:#f3f7fb;border-left:4px solid #4e79a7;padding:.6em 1em}";

pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        esc(title)
    )
}

pub(crate) fn img(path: &str, alt: &str) -> String {
    format!(
        "<img src=\"{}\" alt=\"{}\" loading=\"eager\">",
        href(Path::new(path)),
        esc(alt)
    )
}

pub(crate) fn link(path: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", href(Path::new(path)), esc(text))
}

/// Write `out/report.html` for a run folder from its manifest and files.
pub fn write_run_report(out: &Path, m: &Manifest) -> Result<()> {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut b = summary(out, m, &name);
    let mut sections = media_sections(out);
    if let Some(frames) = final_frames(out, m) {
        sections.push(("Final frames", frames));
    }
    sections.push(("Files", files_list(out, m)));
    if let Ok(config) = std::fs::read_to_string(out.join(layout::CONFIG)) {
        sections.push(("Config", format!("<pre>{}</pre>", esc(&config))));
    }
    sections.push((
        "Manifest",
        format!("<pre>{}</pre>", esc(&serde_json::to_string_pretty(m)?)),
    ));
    for (title, html) in sections {
        let _ = writeln!(b, "<h2>{}</h2>\n{html}", esc(title));
    }
    let path = out.join(layout::REPORT);
    super::atomic::write(&path, page(&format!("tmesim run {name}"), &b))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The title, the headline and what ran where.
fn summary(out: &Path, m: &Manifest, name: &str) -> String {
    let mut b = String::new();
    let _ = writeln!(b, "<h1>tmesim run {}</h1>", esc(name));
    if let Some((headline, reading)) = headline_of(out, m) {
        let _ = writeln!(
            b,
            "<p class=\"headline\"><b>{}</b></p>\n<p>{}</p>",
            esc(&capitalise(&headline)),
            esc(&reading)
        );
    }
    let last_t = m.saved.last().map_or(0.0, |s| s.time_days);
    let _ = writeln!(
        b,
        "<p>Scenario <code>{}</code>, status <b>{}</b>, {} of {} steps of {} min (day {:.1}), \
         {} backend on {}, grid {} × {} × {} voxels of {} µm, wall time {:.1} s, tmesim {}.</p>",
        esc(&m.config_file),
        esc(&m.status),
        m.steps_done,
        m.steps_total,
        m.dt_min,
        last_t,
        esc(&m.backend),
        esc(&m.adapter),
        m.grid.nx,
        m.grid.ny,
        m.grid.nz,
        m.grid.dx_um,
        m.wall_time_s,
        esc(&m.tmesim_version)
    );
    b
}

/// The montage and composite time-lapses and the time-series plot.
fn media_sections(out: &Path) -> Vec<(&'static str, String)> {
    let exists = |p: &str| out.join(p).is_file();
    // APNG first: full colour; GIF is the fallback.
    let anim = |name: &str| {
        ["apng", "gif"]
            .into_iter()
            .map(|ext| layout::animation(name, ext))
            .find(|p| exists(p))
    };
    let mut sections: Vec<(&'static str, String)> = Vec::new();
    if let Some(p) = anim(layout::MONTAGE) {
        sections.push(("Time-lapse: montage", img(&p, "montage time-lapse")));
    }
    if let Some(p) = anim(layout::COMPOSITE) {
        sections.push(("Time-lapse: composite", img(&p, "composite time-lapse")));
    }
    if exists(layout::TIMESERIES_PNG) {
        sections.push((
            "Time series",
            format!(
                "{}<p>{}</p>",
                img(layout::TIMESERIES_PNG, "time series"),
                link(layout::TIMESERIES_CSV, "timeseries.csv")
            ),
        ));
    }
    sections
}

/// The frames of the last save, each linked to its time-lapses; `None`
/// when none was drawn.
fn final_frames(out: &Path, m: &Manifest) -> Option<String> {
    let exists = |p: &str| out.join(p).is_file();
    let last = m.saved.last()?;
    let mut names: Vec<String> = vec![layout::MONTAGE.into(), layout::COMPOSITE.into()];
    names.extend(m.fields.iter().map(|f| f.name.clone()));
    let figures: String = names
        .iter()
        .map(|n| (n, layout::frame(n, last.index)))
        .filter(|(_, p)| exists(p))
        .map(|(n, p)| {
            let mut caption = esc(n);
            for ext in ["apng", "gif"] {
                let a = layout::animation(n, ext);
                if exists(&a) {
                    caption.push_str(&format!(" · {}", link(&a, ext)));
                }
            }
            format!(
                "<figure><a href=\"{}\">{}</a><figcaption>{caption}</figcaption></figure>\n",
                href(Path::new(&p)),
                img(&p, n)
            )
        })
        .collect();
    if figures.is_empty() {
        return None;
    }
    let blank: Vec<&str> = m
        .fields
        .iter()
        .filter(|f| f.kind == "map" && f.png.is_some())
        .filter(|f| !exists(&layout::frame(&f.name, last.index)))
        .map(|f| f.name.as_str())
        .collect();
    let blank = if blank.is_empty() {
        String::new()
    } else {
        format!(" Not drawn, zero everywhere: {}.", esc(&blank.join(", ")))
    };
    Some(format!(
        "<p>Day {:.1} (save {}). Montage and composite are in <code>frames/</code> for \
         every save; <code>tmesim render</code> draws any field at every save from \
         <code>fields.ome.zarr</code>.{blank}</p>\
         <div class=\"grid\">{figures}</div>",
        last.time_days, last.index
    ))
}

/// The run folder's files, each with what it holds.
fn files_list(out: &Path, m: &Manifest) -> String {
    let mut files = String::from("<ul>");
    for (p, what) in [
        (
            layout::MANIFEST,
            "manifest: layout index, parameters, config",
        ),
        (layout::CONFIG, "resolved config"),
        (layout::TIMESERIES_CSV, "time series"),
        (
            layout::PVD,
            "ParaView collection of the .vti files (File → Open)",
        ),
    ] {
        if out.join(p).is_file() {
            let _ = write!(files, "<li>{} — {}</li>", link(p, p), esc(what));
        }
    }
    if let Some(p) = &m.layout.zarr {
        let _ = write!(
            files,
            "<li><code>{}</code> — every field at every save, OME-Zarr (t, c, z, y, x); \
             opens in napari, xarray, zarr-python (docs/outputs.md)</li>",
            esc(p)
        );
    }
    if let Some(p) = &m.layout.npy {
        let _ = write!(
            files,
            "<li><code>{}</code> — numpy arrays, shape (nz, ny, nx)</li>",
            esc(p)
        );
    }
    files.push_str("</ul>");
    files
}

/// The run's headline and reading (src/output/headline.rs), from its
/// timeseries.csv; `None` when the file is missing or empty.
fn headline_of(out: &Path, m: &Manifest) -> Option<(String, String)> {
    use super::headline::{reading, Headline};
    let table = super::tsplot::Table::read(&out.join(layout::TIMESERIES_CSV)).ok()?;
    let grid = crate::model::grid::Grid {
        nx: m.grid.nx,
        ny: m.grid.ny,
        nz: m.grid.nz,
        dx_um: m.grid.dx_um,
    };
    let h = Headline::from_table(&table, &grid).ok()?;
    Some((h.sentence(), reading(&table, &grid)))
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// A CSV file as an HTML table (first row the header).
pub(crate) fn csv_table(path: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut t = String::from("<table>\n");
    for (k, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let cell = if k == 0 { "th" } else { "td" };
        t.push_str("<tr>");
        for v in line.split(',') {
            let _ = write!(t, "<{cell}>{}</{cell}>", esc(v.trim()));
        }
        t.push_str("</tr>\n");
    }
    t.push_str("</table>");
    Ok(t)
}

/// Write `dir/report.html` for a comparison of runs: links to each arm's
/// own report (`arms` are label and run folder relative to `dir`), the
/// comparison images and the summary CSV as a table. `images` and
/// `summary_csv` may be absolute or relative to `dir`.
pub fn write_compare_report(
    dir: &Path,
    arms: &[(String, PathBuf)],
    images: &[PathBuf],
    summary_csv: &Path,
) -> Result<()> {
    let rel = |p: &Path| -> PathBuf { p.strip_prefix(dir).unwrap_or(p).to_path_buf() };
    let mut b = String::from("<h1>tmesim comparison</h1>\n<h2>Arms</h2>\n<ul>\n");
    for (label, folder) in arms {
        let report = rel(folder).join(layout::REPORT);
        let _ = writeln!(
            b,
            "<li><a href=\"{}\">{}</a> <code>{}</code></li>",
            href(&report),
            esc(label),
            esc(&rel(folder).to_string_lossy())
        );
    }
    b.push_str("</ul>\n");
    if !images.is_empty() {
        b.push_str("<h2>Plots</h2>\n");
        for p in images {
            let r = rel(p);
            let _ = writeln!(
                b,
                "<p><img src=\"{}\" alt=\"{}\"></p>",
                href(&r),
                esc(&r.to_string_lossy())
            );
        }
    }
    // `summary_csv` may be given with `dir` in front, or relative to it.
    let csv_path = dir.join(rel(summary_csv));
    let _ = writeln!(
        b,
        "<h2>Summary</h2>\n{}\n<p><a href=\"{}\">{}</a></p>",
        csv_table(&csv_path)?,
        href(&rel(summary_csv)),
        esc(&rel(summary_csv).to_string_lossy())
    );
    let path = dir.join(layout::REPORT);
    super::atomic::write(&path, page("tmesim comparison", &b))
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_report_links_arms_images_and_table() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for arm in ["arm a", "arm_b"] {
            std::fs::create_dir_all(d.join(arm)).unwrap();
            std::fs::write(d.join(arm).join("report.html"), "<html></html>").unwrap();
        }
        std::fs::write(d.join("burden.png"), b"png").unwrap();
        std::fs::write(d.join("summary.csv"), "arm,final_burden\na,1.5\nb,<2>\n").unwrap();
        write_compare_report(
            d,
            &[
                ("Arm A".into(), PathBuf::from("arm a")),
                ("Arm B".into(), d.join("arm_b")),
            ],
            &[d.join("burden.png")],
            Path::new("summary.csv"),
        )
        .unwrap();
        let html = std::fs::read_to_string(d.join("report.html")).unwrap();
        assert!(
            html.contains("<a href=\"arm%20a/report.html\">Arm A</a>"),
            "{html}"
        );
        assert!(html.contains("href=\"arm_b/report.html\""), "{html}");
        assert!(html.contains("<img src=\"burden.png\""), "{html}");
        assert!(html.contains("<th>final_burden</th>"), "{html}");
        assert!(html.contains("<td>&lt;2&gt;</td>"), "{html}");
        assert!(
            !html.contains("<script") && !html.contains("http"),
            "{html}"
        );
    }
}
