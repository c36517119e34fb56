#!/usr/bin/env python3
"""Compare two runs of the same cohort file, patient by patient: what a
change of the model moved (docs/validation.md).

    python3 scripts/compare_cohorts.py BEFORE/patients.csv AFTER/patients.csv [--markdown]

Both files are `tmesim cohort` outputs (docs/cohorts.md). Patients are
matched by index and arm; a patient's draws depend only on the cohort seed,
its index and the name of the draw (src/cohort/sample.rs), so the same
index is the same virtual patient in both runs as long as the cohort file
is the same. Only patients present in both are compared. Per arm it prints
the ORR before and after, the mean best change before and after, the mean
paired shift of the best change with its standard error, and how many
patients changed RECIST category. Standard library only.
"""
import argparse
import csv
import math
import sys


def load(path):
    with open(path, newline="") as f:
        return {(int(r["patient"]), r["arm"]): r for r in csv.DictReader(f)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    a = ap.parse_args()
    before, after = load(a.before), load(a.after)
    common = sorted(set(before) & set(after))
    if not common:
        sys.exit("no patient-arm is in both files")
    for key in common:
        if before[key]["phenotype"] != after[key]["phenotype"]:
            sys.exit(f"patient {key[0]} is {before[key]['phenotype']} before and "
                     f"{after[key]['phenotype']} after: not the same cohort file")
    arms = list(dict.fromkeys(arm for _, arm in common))
    patients = sorted({p for p, _ in common})
    print(f"{len(patients)} patients in both runs (indices {patients[0]}-{patients[-1]})\n")
    print("| arm | n | ORR before | ORR after | mean best change before | after | paired shift (SE) | changed category |")
    print("|---|---|---|---|---|---|---|---|")
    for arm in arms:
        keys = [k for k in common if k[1] == arm]
        n = len(keys)
        orr = lambda d: 100.0 * sum(d[k]["responder"] == "1" for k in keys) / n
        mean = lambda d: sum(float(d[k]["best_change_pct"]) for k in keys) / n
        shifts = [float(after[k]["best_change_pct"]) - float(before[k]["best_change_pct"]) for k in keys]
        m = sum(shifts) / n
        se = math.sqrt(sum((s - m) ** 2 for s in shifts) / (n - 1) / n) if n > 1 else float("nan")
        changed = sum(before[k]["recist"] != after[k]["recist"] for k in keys)
        print(f"| {arm} | {n} | {orr(before):.1f}% | {orr(after):.1f}% | {mean(before):+.1f}% "
              f"| {mean(after):+.1f}% | {m:+.1f} ({se:.1f}) | {changed} of {n} |")


if __name__ == "__main__":
    main()
