#!/usr/bin/env python3
"""Calibration runs of docs/calibration.md: every phenotype under anti-PD-1
alone and the four calibration combinations, then the mechanism-level
contrasts of the model brief against the responsive reference.

    python3 scripts/calibrate.py [--out outputs/calibration] [--tmesim target/release/tmesim]
                                 [--backend auto] [--set KEY=VALUE ...] [--phenotypes a,b] [--contrasts-only]
                                 [--jobs N] [--reuse]

Writes OUT/<phenotype>/ (a `tmesim compare` folder each), OUT/best_response.csv
(best change per phenotype and arm, and its difference from anti-PD-1 alone)
and OUT/contrasts.csv (each target, the model's value, the phenotypes
compared). Standard library only.
"""
import argparse
import csv
import os
import subprocess
import sys

PHENOTYPES = ["responsive", "mdsc_rich", "treg_rich", "m2_rich", "lag3_high", "pd1_high",
              "pi3k_active", "wnt_cold", "vegf_high", "adenosine_high", "ido_high"]
ARMS = ["anti_pd1", "anti_pd1+anti_ctla4", "anti_pd1+anti_lag3", "anti_pd1+bevacizumab",
        "anti_pd1+paclitaxel"]
# (target, model-brief value, phenotype, time-series column, how)
CONTRASTS = [
    ("MDSC share, resistant / responsive", 2.3, "mdsc_rich", "mdsc_tumor_mean", "ratio"),
    ("IL-10 in tumour, resistant / responsive", 1.8, "treg_rich", "il10_tumor_mean", "ratio"),
    ("IFN-gamma in tumour, resistant / responsive", 0.6, "treg_rich", "ifng_tumor_mean", "ratio"),
    ("LAG-3+ share of T cells, resistant", 0.35, "lag3_high", "lag3_tumor_mean", "value"),
    ("LAG-3+ share of T cells, responsive", 0.12, "responsive", "lag3_tumor_mean", "value"),
    ("T-cell PD-1, resistant / responsive", 1.6, "pd1_high", "pd1_tumor_mean", "ratio"),
]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def final_row(folder, arm="anti_pd1"):
    return read_csv(os.path.join(folder, arm, "timeseries.csv"))[-1]


def wait_one(running):
    """Wait for the first of `running` to end; stop on a failed run."""
    proc = running.pop(0)
    if proc.wait() != 0:
        sys.exit(f"failed: {' '.join(proc.args)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="outputs/calibration")
    ap.add_argument("--tmesim", default="target/release/tmesim")
    ap.add_argument("--scenario", default="configs/baseline.toml")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--set", action="append", default=[], dest="sets")
    ap.add_argument("--phenotypes", default=",".join(PHENOTYPES))
    ap.add_argument("--arms", default="; ".join(ARMS))
    ap.add_argument("--contrasts-only", action="store_true",
                    help="only anti-PD-1 on the phenotypes the contrasts need")
    ap.add_argument("--jobs", type=int, default=1,
                    help="phenotypes run at once, each on one thread (RAYON_NUM_THREADS=1)")
    ap.add_argument("--reuse", action="store_true",
                    help="keep phenotypes whose summary.csv already exists (resume a stopped calibration)")
    a = ap.parse_args()
    phenotypes = a.phenotypes.split(",")
    arms = a.arms
    if a.contrasts_only:
        arms = "anti_pd1"
    env = dict(os.environ)
    if a.jobs > 1:
        env["RAYON_NUM_THREADS"] = "1"
    running = []
    for p in phenotypes:
        if a.reuse and os.path.exists(os.path.join(a.out, p, "summary.csv")):
            continue
        cmd = [a.tmesim, "compare", a.scenario, "--phenotype", p, "--arms", arms,
               "--out", os.path.join(a.out, p), "--force", "--backend", a.backend, "--quiet",
               # Only the time series is needed: no frames, arrays, store, VTK or pages.
               "--set", "output.png=false", "--set", "output.npy=false", "--set", "output.zarr=false",
               "--set", "output.vtk=false", "--set", "output.report=false"]
        for s in a.sets:
            cmd += ["--set", s]
        print("+", " ".join(cmd), file=sys.stderr, flush=True)
        running.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env))
        while len(running) >= a.jobs:
            wait_one(running)
    while running:
        wait_one(running)

    rows = []
    for p in phenotypes:
        summary = {r["arm"]: r for r in read_csv(os.path.join(a.out, p, "summary.csv"))}
        mono = float(summary["anti_pd1"]["best_change_pct"])
        for arm, r in summary.items():
            best = float(r["best_change_pct"])
            rows.append({"phenotype": p, "arm": arm, "best_change_pct": f"{best:.1f}",
                         "recist": r["recist"], "final_diameter_um": r["final_diameter_um"],
                         "vs_anti_pd1_pct_points": f"{best - mono:.1f}"})
    with open(os.path.join(a.out, "best_response.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    out = []
    if "responsive" in phenotypes:
        ref = final_row(os.path.join(a.out, "responsive"))
        for target, value, p, col, how in CONTRASTS:
            if p not in phenotypes:
                continue
            v = float(final_row(os.path.join(a.out, p))[col])
            model = v / float(ref[col]) if how == "ratio" else v
            out.append({"target": target, "brief": value, "model": f"{model:.3f}",
                        "phenotype": p, "measure": f"{col} at the last saved time, anti-PD-1 arm"})
        with open(os.path.join(a.out, "contrasts.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(out[0]))
            w.writeheader()
            w.writerows(out)
    for path in ["best_response.csv", "contrasts.csv"]:
        full = os.path.join(a.out, path)
        if os.path.exists(full):
            print(f"== {full}")
            print(open(full).read())


if __name__ == "__main__":
    main()
