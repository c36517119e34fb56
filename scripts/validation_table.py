#!/usr/bin/env python3
"""One table of every trial's published figures beside the model's, from
the folder workflow/validation.smk writes.

    python3 scripts/validation_table.py OUT [--draws 1000] [--seed 1] [--no-anchors] [--trials 'A;B']

Reads OUT/trials/<trial>/trial.csv (each published figure with the
model's value and 95% interval at the trial's arms), the trial's
patients.csv and OUT/anchor/<trial>.json (the control arm's anchoring),
and writes OUT/validation.csv and OUT/validation.md (a Markdown table for
docs/validation.md). A figure the model does not compute (overall
survival) is listed with an empty model cell.

**Anchored trials are weighted, not redrawn.** Where the anchor fitted a
phenotype mix, each virtual patient is weighted by the fitted share of
its phenotype over the share the cohort drew (prevalence weighting of a
virtual population: Allen, Rieger & Musante, CPT Pharmacometrics Syst
Pharmacol 2016;5:140), so the control arm's ORR is the anchored figure
and every other arm is read on the same weighted patients, with no new
simulation. The table gives the weighted figures, the figures as drawn
beside them, and the effective number of patients the weights leave
(Kish: (sum w)^2 / sum w^2).

Each ORR, DCR and median PFS also gets the model's 90% predictive
interval for a trial of the published arm's size, in two stages: the
virtual cohort's own sampling error, then the trial's patients drawn from
it, each draw read as the trial reads it (Kaplan-Meier for the median).
Unweighted, the first stage draws a rate from its Jeffreys posterior and
a median from a bootstrap copy of the cohort. Weighted, it is a bootstrap
of the patients within each phenotype with the mix fitted again on each
copy (so the anchor's own uncertainty is in the interval), and the trial
draws each patient's phenotype from that mix. The refit aims at a draw of
the published control ORR from its own trial's sampling error, so that
error reaches every other arm. "Published inside" asks whether the
published figure falls in that interval; the control arm's ORR, which the
anchor fitted, reads "anchored" instead, and a published median beyond the
model's follow-up, where the model's is not reached either, "beyond
follow-up". It covers the
sampling of virtual patients, not the uncertainty of the model's
parameters (the calibration's posterior). Standard library only.
"""

import argparse
import csv
import json
import math
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fit_phenotype_mix  # noqa: E402  (the one fit of a phenotype mix)

DAYS_PER_MONTH = 30.4375
MEASURES = ("orr_pct", "dcr_pct", "median_pfs_months")


def km_median(sample, weight=None):
    """Kaplan-Meier median of (days, event) pairs, each counted with its
    weight (1 without `weight`); inf when not reached."""
    w = weight or [1.0] * len(sample)
    order = sorted(range(len(sample)), key=lambda i: sample[i][0])
    at_risk = sum(w)
    surv = 1.0
    k = 0
    while k < len(order):
        t = sample[order[k]][0]
        j = k
        events = left = 0.0
        while j < len(order) and sample[order[j]][0] == t:
            left += w[order[j]]
            events += w[order[j]] if sample[order[j]][1] else 0.0
            j += 1
        if events > 0 and at_risk > 0:
            surv *= 1.0 - events / at_risk
            if surv <= 0.5 + 1e-12:
                return t
        at_risk -= left
        k = j
    return math.inf


def read_measure(sample, measure, weight=None):
    """A trial's reading of `measure` over patient rows (weighted where
    `weight` is given); None for a measure the model does not compute."""
    if not sample or measure not in MEASURES:
        return None
    w = weight or [1.0] * len(sample)
    total = sum(w)
    if total <= 0:
        return None
    if measure == "orr_pct":
        return 100.0 * sum(wi for r, wi in zip(sample, w) if r["responder"]) / total
    if measure == "dcr_pct":
        return 100.0 * sum(wi for r, wi in zip(sample, w) if r["control"]) / total
    return km_median([(r["pfs"], r["event"]) for r in sample], w) / DAYS_PER_MONTH


def binomial_pct(p, n, rng):
    return 100.0 * sum(rng.random() < p for _ in range(n)) / n


def percentile(values, f):
    values = sorted(values)
    return values[int(f * (len(values) - 1))]


def predictive(rows, measure, n, draws, rng):
    """Unweighted: the 5th and 95th percentiles of `measure` over trials of
    `n` patients. A rate: the cohort's rate from its Jeffreys posterior
    (Beta(x + 1/2, N - x + 1/2), so that 0 of N still leaves room), then
    the trial's count from it. A median: a bootstrap copy of the cohort,
    then the trial's patients from it."""
    if n <= 0 or read_measure(rows, measure) is None:
        return None
    values = []
    key = {"orr_pct": "responder", "dcr_pct": "control"}.get(measure)
    x = sum(r[key] for r in rows) if key else 0
    for _ in range(draws):
        if key:
            values.append(binomial_pct(rng.betavariate(x + 0.5, len(rows) - x + 0.5), n, rng))
            continue
        cohort = [rows[rng.randrange(len(rows))] for _ in rows]
        trial = [cohort[rng.randrange(len(cohort))] for _ in range(n)]
        values.append(read_measure(trial, measure))
    return percentile(values, 0.05), percentile(values, 0.95)


class Anchor:
    """A fitted phenotype mix (OUT/anchor/<trial>.json): the control arm,
    its target ORR, the method and the file's mix it moved, and the fitted
    mix (scripts/fit_phenotype_mix.py)."""

    def __init__(self, fit, path):
        try:
            self.arm = fit["arm"]
            self.target = fit["target_pct"] / 100.0
            self.method = fit["method"]
            self.param = float(fit["param"])
            self.reference = fit["reference"]
            self.prior = {p: float(w) for p, w in fit["prior"].items()}
            self.mix = {p: float(w) for p, w in fit["mix"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            sys.exit(f"error: {path}: the fit lacks {e} (rerun scripts/fit_phenotype_mix.py --json)")
        if self.method not in ("tilt", "share"):
            sys.exit(f"error: {path}: method = {self.method!r}: give tilt or share")
        if not self.prior or not self.mix:
            sys.exit(f"error: {path}: prior and mix must name at least one phenotype")
        self.reachable = fit.get("reachable") is not False

    def describe(self):
        """The fit in one cell: the method and its parameter."""
        if self.method == "tilt":
            return f"tilt lambda {self.param:.3f}"
        return f"share of {self.reference} {self.param:.3f}"

    def refit(self, control, target):
        """The mix fitted again on a copy of the control arm ({phenotype:
        [0/1]}) to a draw of the published target; the fitted mix where a
        copy lacks a phenotype or cannot move the ORR (that copy then
        carries no uncertainty of the anchor)."""
        orr = fit_phenotype_mix.rates(control)
        if any(p not in orr for p in self.prior):
            return self.mix
        fitted = fit_phenotype_mix.fit_mix(self.method, self.prior, orr, target, self.reference)
        return self.mix if fitted is None else fitted[0]

    def target_draw(self, n, rng):
        """The published control ORR as its own trial's sampling error
        leaves it: a draw from the Jeffreys posterior of x of n responders
        (the target itself where n is unknown)."""
        if n <= 0:
            return self.target
        x = self.target * n
        return rng.betavariate(x + 0.5, n - x + 0.5)


def weights_for(rows, mix, path):
    """Each patient's weight: the mix's share of its phenotype over the
    share the cohort drew."""
    count = {}
    for r in rows:
        count[r["phenotype"]] = count.get(r["phenotype"], 0) + 1
    missing = [p for p, m in mix.items() if m > 0 and p not in count]
    if missing:
        sys.exit(f"error: {path}: the anchored mix needs {', '.join(missing)}, which the cohort has no patient of")
    return [mix.get(r["phenotype"], 0.0) * len(rows) / count[r["phenotype"]] for r in rows]


def weighted_figures(arms, anchor, control_n, measures, draws, rng):
    """For each (arm, measure, n): the 95% interval of the weighted figure
    over bootstrap copies of the cohort (patients resampled within their
    phenotype, every arm of a patient kept together, the mix fitted again
    on each copy to a draw of the published control ORR from its own
    trial's `control_n` patients) and the 90% predictive interval of a
    trial of n patients drawn from each copy."""
    control = arms.get(anchor.arm, {})
    by_phenotype = {}
    for pid, r in control.items():
        by_phenotype.setdefault(r["phenotype"], []).append(pid)
    groups = sorted(by_phenotype.items())
    stage1 = {key: [] for key in measures}
    stage2 = {key: [] for key in measures}
    for _ in range(draws):
        copy = {p: [ids[rng.randrange(len(ids))] for _ in ids] for p, ids in groups}
        mix = anchor.refit({p: [control[i]["responder"] for i in ids] for p, ids in copy.items()},
                           anchor.target_draw(control_n, rng))
        names = [p for p in mix if mix[p] > 0 and copy.get(p)]
        shares = [mix[p] for p in names]
        for (arm, measure, n) in measures:
            rows_of = arms.get(arm, {})
            picked = {p: [rows_of[i] for i in ids if i in rows_of] for p, ids in copy.items()}
            sample = [r for p in names for r in picked[p]]
            if not sample:
                continue
            weight = [mix[p] / len(picked[p]) for p in names for _ in picked[p]]
            stage1[(arm, measure, n)].append(read_measure(sample, measure, weight))
            if n <= 0:
                continue
            if measure == "median_pfs_months":
                draw = rng.choices(names, weights=shares, k=n)
                trial = [picked[p][rng.randrange(len(picked[p]))] for p in draw if picked[p]]
                if trial:
                    stage2[(arm, measure, n)].append(read_measure(trial, measure))
            else:
                stage2[(arm, measure, n)].append(binomial_pct(stage1[(arm, measure, n)][-1] / 100.0, n, rng))
    out = {}
    for key in measures:
        ci = (percentile(stage1[key], 0.025), percentile(stage1[key], 0.975)) if stage1[key] else None
        pi = (percentile(stage2[key], 0.05), percentile(stage2[key], 0.95)) if stage2[key] else None
        out[key] = (ci, pi)
    return out


def patients_of(path):
    """{arm: {patient: row}} of a cohort's patients.csv."""
    out = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            out.setdefault(r["arm"], {})[r["patient"]] = {
                "phenotype": r["phenotype"],
                "responder": r["responder"] == "1",
                "control": r["recist"] in ("CR", "PR", "SD"),
                "pfs": float(r["pfs_days"]),
                "event": r["censored"] != "1",
            }
    return out


def number(x):
    if x is None:
        return ""
    return "inf" if math.isinf(x) else f"{x:.2f}"


def months(x):
    """A figure as the table prints it; NR (not reached) for a median
    beyond follow-up."""
    try:
        x = float(x)
    except ValueError:
        return x
    return "NR" if math.isinf(x) else f"{x:.1f}"


def interval(lo, hi):
    if lo == "":
        return ""
    return f"{months(lo)}-{months(hi)}"


def cell(value, low="", high=""):
    """A value with its interval; NR where the upper end was not reached."""
    if value == "":
        return ""
    value = months(value)
    if low != "":
        return f"{value} ({months(low) if low else 'NR'}-{months(high) if high else 'NR'})"
    return value


def read_trial(out, trial, args, rng):
    folder = os.path.join(out, "trials", trial)
    path = os.path.join(folder, "trial.csv")
    if not os.path.exists(path):
        sys.exit(f"error: {path} is missing")
    fit_path = os.path.join(out, "anchor", f"{trial}.json")
    fit = {}
    if os.path.exists(fit_path) and not args.no_anchors:
        with open(fit_path) as f:
            fit = json.load(f)
    anchor = Anchor(fit, fit_path) if fit.get("fitted") else None
    arms = patients_of(os.path.join(folder, "patients.csv"))
    with open(path, newline="") as f:
        figures = list(csv.DictReader(f))
    keys = [(r["arm"], r["measure"], int(r["published_patients"] or 0)) for r in figures]
    ess = ""
    if anchor:
        if anchor.arm not in arms:
            sys.exit(f"error: {fit_path}: the control arm {anchor.arm} is not in {folder}/patients.csv")
        control = list(arms[anchor.arm].values())
        w = weights_for(control, anchor.mix, fit_path)
        ess = f"{sum(w) ** 2 / sum(x * x for x in w):.1f}"
        control_n = next((n for (arm, measure, n) in keys if arm == anchor.arm and measure == "orr_pct"), 0)
        spread = weighted_figures(arms, anchor, control_n, [k for k in keys if k[1] in MEASURES], args.draws, rng)
    rows = []
    for r, key in zip(figures, keys):
        arm, measure, n = key
        sample = list(arms.get(arm, {}).values())
        row = {
            "trial": trial,
            "arm": arm,
            "measure": measure,
            "published": r["published"],
            "published_low": r["published_low"],
            "published_high": r["published_high"],
            "published_patients": r["published_patients"],
            "model": r["model"],
            "model_low": r["model_low"],
            "model_high": r["model_high"],
            "model_as_drawn": r["model"],
            "model_pi90_low": "",
            "model_pi90_high": "",
            "published_in_pi90": "",
            "anchor": anchor.describe() if anchor else "",
            "anchor_reachable": ("yes" if anchor.reachable else "no") if anchor else "",
            "effective_patients": ess,
            "source": r["source"],
        }
        pi = None
        if anchor and measure in MEASURES and sample:
            value = read_measure(sample, measure, weights_for(sample, anchor.mix, fit_path))
            ci, pi = spread[key]
            row["model"] = number(value)
            row["model_low"], row["model_high"] = (number(ci[0]), number(ci[1])) if ci else ("", "")
        elif sample:
            pi = predictive(sample, measure, n, args.draws, rng)
        if pi is not None:
            row["model_pi90_low"], row["model_pi90_high"] = number(pi[0]), number(pi[1])
            follow_up = max((x["pfs"] for x in sample), default=0.0) / DAYS_PER_MONTH
            if anchor and (arm, measure) == (anchor.arm, "orr_pct"):
                # The anchor fitted this figure: not a check of the model.
                row["published_in_pi90"] = "anchored"
            elif (measure == "median_pfs_months" and math.isinf(pi[0]) and r["published"] != ""
                  and float(r["published"]) > follow_up):
                # Neither median is reached within the model's follow-up.
                row["published_in_pi90"] = "beyond follow-up"
            elif r["published"] != "":
                # Published figures are rounded to 0.1.
                p = float(r["published"])
                row["published_in_pi90"] = "yes" if pi[0] - 0.05 <= p <= pi[1] + 0.05 else "no"
        rows.append(row)
    return rows, anchor


def mixes(anchors):
    """Each anchored trial's fitted mix beside its file's, one column per
    phenotype (Markdown; "-" where a mix lacks the phenotype)."""
    phenotypes = sorted({p for a, _ in anchors.values() for p in list(a.prior) + list(a.mix)})
    share = lambda mix, p: f"{100 * mix[p]:.1f}" if p in mix else "-"
    lines = [
        "| trial | mix | control arm, target ORR | fit (effective patients) | " + " | ".join(phenotypes) + " |",
        "|---|---|---|---|" + "---|" * len(phenotypes),
    ]
    for trial, (a, ess) in anchors.items():
        fit = a.describe() + ("" if a.reachable else ", target out of reach")
        file_shares = " | ".join(share(a.prior, p) for p in phenotypes)
        fitted_shares = " | ".join(share(a.mix, p) for p in phenotypes)
        lines.append(f"| {trial} | file |  |  | {file_shares} |")
        lines.append(f"| {trial} | anchored | {a.arm}, {100 * a.target:.1f}% | {fit} ({ess}) | {fitted_shares} |")
    return "\n".join(lines) + "\n"


def markdown(rows):
    lines = [
        "| trial | arm | measure | published (95% CI), n | model (95% CI) | model as drawn | "
        "model, 90% predictive interval at the trial's n | published inside | anchor "
        "(effective patients) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fit = r["anchor"]
        if fit and r["anchor_reachable"] == "no":
            fit += " (target out of reach)"
        fit = f"{fit} ({r['effective_patients']})" if fit else "not anchored"
        drawn = cell(r["model_as_drawn"]) if r["anchor"] else ""
        lines.append(
            f"| {r['trial']} | {r['arm']} | {r['measure']} | "
            f"{cell(r['published'], r['published_low'], r['published_high'])}, n = {r['published_patients']} | "
            f"{cell(r['model'], r['model_low'], r['model_high'])} | {drawn} | "
            f"{interval(r['model_pi90_low'], r['model_pi90_high'])} | "
            f"{r['published_in_pi90']} | {fit} |"
        )
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="the folder workflow/validation.smk wrote")
    ap.add_argument("--draws", type=int, default=1000, help="bootstrap draws per figure")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-anchors", action="store_true",
                    help="read every trial as drawn: ignore OUT/anchor")
    ap.add_argument("--trials", help="only these trials of OUT/trials, separated by ';' (default: every one)")
    args = ap.parse_args()
    if args.draws < 1:
        sys.exit("error: --draws must be at least 1")
    rng = random.Random(args.seed)
    trials_dir = os.path.join(args.out, "trials")
    if not os.path.isdir(trials_dir):
        sys.exit(f"error: {trials_dir} does not exist: run workflow/validation.smk first")
    trials = sorted(os.listdir(trials_dir))
    if args.trials:
        wanted = [t.strip() for t in args.trials.split(";") if t.strip()]
        missing = [t for t in wanted if t not in trials]
        if missing:
            sys.exit(f"error: --trials: {', '.join(missing)} not under {trials_dir}")
        trials = wanted
    rows, anchors = [], {}
    for trial in trials:
        found, anchor = read_trial(args.out, trial, args, rng)
        rows += found
        if anchor and found:
            anchors[trial] = (anchor, found[0]["effective_patients"])
    if not rows:
        sys.exit(f"error: no trial under {trials_dir}")
    with open(os.path.join(args.out, "validation.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(args.out, "validation.md"), "w") as f:
        f.write(markdown(rows))
        if anchors:
            f.write("\nPhenotype mixes (% of patients) the anchors fitted:\n\n" + mixes(anchors))
    print(f"{len(rows)} figures of {len({r['trial'] for r in rows})} trials: "
          f"{os.path.join(args.out, 'validation.md')}")


if __name__ == "__main__":
    main()
