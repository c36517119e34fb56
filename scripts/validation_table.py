#!/usr/bin/env python3
"""One table of every trial's published figures beside the model's, from
the folder workflow/validation.smk writes.

    python3 scripts/validation_table.py OUT [--draws 1000] [--seed 1]

Reads OUT/trials/<trial>/trial.csv (each published figure with the
model's value and 95% interval at the trial's arms), the trial's
patients.csv and OUT/anchor/<trial>.json (the control arm's anchoring),
and writes OUT/validation.csv and OUT/validation.md (a Markdown table for
docs/validation.md). A figure the model does not compute (overall
survival) is listed with an empty model cell.

Each ORR, DCR and median PFS also gets the model's 90% predictive
interval for a trial of the published arm's size, in two stages: the
virtual cohort's own sampling error (a rate from its Jeffreys posterior; a
median from a bootstrap copy of the cohort), then the trial's patients
drawn from it, each draw read as the trial reads it (Kaplan-Meier for the
median). "Published inside" asks whether the
published figure falls in that interval. It covers the sampling of
virtual patients, not the uncertainty of the model's parameters (the
calibration's posterior). Standard library only.
"""

import argparse
import csv
import json
import math
import os
import random
import sys

DAYS_PER_MONTH = 30.4375


def km_median(sample):
    """Kaplan-Meier median of (days, event) pairs; inf when not reached."""
    at_risk = len(sample)
    surv = 1.0
    times = sorted(sample)
    k = 0
    while k < len(times):
        t = times[k][0]
        same = [e for (d, e) in times[k:] if d == t]
        events = sum(same)
        if events:
            surv *= 1.0 - events / at_risk
            if surv <= 0.5 + 1e-12:
                return t
        at_risk -= len(same)
        k += len(same)
    return math.inf


def read_measure(sample, measure):
    if measure == "orr_pct":
        return 100.0 * sum(r["responder"] for r in sample) / len(sample)
    if measure == "dcr_pct":
        return 100.0 * sum(r["control"] for r in sample) / len(sample)
    if measure == "median_pfs_months":
        return km_median([(r["pfs"], r["event"]) for r in sample]) / DAYS_PER_MONTH
    return None


def predictive(rows, measure, n, draws, rng):
    """The 5th and 95th percentiles of `measure` over trials of `n`
    patients. A rate: the cohort's rate from its Jeffreys posterior
    (Beta(x + 1/2, N - x + 1/2), so that 0 of N still leaves room), then
    the trial's count from it. A median: a bootstrap copy of the cohort,
    then the trial's patients from it."""
    if not rows or n <= 0 or read_measure(rows, measure) is None:
        return None
    values = []
    key = {"orr_pct": "responder", "dcr_pct": "control"}.get(measure)
    x = sum(r[key] for r in rows) if key else 0
    for _ in range(draws):
        if key:
            p = rng.betavariate(x + 0.5, len(rows) - x + 0.5)
            values.append(100.0 * sum(rng.random() < p for _ in range(n)) / n)
            continue
        cohort = [rows[rng.randrange(len(rows))] for _ in rows]
        trial = [cohort[rng.randrange(len(cohort))] for _ in range(n)]
        values.append(read_measure(trial, measure))
    values.sort()
    return values[int(0.05 * (draws - 1))], values[int(0.95 * (draws - 1))]


def patients_of(path):
    out = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            out.setdefault(r["arm"], []).append({
                "responder": r["responder"] == "1",
                "control": r["recist"] in ("CR", "PR", "SD"),
                "pfs": float(r["pfs_days"]),
                "event": r["censored"] != "1",
            })
    return out


def interval(pi):
    """A predictive interval; NR (not reached) for a median beyond
    follow-up."""
    if pi is None:
        return ""
    lo, hi = pi
    if math.isinf(lo):
        return "NR"
    return f"{lo:.1f}-{'NR' if math.isinf(hi) else f'{hi:.1f}'}"


def cell(value, low="", high=""):
    """A value with its interval; NR where the upper end was not reached."""
    if value == "":
        return ""
    if low != "":
        return f"{value} ({low}-{high or 'NR'})"
    return value


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="the folder workflow/validation.smk wrote")
    ap.add_argument("--draws", type=int, default=1000, help="bootstrap draws per figure")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-anchors", action="store_true",
                    help="the trials ran with their files' own mix: ignore OUT/anchor")
    args = ap.parse_args()
    if args.draws < 1:
        sys.exit("error: --draws must be at least 1")
    out = args.out
    rng = random.Random(args.seed)
    trials_dir = os.path.join(out, "trials")
    if not os.path.isdir(trials_dir):
        sys.exit(f"error: {trials_dir} does not exist: run workflow/validation.smk first")
    rows = []
    for trial in sorted(os.listdir(trials_dir)):
        path = os.path.join(trials_dir, trial, "trial.csv")
        if not os.path.exists(path):
            sys.exit(f"error: {path} is missing")
        anchor = {}
        fit = os.path.join(out, "anchor", f"{trial}.json")
        if os.path.exists(fit) and not args.no_anchors:
            with open(fit) as f:
                anchor = json.load(f)
        patients = patients_of(os.path.join(trials_dir, trial, "patients.csv"))
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                n = int(r["published_patients"] or 0)
                pi = predictive(patients.get(r["arm"], []), r["measure"], n, args.draws, rng)
                inside = ""
                if pi is not None and r["published"] != "":
                    # Published figures are rounded to 0.1.
                    p = float(r["published"])
                    inside = "yes" if pi[0] - 0.05 <= p <= pi[1] + 0.05 else "no"
                rows.append({
                    "trial": trial,
                    "arm": r["arm"],
                    "measure": r["measure"],
                    "published": r["published"],
                    "published_low": r["published_low"],
                    "published_high": r["published_high"],
                    "published_patients": r["published_patients"],
                    "model": r["model"],
                    "model_low": r["model_low"],
                    "model_high": r["model_high"],
                    "model_pi90_low": "" if pi is None else f"{pi[0]:.2f}",
                    "model_pi90_high": "" if pi is None else f"{pi[1]:.2f}",
                    "published_in_pi90": inside,
                    "anchored_responsive_share": f"{anchor['s']:.3f}" if anchor.get("fitted") else "",
                    "anchor_reachable": {True: "yes", False: "no"}.get(anchor.get("reachable"), ""),
                    "source": r["source"],
                })
    if not rows:
        sys.exit(f"error: no trial under {trials_dir}")
    with open(os.path.join(out, "validation.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = [
        "| trial | arm | measure | published (95% CI), n | model (95% CI) | model, 90% predictive interval at the trial's n | published inside | anchored responsive share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        share = r["anchored_responsive_share"]
        if share and r["anchor_reachable"] == "no":
            share += " (target out of reach)"
        if not share:
            share = "not anchored"
        lines.append(
            f"| {r['trial']} | {r['arm']} | {r['measure']} | "
            f"{cell(r['published'], r['published_low'], r['published_high'])}, n = {r['published_patients']} | "
            f"{cell(r['model'], r['model_low'], r['model_high'])} | "
            f"{interval(None if r['model_pi90_low'] == '' else (float(r['model_pi90_low']), float(r['model_pi90_high'])))} | "
            f"{r['published_in_pi90']} | {share} |"
        )
    with open(os.path.join(out, "validation.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(rows)} figures of {len({r['trial'] for r in rows})} trials: "
          f"{os.path.join(out, 'validation.md')}")


if __name__ == "__main__":
    main()
