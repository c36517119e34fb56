#!/usr/bin/env python3
"""Fit the phenotype mix of a cohort to one figure: the ORR of its control
arm (PD-1 monotherapy for the seed trials: the model brief's 20-40% of
patients benefiting, target the middle, 30%; for a trial file, its own
published control-arm ORR).

From a pilot cohort run on the control arm, the ORR r_p of each phenotype p
is measured (only the ORR within each phenotype is read, but the tilt
moves the mix the pilot ran with). Two ways to move the mix, each with one free
parameter (--method):

  tilt   (default) the mix closest to the mix pi the cohort ran with
         (its cohort.toml: the trial file's, with any --set applied;
         least relative entropy) whose ORR is the target: the exponential
         tilt
             w_p = pi_p exp(lambda r_p) / sum_q pi_q exp(lambda r_q),
             sum_p w_p r_p = target.
         Each phenotype's share is multiplied by exp(lambda r_p): where
         the target is below the file's ORR (lambda < 0) the phenotypes
         that respond least gain most. It reaches a target strictly
         between the lowest and the highest phenotype ORR (within
         |lambda| <= 50; beyond, the fit is marked out of reach).
  share  the share s of `responsive` (inflamed) tumours, the other
         phenotypes sharing 1 - s equally:
             s * r_responsive + (1 - s) * mean of the other r_p = target.
         It cannot go below the mean ORR of the resistant phenotypes (the
         seed trials' own fit, docs/validation.md, "The fit").

Both are the prevalence weighting of a virtual population (Allen, Rieger &
Musante, CPT Pharmacometrics Syst Pharmacol 2016;5:140); where the
resistant phenotypes all respond alike and the file shares them equally
they give the same mix.

A trial that extends the seed trials reads its cohort from the seed
trials' regions at no cost (`tmesim cohort TRIAL.toml --regions SEED_DIR
--out DIR`; workflow/validation.smk writes OUT/trials/<trial>).
scripts/validation_table.py then weights that cohort's patients to the
fitted mix given by --json (no new simulation); a cohort run with the
printed [cohort.phenotypes] draws the mix instead, and simulates the
patients whose phenotype it changes.

Uncertainty: the published interval of the target (`low`, `high` of the
trial's figure) mapped through the same fit, and the pilot's own sampling
error (a bootstrap over its patients within each phenotype). Both are
printed. The seed trials' fit goes into [cohort.phenotypes] of their
file (docs/validation.md, "The fit"); a trial's goes to --json, which the
validation table reads.

    python3 scripts/fit_phenotype_mix.py COHORT/patients.csv --method share [--target 0.30]
    python3 scripts/fit_phenotype_mix.py COHORT/patients.csv --trial configs/cohorts/relativity047.toml --json FIT.json

Standard library only.
"""

import argparse
import csv
import json
import math
import os
import random
import sys
import tomllib


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
    source) and the phenotype mix of a trial's cohort file: its
    `reference`, else its first arm."""
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
    return arm, fig, positive(cohort.get("phenotypes", {}))


def positive(mix):
    """The phenotypes of a mix with a weight above zero, as shares."""
    mix = {p: float(w) for p, w in mix.items() if w > 0}
    total = sum(mix.values())
    return {p: w / total for p, w in sorted(mix.items())}


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


# The tilt's parameter is bounded: at |lambda| = 50 a phenotype whose ORR
# is one patient in ten higher already carries e^5 = 150 times the weight.
TILT_BOUND = 50.0


def tilt_mix(prior, orr, lam):
    top = max(lam * orr[p] for p in prior)
    w = {p: prior[p] * math.exp(lam * orr[p] - top) for p in prior}
    total = sum(w.values())
    return {p: x / total for p, x in w.items()}


def mix_orr(mix, orr):
    return sum(mix[p] * orr[p] for p in mix)


def fit_mix(method, prior, orr, target, reference="responsive"):
    """The mix whose control-arm ORR is `target`, given each phenotype's
    ORR `orr` ({phenotype: rate}) and the file's mix `prior` ({phenotype:
    share}, over the same phenotypes): (mix, parameter, reachable). The
    parameter is lambda (tilt) or the reference share s (share). Where
    the target is out of reach, the mix nearest to it. None where the
    phenotypes all respond alike, so no mix moves the ORR."""
    if method == "share":
        others = [p for p in prior if p != reference]
        if reference not in prior or reference not in orr or not others:
            return None
        ref = orr[reference]
        rest = sum(orr[p] for p in others) / len(others)
        if ref == rest:
            return None
        s_raw = (target - rest) / (ref - rest)
        s = min(max(s_raw, 0.0), 1.0)
        mix = {reference: s}
        mix.update({p: (1.0 - s) / len(others) for p in others})
        return mix, s, s == s_raw
    rs = [orr[p] for p in prior]
    if min(rs) == max(rs):
        return None
    # The tilted ORR grows with lambda (its derivative is the variance of
    # r under the tilted mix), so bisection finds the one root.
    lo, hi = -TILT_BOUND, TILT_BOUND
    if mix_orr(tilt_mix(prior, orr, lo), orr) >= target:
        return tilt_mix(prior, orr, lo), lo, False
    if mix_orr(tilt_mix(prior, orr, hi), orr) <= target:
        return tilt_mix(prior, orr, hi), hi, False
    for _ in range(64):  # [-50, 50] halved 64 times: below a double's spacing
        mid = 0.5 * (lo + hi)
        if mix_orr(tilt_mix(prior, orr, mid), orr) < target:
            lo = mid
        else:
            hi = mid
    lam = 0.5 * (lo + hi)
    return tilt_mix(prior, orr, lam), lam, True


def rates(outcomes):
    return {p: sum(v) / len(v) for p, v in outcomes.items() if v}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("patients_csv", help="patients.csv of the cohort to fit on")
    ap.add_argument("--arm", help="the control arm (default: anti_pd1, or the trial's reference)")
    ap.add_argument("--target", type=float, help="ORR to fit, as a fraction (default 0.30)")
    ap.add_argument("--trial", help="a trial's cohort file: fit to its control arm's published ORR")
    ap.add_argument("--method", choices=["tilt", "share"], default="tilt",
                    help="tilt: the mix nearest the file's (least relative entropy); share: the responsive "
                    "share, the others equal (default tilt)")
    ap.add_argument("--reference", default="responsive", help="the phenotype whose share is fitted (share)")
    ap.add_argument("--bootstrap", type=int, default=2000, help="resamples of the pilot (0: none)")
    ap.add_argument("--json", help="also write the fit here: the mix, its parameter and intervals and the --set value "
                    "(a pilot that cannot fit then writes why and keeps the file's mix, exit 0)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    fig = None
    # The mix to move: the one the pilot ran with (its cohort.toml: the
    # trial file's, with the run's --set applied), when the pilot is a
    # cohort folder; else the trial file's; else equal shares of the
    # phenotypes the pilot holds.
    prior = {}
    ran = os.path.join(os.path.dirname(os.path.abspath(args.patients_csv)), "cohort.toml")
    if os.path.exists(ran):
        prior = positive(load_cohort(ran).get("phenotypes", {}))
    if args.trial:
        if args.target is not None:
            fail("give --target or --trial, not both")
        if args.arm:
            fail("--arm and --trial: the trial's figure is its reference arm's; leave out --arm")
        arm, fig, file_mix = trial_target(args.trial)
        prior = prior or file_mix
        target = fig["value"] / 100.0
        print(f"target: {arm} ORR {fig['value']}% ({fig.get('low', '?')}-{fig.get('high', '?')}), "
              f"n = {fig.get('patients', '?')}; {fig['source']}")
    else:
        arm = args.arm or "anti_pd1"
        target = 0.30 if args.target is None else args.target

    outcomes = {}
    with open(args.patients_csv, newline="") as f:
        for row in csv.DictReader(f):
            if row["arm"] == arm:
                outcomes.setdefault(row["phenotype"], []).append(int(row["responder"]))
    if not prior:
        prior = positive({p: 1.0 for p in outcomes})
    missing = [p for p in prior if p not in outcomes]
    if missing:
        not_fitted(args, f"the pilot {args.patients_csv} has no patient of {', '.join(missing)} on {arm}: "
                   "every phenotype of the mix needs its ORR (run a larger pilot)")
    extra = sorted(p for p in outcomes if p not in prior)
    if extra:
        print(f"note: {', '.join(extra)} not in the mix (weight 0): left out")
    outcomes = {p: outcomes[p] for p in prior}
    if args.method == "share" and args.reference not in outcomes:
        not_fitted(args, f"{args.reference} is not in the mix (or has no patient on {arm} in {args.patients_csv})")
    if args.method == "share" and len(outcomes) < 2:
        not_fitted(args, f"only {args.reference} patients on {arm} in {args.patients_csv}: the mix cannot be fitted")

    orr = rates(outcomes)
    print(f"ORR on {arm} per phenotype (pilot), and the mix it ran with:")
    for p, v in outcomes.items():
        print(f"  {p:16s} {sum(v):3d} / {len(v):3d} = {100 * orr[p]:5.1f}%   {100 * prior[p]:5.1f}%")
    print(f"ORR of that mix: {100 * mix_orr(prior, orr):.1f}%")
    fitted = fit_mix(args.method, prior, orr, target, args.reference)
    if fitted is None:
        not_fitted(args, "every phenotype of the mix responds alike on the control arm: no mix moves its ORR"
                   if args.method == "tilt" else
                   f"{args.reference} responds like the mean of the others: its share cannot move the ORR")
    mix, param, reachable = fitted
    name = "lambda" if args.method == "tilt" else f"share of {args.reference}, s"
    if not reachable:
        print(f"the target {100 * target:.1f}% is out of reach; the nearest mix has {name} = {param:.3f}")
    print(f"{args.method}: {name} = {param:.3f} (expected ORR {100 * mix_orr(mix, orr):.1f}%)")

    result = {"fitted": True, "method": args.method, "arm": arm, "target_pct": 100 * target,
              "param": param, "reachable": reachable, "reference": args.reference,
              "prior": prior, "mix": mix,
              "pilot_orr_pct": {p: 100 * r for p, r in orr.items()},
              "pilot_patients": {p: len(v) for p, v in outcomes.items()}}
    if fig is not None:
        result["source"] = fig["source"]
    if fig is not None and "low" in fig and "high" in fig:
        ends = [fit_mix(args.method, prior, orr, x / 100.0, args.reference)[1] for x in (fig["low"], fig["high"])]
        lo, hi = sorted(ends)
        print(f"  over the published interval {fig['low']}-{fig['high']}%: {name} = {lo:.3f} to {hi:.3f}")
        result["param_published_interval"] = [lo, hi]
    if args.bootstrap > 0:
        rng = random.Random(args.seed)
        draws = []
        for _ in range(args.bootstrap):
            sample = rates({p: rng.choices(v, k=len(v)) for p, v in outcomes.items()})
            again = fit_mix(args.method, prior, sample, target, args.reference)
            if again is not None:
                draws.append(again[1])
        draws.sort()
        if draws:
            q = lambda f: draws[min(len(draws) - 1, int(f * len(draws)))]
            print(f"  pilot sampling (bootstrap, {len(draws)} resamples): 90% of {name} in {q(0.05):.3f} to {q(0.95):.3f}")
            result["param_bootstrap_90"] = [q(0.05), q(0.95)]

    # Weights in points per patient share, rounded to keep the file readable.
    weights = {p: round(100 * w, 2) for p, w in mix.items()}
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
