#!/usr/bin/env python3
"""Fit the phenotype mix of a cohort to one figure: the ORR of its control
arm (PD-1 monotherapy for the seed trials: the model brief's 20-40% of
patients benefiting, target the middle, 30%; for a trial file, its own
published control-arm ORR).

The mix has one free parameter, the share s of `responsive` (inflamed)
tumours; the other phenotypes share 1 - s equally. From a pilot cohort run
on the control arm, the ORR of each phenotype is measured, and s solves

    s * ORR(responsive) + (1 - s) * mean ORR(other phenotypes) = target.

The pilot may be drawn with any mix: only the ORR within each phenotype is
read. A trial that extends the seed trials reads its cohort from the seed
trials' regions at no cost (`tmesim cohort TRIAL.toml --regions SEED_DIR
--out DIR`; workflow/validation.smk writes OUT/trials/<trial>).
scripts/validation_table.py then weights that cohort's patients to the
fitted mix given by --json (no new simulation); a cohort run with the
printed [cohort.phenotypes] draws the mix instead, and simulates the
patients whose phenotype it changes.

Uncertainty: the published interval of the target (`low`, `high` of the
trial's figure) mapped through the same line, and the pilot's own sampling
error (a bootstrap over its patients within each phenotype). Both are
printed. The seed trials' fit goes into [cohort.phenotypes] of their
file (docs/validation.md, "The fit"); a trial's goes to --json, which the
validation table reads.

    python3 scripts/fit_phenotype_mix.py COHORT/patients.csv [--target 0.30]
    python3 scripts/fit_phenotype_mix.py COHORT/patients.csv --trial configs/cohorts/relativity047.toml --json FIT.json

Standard library only.
"""

import argparse
import csv
import json
import os
import random
import sys
import tomllib
from collections import defaultdict


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def load_cohort(path):
    """The [cohort] table of a cohort file, keys of the file it `extends`
    filled in (one table deep, as tmesim merges them)."""
    try:
        with open(path, "rb") as f:
            cohort = tomllib.load(f).get("cohort", {})
    except (OSError, tomllib.TOMLDecodeError) as e:
        fail(f"{path}: {e}")
    if "extends" in cohort:
        base = load_cohort(os.path.join(os.path.dirname(path), cohort["extends"]))
        for key, value in base.items():
            cohort.setdefault(key, value)
    return cohort


def trial_target(path):
    """The control arm, its published ORR figure (value, low, high, n,
    source) and the phenotypes of a trial's cohort file: its `reference`,
    else its first arm."""
    cohort = load_cohort(path)
    arm = cohort.get("reference") or (cohort.get("arms") or [None])[0]
    if arm is None:
        fail(f"{path}: cohort.reference (the control arm) is missing")
    figures = [f for f in cohort.get("figure", []) if f.get("arm") == arm and f.get("measure") == "orr_pct"]
    if not figures:
        fail(f"{path}: no [[cohort.figure]] with arm = \"{arm}\" and measure = \"orr_pct\" (the control arm's ORR)")
    fig = figures[0]
    if not fig.get("source"):
        fail(f"{path}: the control arm's orr_pct figure has no source")
    return arm, fig, sorted(p for p, w in cohort.get("phenotypes", {}).items() if w > 0)


def not_fitted(args, why):
    """A pilot that cannot fit the mix: an error, or with --json a result
    that keeps the cohort file's own mix (a pipeline goes on, and says so)."""
    if not args.json:
        fail(why)
    print(f"warning: not anchored, the cohort file's mix is kept: {why}", file=sys.stderr)
    with open(args.json, "w") as f:
        json.dump({"fitted": False, "why": why, "set": ""}, f, indent=2)
        f.write("\n")
    sys.exit(0)


def solve(target, ref, rest):
    return (target - rest) / (ref - rest)


def clamp(s):
    return min(max(s, 0.0), 1.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("patients_csv", help="patients.csv of the cohort to fit on")
    ap.add_argument("--arm", help="the control arm (default: anti_pd1, or the trial's reference)")
    ap.add_argument("--target", type=float, help="ORR to fit, as a fraction (default 0.30)")
    ap.add_argument("--trial", help="a trial's cohort file: fit to its control arm's published ORR")
    ap.add_argument("--reference", default="responsive", help="the phenotype whose share is fitted")
    ap.add_argument("--bootstrap", type=int, default=2000, help="resamples of the pilot (0: none)")
    ap.add_argument("--json", help="also write the fit here: s, its intervals, the weights and the --set value "
                    "(a pilot that cannot fit then writes why and keeps the file's mix, exit 0)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    fig = None
    if args.trial:
        if args.target is not None:
            fail("give --target or --trial, not both")
        if args.arm:
            fail("--arm and --trial: the trial's figure is its reference arm's; leave out --arm")
        arm, fig, phenotypes = trial_target(args.trial)
        # The mix the pilot ran with (its cohort.toml, --set applied), when
        # the pilot is a cohort folder.
        ran = os.path.join(os.path.dirname(os.path.abspath(args.patients_csv)), "cohort.toml")
        if os.path.exists(ran):
            mix = load_cohort(ran).get("phenotypes", {})
            phenotypes = sorted(p for p, w in mix.items() if w > 0) or phenotypes
        target = fig["value"] / 100.0
        print(f"target: {arm} ORR {fig['value']}% ({fig.get('low', '?')}-{fig.get('high', '?')}), "
              f"n = {fig.get('patients', '?')}; {fig['source']}")
    else:
        arm = args.arm or "anti_pd1"
        target = 0.30 if args.target is None else args.target

    outcomes = defaultdict(list)
    with open(args.patients_csv, newline="") as f:
        for row in csv.DictReader(f):
            if row["arm"] == arm:
                outcomes[row["phenotype"]].append(int(row["responder"]))
    if fig is not None:
        missing = [p for p in phenotypes if p not in outcomes]
        if missing:
            not_fitted(args, f"the pilot {args.patients_csv} has no patient of {', '.join(missing)} on {arm}: "
                 "every phenotype of the mix needs its ORR (run a larger pilot)")
    if args.reference not in outcomes:
        not_fitted(args, f"no {args.reference} patient on {arm} in {args.patients_csv}")
    others = sorted(p for p in outcomes if p != args.reference)
    if not others:
        not_fitted(args, f"only {args.reference} patients on {arm} in {args.patients_csv}: the mix cannot be fitted")

    def rates(sample):
        orr = {p: sum(v) / len(v) for p, v in sample.items()}
        return orr[args.reference], sum(orr[p] for p in others) / len(others)

    print(f"ORR on {arm} per phenotype (pilot):")
    for p in sorted(outcomes):
        v = outcomes[p]
        print(f"  {p:16s} {sum(v):3d} / {len(v):3d} = {100 * sum(v) / len(v):5.1f}%")
    ref, rest = rates(outcomes)
    print(f"{args.reference} {100 * ref:.1f}%, mean of the others {100 * rest:.1f}%")
    if ref == rest:
        not_fitted(args, "the reference phenotype responds like the others: its share cannot move the ORR")
    s_raw = solve(target, ref, rest)
    s = clamp(s_raw)
    if s != s_raw:
        print(f"the target {100 * target:.1f}% is out of reach (s = {s_raw:.3f}); the nearest share is s = {s:.3f}")
    print(f"share of {args.reference}: s = {s:.3f} (expected ORR {100 * (s * ref + (1 - s) * rest):.1f}%)")

    result = {"fitted": True, "arm": arm, "target_pct": 100 * target, "s": s, "reachable": s == s_raw,
              "reference": args.reference, "others": others,
              "pilot_orr_pct": {p: 100 * sum(v) / len(v) for p, v in outcomes.items()},
              "pilot_patients": {p: len(v) for p, v in outcomes.items()}}
    if fig is not None:
        result["source"] = fig["source"]
    if fig is not None and "low" in fig and "high" in fig:
        lo, hi = sorted(clamp(solve(x / 100.0, ref, rest)) for x in (fig["low"], fig["high"]))
        print(f"  over the published interval {fig['low']}-{fig['high']}%: s = {lo:.3f} to {hi:.3f}")
        result["s_published_interval"] = [lo, hi]
    if args.bootstrap > 0:
        rng = random.Random(args.seed)
        draws = []
        for _ in range(args.bootstrap):
            sample = {p: rng.choices(v, k=len(v)) for p, v in outcomes.items()}
            r, o = rates(sample)
            if r != o:
                draws.append(clamp(solve(target, r, o)))
        draws.sort()
        if draws:
            q = lambda f: draws[min(len(draws) - 1, int(f * len(draws)))]
            print(f"  pilot sampling (bootstrap, {len(draws)} resamples): 90% of s in {q(0.05):.3f} to {q(0.95):.3f}")
            result["s_bootstrap_90"] = [q(0.05), q(0.95)]

    # Weights in points per patient share, rounded to keep the file readable.
    weights = {args.reference: round(100 * s, 1)}
    weights.update({p: round(100 * (1 - s) / len(others), 2) for p in others})
    print("\n[cohort.phenotypes]")
    for p, w in weights.items():
        print(f"{p} = {w}")
    if args.json:
        result["phenotypes"] = weights
        inline = ",".join(f"{p}={w}" for p, w in weights.items())
        result["set"] = f"cohort.phenotypes={{{inline}}}"
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
