//! The cohort's report.html: what was run, response rates per arm, the
//! figures and the mechanism map on one static page (relative links, no
//! scripts, no network), like a run's report.

use super::spec::CohortSpec;
use super::tables::ArmStats;
use crate::output::report::{csv_table, img, link, page};
use crate::output::vtk::xml_escape as esc;
use crate::output::{atomic, layout};
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::Path;

/// One sentence per arm: ORR with its interval, and the gain.
fn headline(spec: &CohortSpec, stats: &[ArmStats], end_day: f64) -> String {
    let mut s = format!(
        "{} virtual patients, {} arm(s), {end_day} days of follow-up each. ",
        spec.cohort.patients,
        stats.len(),
    );
    for a in stats {
        let _ = write!(
            s,
            "{}: ORR {:.0}% (95% CI {:.0}-{:.0}%){}. ",
            a.arm,
            100.0 * a.orr.estimate,
            100.0 * a.orr.low,
            100.0 * a.orr.high,
            if a.arm == spec.reference_label() {
                String::new()
            } else {
                format!(
                    ", {:+.0} points over {}",
                    a.orr_gain_pts,
                    spec.reference_label()
                )
            }
        );
    }
    s.trim_end().to_string()
}

/// Write `out/report.html` from the cohort's tables and figures.
pub fn write(out: &Path, spec: &CohortSpec, stats: &[ArmStats], end_day: f64) -> Result<()> {
    let mut b = String::from("<h1>tmesim virtual trial</h1>\n");
    let _ = writeln!(
        b,
        "<p class=\"headline\">{}</p>",
        esc(&headline(spec, stats, end_day))
    );
    let _ = writeln!(
        b,
        "<p>Each patient is drawn from the phenotype mix and the parameter distributions of \
         <code>{}</code> and runs every arm from the same initial state. Response is the best \
         change of the tumour's equivalent diameter (RECIST-style: PR at -30%, progression at \
         +20% over the nadir); progression-free survival is censored at the end of follow-up. \
         docs/cohorts.md describes every file.</p>",
        esc(layout::COHORT_TOML)
    );
    b.push_str("<h2>Response per arm</h2>\n");
    b.push_str(&csv_table(&out.join(layout::ARMS_CSV))?);
    let _ = writeln!(
        b,
        "\n<p>{} (ORR with 95% Wilson interval; median PFS with a log-log 95% interval, empty \
         where not reached; log-rank p of PFS against {})</p>",
        link(layout::ARMS_CSV, layout::ARMS_CSV),
        esc(spec.reference_label())
    );
    for (file, title) in [
        (layout::PFS_PNG, "Progression-free survival"),
        (layout::WATERFALL_PNG, "Best change per patient"),
        (layout::MECHANISM_PNG, "Mechanism map"),
    ] {
        let _ = writeln!(b, "<h2>{}</h2>\n<p>{}</p>", esc(title), img(file, title));
    }
    b.push_str(&csv_table(&out.join(layout::MECHANISM_CSV))?);
    let _ = writeln!(
        b,
        "\n<h2>Files</h2>\n<ul>\n<li>{} one row per patient and arm</li>\n<li>{} the map above</li>\n<li>{} the cohort as run</li>\n</ul>",
        link(layout::PATIENTS_CSV, layout::PATIENTS_CSV),
        link(layout::MECHANISM_CSV, layout::MECHANISM_CSV),
        link(layout::COHORT_TOML, layout::COHORT_TOML),
    );
    let toml = std::fs::read_to_string(out.join(layout::COHORT_TOML)).unwrap_or_default();
    let _ = writeln!(b, "<h2>Cohort</h2>\n<pre>{}</pre>", esc(&toml));
    let path = out.join(layout::REPORT);
    atomic::write(&path, page("tmesim virtual trial", &b))
        .with_context(|| format!("cannot write {}", path.display()))
}
