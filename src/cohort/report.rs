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
        "{}{} virtual patients, {} arm(s), {end_day} days ({:.1} weeks) of follow-up each. ",
        spec.cohort
            .trial
            .as_ref()
            .map(|t| format!("{}: ", t.name))
            .unwrap_or_default(),
        spec.cohort.patients,
        stats.len(),
        end_day / 7.0,
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
         <code>{}</code> and runs every arm from the same initial state. The simulated \
         region stands for the patient's target lesions (docs/model.md, \"From the region to \
         the lesion\"): scans every {} weeks read them by RECIST 1.1 (PR at -30% of the sum of \
         diameters, confirmed {} weeks on; PD at +20% and +5 mm over the nadir); \
         progression-free survival is censored at the last scan. On arms with radiotherapy \
         the response is of the unirradiated lesions, and the irradiated lesion is read \
         apart (infield). docs/cohorts.md describes every file.</p>",
        esc(layout::COHORT_TOML),
        spec.cohort.readout.scan_every_weeks,
        spec.cohort.readout.confirm_weeks,
    );
    if let Some(t) = &spec.cohort.trial {
        let _ = writeln!(
            b,
            "<h2>The trial</h2>\n<p>{}: {}. Source: {}.</p>",
            esc(&t.name),
            esc(&t.indication),
            esc(&t.source)
        );
        if out.join(layout::TRIAL_CSV).exists() {
            b.push_str(&csv_table(&out.join(layout::TRIAL_CSV))?);
            let _ = writeln!(
                b,
                "\n<p>{}: each published figure beside the model's (95% intervals; overall \
                 survival is recorded, not modelled).</p>",
                link(layout::TRIAL_CSV, layout::TRIAL_CSV)
            );
        }
        if out.join(layout::TRIAL_PNG).exists() {
            let _ = writeln!(
                b,
                "<p>{}</p>",
                img(layout::TRIAL_PNG, "The model beside the trial's figures")
            );
        }
    }
    b.push_str("<h2>Response per arm</h2>\n");
    b.push_str(&csv_table(&out.join(layout::ARMS_CSV))?);
    let _ = writeln!(
        b,
        "\n<p>{} (ORR with 95% Wilson interval; median PFS with a log-log 95% interval, empty \
         where not reached; log-rank p of PFS against {}, and the paired tests: McNemar's exact \
         test of the responses and the sign test of which arm progressed first, each patient \
         against itself)</p>",
        link(layout::ARMS_CSV, layout::ARMS_CSV),
        esc(spec.reference_label())
    );
    b.push_str("<h2>The response over time</h2>\n");
    b.push_str(&csv_table(&out.join(layout::COURSE_CSV))?);
    let _ = writeln!(
        b,
        "\n<p>{}: per arm and scan, the quartiles of the change of the sum of diameters from \
         baseline, the share of patients in response at that scan and the share progressed by \
         then.</p>",
        link(layout::COURSE_CSV, layout::COURSE_CSV)
    );
    for (file, title) in [
        (layout::PFS_PNG, "Progression-free survival (scans)"),
        (layout::WATERFALL_PNG, "Best change per patient"),
        (layout::MECHANISM_PNG, "Mechanism map"),
    ] {
        let _ = writeln!(b, "<h2>{}</h2>\n<p>{}</p>", esc(title), img(file, title));
    }
    b.push_str(&csv_table(&out.join(layout::MECHANISM_CSV))?);
    let _ = writeln!(
        b,
        "\n<h2>Files</h2>\n<ul>\n<li>{} one row per patient and arm</li>\n<li>{} the time course of the response per arm and scan</li>\n<li>{} the map above</li>\n<li>{} the cohort as run</li>\n</ul>",
        link(layout::PATIENTS_CSV, layout::PATIENTS_CSV),
        link(layout::COURSE_CSV, layout::COURSE_CSV),
        link(layout::MECHANISM_CSV, layout::MECHANISM_CSV),
        link(layout::COHORT_TOML, layout::COHORT_TOML),
    );
    let toml = std::fs::read_to_string(out.join(layout::COHORT_TOML)).unwrap_or_default();
    let _ = writeln!(b, "<h2>Cohort</h2>\n<pre>{}</pre>", esc(&toml));
    let path = out.join(layout::REPORT);
    atomic::write(&path, page("tmesim virtual trial", &b))
        .with_context(|| format!("cannot write {}", path.display()))
}
