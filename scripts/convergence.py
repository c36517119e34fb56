#!/usr/bin/env python3
"""Time-step convergence study of the whole model, every field
(docs/verification.md, "Time-step convergence of the full model").

For each phenotype (default: responsive, adenosine_high, ido_high) under
anti-PD-1 on configs/baseline.toml it runs:

  * 60 days at the shipped dt and at dt/4 (default 7.5 and 1.875 min);
  * 1 day at a fine reference step (default 0.25 min);

and compares the tumour mean and the domain total of every molecule, cell
and cell-state field at days 1, 10 and 60 (dt against dt/4), and at day 1
against the fine step. The shipped dt passes when every compared value is
within --tolerance (2%) of the finer run; values under --floor of that
field's largest value in the finer run are reported but not judged (a
field that is absent, such as radiation damage without radiotherapy).

    python3 scripts/convergence.py [--dts 15,3.75] [--fine 0.25]
        [--phenotypes responsive,adenosine_high,ido_high] [--arm anti_pd1]
        [--out outputs/convergence] [--tmesim target/release/tmesim]
        [--backend cpu] [--reuse] [--set KEY=VALUE ...]

Prints one markdown table per phenotype (worst difference per field) and
a verdict; exits 1 when a judged value misses the tolerance. It also
prints the outcome table of the former study (day-20 and day-60
equivalent diameter, day-20 IFN-gamma, best change) for the 60-day runs.
Standard library only.
"""
import argparse
import csv
import json
import os
import subprocess
import sys

DAYS = (1, 10, 60)


def read_series(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def at_day(rows, day, col):
    for r in rows:
        if abs(float(r["time_days"]) - day) < 1e-6:
            return float(r[col])
    raise KeyError(f"day {day} not saved")


def best_change(rows):
    # The nadir after day 0, as src/output/arms.rs takes it.
    d0 = float(rows[0]["equivalent_diameter_um"])
    return 100.0 * min((float(r["equivalent_diameter_um"]) - d0) / d0 for r in rows[1:])


def field_names(rows):
    """Every field with a tumour mean and a total in timeseries.csv."""
    cols = rows[0].keys()
    return [c[: -len("_tumor_mean")] for c in cols
            if c.endswith("_tumor_mean") and c[: -len("_tumor_mean")] + "_total" in cols]


def complete(out):
    """Whether the run in `out` finished (an interrupted one has a partial
    timeseries.csv too, and is rerun)."""
    try:
        with open(os.path.join(out, "manifest.json")) as f:
            return json.load(f).get("status") == "complete"
    except (OSError, ValueError):
        return False


def run(a, phenotype, dt, days, out):
    series = os.path.join(out, "timeseries.csv")
    if a.reuse and complete(out):
        return read_series(series)
    cmd = [a.tmesim, "run", a.scenario, "--arm", a.arm, "--phenotype", phenotype,
           "--backend", a.backend, "--quiet", "--out", out, "--force",
           "--set", f"time.dt_min={dt}", "--set", f"time.end_days={days}",
           "--set", "time.save_every_min=1440",
           "--set", "output.zarr=false", "--set", "output.png=false",
           "--set", "output.npy=false", "--set", "output.vtk=false",
           "--set", "output.animations=[]", "--set", "output.report=false"]
    for s in a.sets:
        cmd += ["--set", s]
    print(" ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)
    return read_series(series)


def compare(coarse, fine, day, fields, floor):
    """Relative difference of every field's tumour mean and total at `day`;
    None where the finer value is under `floor` of the field's largest value
    over the finer run (not judged)."""
    out = {}
    for f in fields:
        for kind in ("tumor_mean", "total"):
            col = f"{f}_{kind}"
            c, r = at_day(coarse, day, col), at_day(fine, day, col)
            scale = max(abs(float(row[col])) for row in fine)
            if scale == 0.0 or abs(r) < floor * scale:
                out[(f, kind)] = None
            else:
                out[(f, kind)] = (c - r) / r
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dts", default="7.5,1.875", help="the shipped dt, then dt/4 (min)")
    ap.add_argument("--fine", type=float, default=0.25, help="1-day reference step (min)")
    ap.add_argument("--phenotypes", default="responsive,adenosine_high,ido_high")
    ap.add_argument("--arm", default="anti_pd1")
    ap.add_argument("--days", type=float, default=60.0)
    ap.add_argument("--out", default="outputs/convergence")
    ap.add_argument("--tmesim", default="target/release/tmesim")
    ap.add_argument("--scenario", default="configs/baseline.toml")
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--tolerance", type=float, default=0.02)
    ap.add_argument("--floor", type=float, default=1e-6)
    ap.add_argument("--set", action="append", default=[], dest="sets")
    ap.add_argument("--reuse", action="store_true", help="skip runs whose folder is complete")
    a = ap.parse_args()
    shipped, quarter = (float(x) for x in a.dts.split(","))
    days = [d for d in DAYS if d <= a.days]
    failures = []
    outcomes = []
    worst = {}  # (field, check) -> largest |difference| over the phenotypes
    for ph in a.phenotypes.split(","):
        base = os.path.join(a.out, ph)
        rs = run(a, ph, shipped, a.days, os.path.join(base, f"dt_{shipped:g}"))
        rq = run(a, ph, quarter, a.days, os.path.join(base, f"dt_{quarter:g}"))
        rf = run(a, ph, a.fine, 1, os.path.join(base, f"dt_{a.fine:g}_day1"))
        fields = field_names(rs)
        checks = [(f"dt {shipped:g} vs {quarter:g}, day {d}", compare(rs, rq, d, fields, a.floor))
                  for d in days]
        checks.append((f"dt {shipped:g} vs {a.fine:g}, day 1", compare(rs, rf, 1, fields, a.floor)))
        checks.append((f"dt {quarter:g} vs {a.fine:g}, day 1", compare(rq, rf, 1, fields, a.floor)))
        print(f"\n### `{ph}`, {a.arm}\n")
        print("| field | " + " | ".join(name for name, _ in checks) + " |")
        print("|---|" + "---|" * len(checks))
        for f in fields:
            cells = []
            for name, diffs in checks:
                parts = []
                for kind, label in (("tumor_mean", "mean"), ("total", "total")):
                    d = diffs[(f, kind)]
                    if d is None:
                        parts.append(f"{label} -")
                        continue
                    key = (f, name.replace(f"dt {shipped:g}", "shipped").replace(f"dt {quarter:g}", "dt/4"))
                    worst[key] = max(worst.get(key, 0.0), abs(d))
                    mark = ""
                    if name.startswith(f"dt {shipped:g}") and abs(d) > a.tolerance:
                        mark = " **x**"
                        failures.append(f"{ph}: {f} {label}, {name}: {100 * d:+.2f}%")
                    parts.append(f"{label} {100 * d:+.2f}%{mark}")
                cells.append(", ".join(parts))
            print(f"| {f} | " + " | ".join(cells) + " |")
        if a.days >= 60:
            outcomes.append((ph, rs, rq))
    if worst:
        checks = list(dict.fromkeys(c for _, c in worst))
        print(f"\n### Largest difference over the phenotypes (tumour mean or total)\n")
        print("| field | " + " | ".join(checks) + " |")
        print("|---|" + "---|" * len(checks))
        for f in dict.fromkeys(f for f, _ in worst):
            cells = []
            for c in checks:
                d = worst.get((f, c))
                bad = c.startswith("shipped") and d is not None and d > a.tolerance
                cells.append("-" if d is None else (f"**{100 * d:.2f}%**" if bad else f"{100 * d:.2f}%"))
            print(f"| {f} | " + " | ".join(cells) + " |")
    if outcomes:
        print(f"\n### Outcome, dt {shipped:g} against {quarter:g}\n")
        print("| phenotype | day-20 diameter (um) | day-60 diameter (um) | best change | vs dt/4: day 20 | day 60 | best change |")
        print("|---|---|---|---|---|---|---|")
        for ph, rs, rq in outcomes:
            d20, d60 = at_day(rs, 20, "equivalent_diameter_um"), at_day(rs, 60, "equivalent_diameter_um")
            q20, q60 = at_day(rq, 20, "equivalent_diameter_um"), at_day(rq, 60, "equivalent_diameter_um")
            b, bq = best_change(rs), best_change(rq)
            print(f"| {ph} | {d20:.1f} | {d60:.1f} | {b:.1f}% | {100 * (d20 - q20) / q20:+.2f}% "
                  f"| {100 * (d60 - q60) / q60:+.2f}% | {b - bq:+.1f} pts |")
    if failures:
        print(f"\nFAIL: {len(failures)} value(s) at dt {shipped:g} beyond {100 * a.tolerance:g}%:")
        for f in failures:
            print("  " + f)
        sys.exit(1)
    print(f"\nPASS: every field at dt {shipped:g} within {100 * a.tolerance:g}% of the finer steps.")


if __name__ == "__main__":
    main()
