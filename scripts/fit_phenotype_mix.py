#!/usr/bin/env python3
"""Fit the phenotype mix of a cohort to one figure: the ORR of PD-1
monotherapy (model brief: 20-40% of patients benefit; target the middle,
30%).

The mix has one free parameter, the share s of `responsive` (inflamed)
tumours; the other phenotypes share 1 - s equally. From a pilot cohort run
on the PD-1 arm alone with equal weights, the ORR of each phenotype is
measured, and s solves

    s * ORR(responsive) + (1 - s) * mean ORR(other phenotypes) = target.

The weights printed go into [cohort.phenotypes] of the cohort file
(docs/validation.md, "The fit").

    tmesim cohort configs/cohorts/seed_trials.toml --out outputs/pilot \\
        --set cohort.patients=110 --set 'cohort.arms=["anti_pd1"]' \\
        --set 'cohort.phenotypes={responsive=1.0, mdsc_rich=1.0, ...}'
    python3 scripts/fit_phenotype_mix.py outputs/pilot/patients.csv
"""

import argparse
import csv
from collections import defaultdict


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("patients_csv", help="patients.csv of the pilot cohort")
    ap.add_argument("--arm", default="anti_pd1", help="the monotherapy arm")
    ap.add_argument("--target", type=float, default=0.30, help="ORR to fit (fraction)")
    ap.add_argument("--reference", default="responsive", help="the phenotype whose share is fitted")
    args = ap.parse_args()

    n, r = defaultdict(int), defaultdict(int)
    with open(args.patients_csv, newline="") as f:
        for row in csv.DictReader(f):
            if row["arm"] != args.arm:
                continue
            n[row["phenotype"]] += 1
            r[row["phenotype"]] += int(row["responder"])
    if args.reference not in n:
        raise SystemExit(f"no {args.reference} patient on {args.arm} in {args.patients_csv}")
    orr = {p: r[p] / n[p] for p in n}
    print(f"ORR on {args.arm} per phenotype (pilot, equal weights):")
    for p in sorted(orr):
        print(f"  {p:16s} {r[p]:3d} / {n[p]:3d} = {100 * orr[p]:5.1f}%")
    others = [p for p in orr if p != args.reference]
    rest = sum(orr[p] for p in others) / len(others)
    ref = orr[args.reference]
    total = sum(r.values()) / sum(n.values())
    print(f"pilot ORR {100 * total:.1f}%; {args.reference} {100 * ref:.1f}%, mean of the others {100 * rest:.1f}%")
    if ref == rest:
        raise SystemExit("the reference phenotype responds like the others: its share cannot move the ORR")
    s = (args.target - rest) / (ref - rest)
    if not 0.0 <= s <= 1.0:
        s = min(max(s, 0.0), 1.0)
        print(f"the target {100 * args.target:.0f}% is out of reach; the nearest share is s = {s:.3f}")
    fitted = s * ref + (1 - s) * rest
    print(f"share of {args.reference}: s = {s:.3f} (expected ORR {100 * fitted:.1f}%)")
    # Weights in points per patient share, rounded to keep the file readable.
    w_ref = round(100 * s, 1)
    w_other = round(100 * (1 - s) / len(others), 2)
    print("\n[cohort.phenotypes]")
    print(f"{args.reference} = {w_ref}")
    for p in sorted(others):
        print(f"{p} = {w_other}")


if __name__ == "__main__":
    main()
