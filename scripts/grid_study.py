#!/usr/bin/env python3
"""Compare the ORR per arm of the same patients run on two grids (two
cohort folders of one cohort, differing only in `cohort.grid_dx_um` or
`cohort.full_grid`): the study that chose the default cohort grid
(docs/validation.md, "The cohort grid").

    python3 scripts/grid_study.py FULL_DIR COARSE_DIR [--patients 30]

Reads each folder's records (a folder need not be complete), keeps the
patients 0..N-1 that both folders ran on an arm, and prints per arm the ORR
on each grid, the difference in points, and the patients whose RECIST
category differs.
"""

import argparse
import csv
import glob
import os


def records(folder):
    out = {}
    for path in glob.glob(os.path.join(folder, "records", "p*", "*.csv")):
        with open(path, newline="") as f:
            row = next(csv.DictReader(f))
        out[(int(row["patient"]), row["arm"])] = row
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("full")
    ap.add_argument("coarse")
    ap.add_argument("--patients", type=int, default=30)
    args = ap.parse_args()
    a, b = records(args.full), records(args.coarse)
    arms = sorted({arm for (_, arm) in a} & {arm for (_, arm) in b})
    print("arm,patients,orr_full_pct,orr_coarse_pct,difference_pts,category_changes,mean_abs_best_change_difference_pts")
    for arm in arms:
        keys = [(i, arm) for i in range(args.patients) if (i, arm) in a and (i, arm) in b]
        if not keys:
            continue
        n = len(keys)
        ra = sum(int(a[k]["responder"]) for k in keys)
        rb = sum(int(b[k]["responder"]) for k in keys)
        changed = [f"{i}:{a[(i, arm)]['recist']}->{b[(i, arm)]['recist']}"
                   for (i, _) in keys if a[(i, arm)]["recist"] != b[(i, arm)]["recist"]]
        mad = sum(abs(float(a[k]["best_change_pct"]) - float(b[k]["best_change_pct"])) for k in keys) / n
        print(f"{arm},{n},{100 * ra / n:.1f},{100 * rb / n:.1f},{100 * (rb - ra) / n:+.1f},"
              f"{' '.join(changed) or 'none'},{mad:.1f}")


if __name__ == "__main__":
    main()
