#!/usr/bin/env python3
"""One table of every trial's published figures beside the model's, from
the folder workflow/validation.smk writes.

    python3 scripts/validation_table.py OUT

Reads OUT/trials/<trial>/trial.csv (each published figure with the
model's value and 95% interval at the trial's arms) and
OUT/anchor/<trial>.json (the control arm's anchoring), and writes
OUT/validation.csv and OUT/validation.md (a Markdown table for
docs/validation.md). A figure the model does not compute (overall
survival; a median PFS not reached) is listed with an empty model cell.
Standard library only.
"""

import csv
import json
import os
import sys


def cell(value, low="", high=""):
    """A value with its interval; NR where the upper end was not reached."""
    if value == "":
        return ""
    if low != "":
        return f"{value} ({low}-{high or 'NR'})"
    return value


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
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
        if os.path.exists(fit):
            with open(fit) as f:
                anchor = json.load(f)
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                inside = ""
                if r["model_low"] != "" and r["published"] != "":
                    # An interval's upper end is empty when not reached
                    # (a median PFS): open above.
                    p = float(r["published"])
                    high = float(r["model_high"]) if r["model_high"] != "" else float("inf")
                    inside = "yes" if float(r["model_low"]) <= p <= high else "no"
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
                    "published_in_model_interval": inside,
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
        "| trial | arm | measure | published (95% CI), n | model (95% CI) | published inside | anchored responsive share |",
        "|---|---|---|---|---|---|---|",
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
            f"{cell(r['model'], r['model_low'], r['model_high'])} | {r['published_in_model_interval']} | {share} |"
        )
    with open(os.path.join(out, "validation.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(rows)} figures of {len({r['trial'] for r in rows})} trials: "
          f"{os.path.join(out, 'validation.md')}")


if __name__ == "__main__":
    main()
