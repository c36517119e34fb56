#!/usr/bin/env python3
"""The combinations fitted to their trials: a design over model parameters,
each trial's virtual cohort at every point, Gaussian-process emulators of
every published figure, history matching, approximate Bayesian computation
on the emulators, and posterior predictive intervals at each trial's size.
workflow/calibration.smk runs the steps; each is a subcommand here:

    python3 scripts/trial_calibration.py check  CONFIG [--tmesim T]
    python3 scripts/trial_calibration.py design CONFIG OUT
    python3 scripts/trial_calibration.py sets   OUT POINT
    python3 scripts/trial_calibration.py figures CONFIG OUT
    python3 scripts/trial_calibration.py fit    CONFIG OUT

CONFIG (configs/calibration/trials.toml) names the parameters with their
prior ranges and the figures, each `training` (fitted) or `heldout`
(predicted only). A figure's value, interval, size and source are read from
its trial's cohort file (configs/cohorts), so every figure carries the
citation checked there; the model's figure at a design point is read as
scripts/validation_table.py reads a trial: the control arm anchored on its
published ORR by weighting the virtual patients to a fitted phenotype mix.

The fit (docs/calibration.md, "The combinations fitted to their trials"):

1. One emulator per figure: a Gaussian process (scikit-learn; a Matern 5/2
   kernel with one length scale per parameter, in [0, 1] coordinates, log
   axes in their logarithm, plus a white-noise term for the jitter between
   points), fitted on the points where the trial's control arm was
   anchored on its published figure (a point where the mix cannot reach it
   is left out and counted). Its variance is the latent function's, without
   the jitter.
2. History matching: of `samples` prior draws, those whose implausibility
   |z - E[f]| / sqrt(obs^2 + discrepancy^2 + cohort^2 + Var f) stays under
   `cutoff` for every training figure (Craig et al. 1997; Vernon et al.
   2010). obs is the trial's sampling error at its published size
   (binomial for a rate; from the published 95% interval for a median),
   discrepancy the model error stated in CONFIG, and cohort the virtual
   cohort's own sampling error (the median over points of the weighted
   bootstrap's 95% interval, divided by 3.92). The same patients are at
   every point, so that error is one offset shared by all points, not
   noise between them.
3. Rejection ABC on the emulators (Pritchard et al. 1999): each kept draw
   simulates every training figure (emulator draw, the cohort's sampling
   error, discrepancy, then the trial's patients: a binomial count at its
   size), and the `accept` share
   closest to the published figures (largest standardised distance over
   the figures) is the posterior.
4. Posterior predictive intervals: for every figure, training and held-out,
   the same simulation over the posterior; the 90% interval, and whether
   the published figure lies in it.

Writes OUT/design.csv, OUT/figures.csv, OUT/posterior.csv and
OUT/calibration.csv / .md / .json. Needs scikit-learn and scipy.
"""
import argparse
import csv
import json
import math
import os
import random
import subprocess
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import fit_phenotype_mix  # noqa: E402  (the cohort-file reader)
import validation_table  # noqa: E402  (the weighted reading of a trial)

RATES = ("orr_pct", "dcr_pct")
MEASURES = RATES + ("median_pfs_months",)
ROLES = ("training", "heldout")
DEFAULTS = {"patients": 40, "points": 16, "seed": 1, "discrepancy_pct": 5.0,
            "discrepancy_months": 1.0, "samples": 20000, "accept": 0.05, "cutoff": 3.0}


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def load_config(path):
    """CONFIG's [calibration] table, checked: every key it needs, each
    figure's trial file and its published figure with a source."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        fail(f"{path}: {e}")
    cal = doc.get("calibration")
    if not isinstance(cal, dict):
        fail(f"{path}: no [calibration] table")
    known = set(DEFAULTS) | {"parameter", "figure", "cohorts"}
    for key in cal:
        if key not in known:
            fail(f"{path}: calibration.{key} is not a key (known: {', '.join(sorted(known))})")
    out = dict(DEFAULTS)
    out.update({k: v for k, v in cal.items() if k in DEFAULTS})
    for key in ("patients", "points", "samples"):
        if not isinstance(out[key], int) or out[key] < 2:
            fail(f"{path}: calibration.{key} = {out[key]!r} must be a whole number of 2 or more")
    for key in ("discrepancy_pct", "discrepancy_months"):
        if not (isinstance(out[key], (int, float)) and out[key] >= 0):
            fail(f"{path}: calibration.{key} = {out[key]!r} must be 0 or more")
    if not (isinstance(out["accept"], (int, float)) and 0 < out["accept"] <= 1):
        fail(f"{path}: calibration.accept = {out['accept']!r} must be in (0, 1]")
    if not (isinstance(out["cutoff"], (int, float)) and out["cutoff"] > 0):
        fail(f"{path}: calibration.cutoff = {out['cutoff']!r} must be positive")
    cohorts = os.path.join(os.path.dirname(os.path.abspath(path)), cal.get("cohorts", "../cohorts"))
    params = cal.get("parameter") or fail(f"{path}: no [[calibration.parameter]]; give at least one")
    out["parameter"] = []
    for i, p in enumerate(params):
        at = f"{path}: calibration.parameter[{i}]"
        for key in ("key", "min", "max"):
            if key not in p:
                fail(f"{at}.{key} is missing")
        lo, hi, log = float(p["min"]), float(p["max"]), bool(p.get("log", False))
        if not lo < hi:
            fail(f"{at}: min {lo} must be below max {hi}")
        if log and lo <= 0:
            fail(f"{at}: a log axis needs min > 0 (min = {lo})")
        if not str(p["key"]).startswith("params."):
            fail(f"{at}.key = {p['key']!r}: calibrate registry parameters (params.*; `tmesim params` lists them)")
        out["parameter"].append({"key": p["key"], "min": lo, "max": hi, "log": log})
    keys = [p["key"] for p in out["parameter"]]
    if len(set(keys)) != len(keys):
        fail(f"{path}: a parameter is named twice")
    figures = cal.get("figure") or fail(f"{path}: no [[calibration.figure]]; give at least one")
    out["figure"] = []
    for i, fig in enumerate(figures):
        at = f"{path}: calibration.figure[{i}]"
        for key in ("trial", "arm", "measure", "role"):
            if key not in fig:
                fail(f"{at}.{key} is missing")
        if fig["role"] not in ROLES:
            fail(f"{at}.role = {fig['role']!r} must be one of {', '.join(ROLES)}")
        if fig["measure"] not in MEASURES:
            fail(f"{at}.measure = {fig['measure']!r}: the model computes {', '.join(MEASURES)}")
        trial_file = os.path.normpath(os.path.join(cohorts, f"{fig['trial']}.toml"))
        if not os.path.exists(trial_file):
            fail(f"{at}.trial = {fig['trial']!r}: {trial_file} does not exist")
        cohort = fit_phenotype_mix.load_cohort(trial_file)
        match = [f for f in cohort.get("figure", [])
                 if f.get("arm") == fig["arm"] and f.get("measure") == fig["measure"]]
        if not match:
            fail(f"{at}: {trial_file} has no [[cohort.figure]] with arm = {fig['arm']!r} and "
                 f"measure = {fig['measure']!r}")
        pub = match[0]
        if not pub.get("source"):
            fail(f"{at}: the figure in {trial_file} has no source")
        if not pub.get("patients"):
            fail(f"{at}: the figure in {trial_file} has no `patients` (the trial arm's size)")
        if fig["measure"] not in RATES:
            if not ("low" in pub and "high" in pub):
                fail(f"{at}: a median needs its published 95% interval (low, high) in {trial_file}")
            if not float(pub["low"]) < float(pub["value"]) < float(pub["high"]):
                fail(f"{at}: the figure in {trial_file} needs low < value < high "
                     f"(low = {pub['low']}, value = {pub['value']}, high = {pub['high']})")
        out["figure"].append({**fig, "file": trial_file, "value": float(pub["value"]),
                              "low": pub.get("low"), "high": pub.get("high"),
                              "n": int(pub["patients"]), "source": pub["source"]})
    if not any(f["role"] == "training" for f in out["figure"]):
        fail(f"{path}: no figure has role = \"training\"")
    out["trials"] = sorted({f["trial"] for f in out["figure"]})
    out["files"] = {f["trial"]: f["file"] for f in out["figure"]}
    return out


def check_ranges(cfg, tmesim):
    """Each parameter's ends against the registry, through `tmesim check`
    (its error names the key and the allowed range)."""
    base = os.path.join(REPO, "configs", "baseline.toml")
    for p in cfg["parameter"]:
        for end in ("min", "max"):
            run = subprocess.run([tmesim, "check", base, "--set", f"{p['key']}={p[end]}"],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                msg = (run.stderr.strip().splitlines() or ["tmesim check failed"])[-1]
                fail(f"calibration.parameter {p['key']} {end} = {p[end]}: {msg}")


def to_unit(p, x):
    if p["log"]:
        return (math.log(x) - math.log(p["min"])) / (math.log(p["max"]) - math.log(p["min"]))
    return (x - p["min"]) / (p["max"] - p["min"])


def from_unit(p, u):
    if p["log"]:
        return math.exp(math.log(p["min"]) + u * (math.log(p["max"]) - math.log(p["min"])))
    return p["min"] + u * (p["max"] - p["min"])


def design(cfg, out):
    from scipy.stats import qmc
    lhs = qmc.LatinHypercube(d=len(cfg["parameter"]), seed=cfg["seed"]).random(cfg["points"])
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "design.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["point"] + [p["key"] for p in cfg["parameter"]])
        for i, u in enumerate(lhs):
            w.writerow([i] + [f"{from_unit(p, x):.6g}" for p, x in zip(cfg["parameter"], u)])


def read_design(out):
    with open(os.path.join(out, "design.csv"), newline="") as f:
        return list(csv.DictReader(f))


def figures(cfg, out):
    """Every figure's model value at every point (the trial read as
    scripts/validation_table.py reads it), into OUT/figures.csv."""
    keys = [p["key"] for p in cfg["parameter"]]
    rows = []
    # Enough bootstrap copies for the cohort's own 95% interval.
    table_args = argparse.Namespace(draws=200, no_anchors=False)
    for point in read_design(out):
        folder = os.path.join(out, "points", point["point"])
        read = {}
        for trial in cfg["trials"]:
            rng = random.Random(1)
            for r in validation_table.read_trial(folder, trial, table_args, rng)[0]:
                read[(trial, r["arm"], r["measure"])] = r
        for fig in cfg["figure"]:
            r = read.get((fig["trial"], fig["arm"], fig["measure"]))
            if r is None:
                fail(f"{folder}/trials/{fig['trial']}/trial.csv has no {fig['arm']} {fig['measure']}")
            rows.append({"point": point["point"], **{k: point[k] for k in keys},
                         "trial": fig["trial"], "arm": fig["arm"], "measure": fig["measure"],
                         "role": fig["role"], "model": r["model"], "model_low": r["model_low"],
                         "model_high": r["model_high"],
                         "anchored": "yes" if r["anchor"] else "no",
                         "reachable": r["anchor_reachable"] or "no"})
    with open(os.path.join(out, "figures.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def obs_sd(fig):
    """The trial's own sampling error of a figure at its published size."""
    if fig["measure"] in RATES:
        p = min(max(fig["value"] / 100.0, 0.5 / fig["n"]), 1 - 0.5 / fig["n"])
        return 100.0 * math.sqrt(p * (1 - p) / fig["n"])
    return (float(fig["high"]) - float(fig["low"])) / (2 * 1.959964)


def discrepancy(cfg, fig):
    return cfg["discrepancy_pct"] if fig["measure"] in RATES else cfg["discrepancy_months"]


def trial_reading(fig, value, rng):
    """What a trial of the figure's size reads when the truth is `value`."""
    if fig["measure"] in RATES:
        p = min(max(value / 100.0, 0.0), 1.0)
        n = fig["n"]
        return 100.0 * sum(rng.random() < p for _ in range(n)) / n
    return value + rng.gauss(0.0, obs_sd(fig))


def interval(row):
    if row["ppi90_low"] == "":
        return ""
    return f"{float(row['ppi90_low']):.1f}-{float(row['ppi90_high']):.1f}"


def fit(cfg, out):
    import numpy as np
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
    from sklearn.model_selection import LeaveOneOut, cross_val_predict

    params = cfg["parameter"]
    keys = [p["key"] for p in params]
    with open(os.path.join(out, "figures.csv"), newline="") as f:
        table = list(csv.DictReader(f))
    rng = random.Random(cfg["seed"])
    nprng = np.random.default_rng(cfg["seed"])
    emulators, checks, skipped = [], [], {}
    cohort_sd = {}
    for fig in cfg["figure"]:
        rows = [r for r in table if (r["trial"], r["arm"], r["measure"]) == (fig["trial"], fig["arm"], fig["measure"])]
        used = [r for r in rows if r.get("anchored", "yes") == "yes" and r.get("reachable", "yes") == "yes"]
        left = len(rows) - len(used)
        if any(r["model"] in ("", "inf") for r in used):
            # A median beyond follow-up is not reached: no value to emulate.
            reached = sum(r["model"] not in ("", "inf") for r in used)
            skipped[len(emulators)] = f"the model reaches a value at {reached} of {len(used)} points"
            emulators.append(None)
            continue
        if len(used) < 3:
            skipped[len(emulators)] = (f"the control arm was anchored on its published figure at {len(used)} "
                                       f"of {len(rows)} points")
            emulators.append(None)
            continue
        rows = used
        x = np.array([[to_unit(p, float(r[p["key"]])) for p in params] for r in rows])
        y = np.array([float(r["model"]) for r in rows])
        scale = max(float(np.std(y)), 1e-6)
        kernel = (ConstantKernel(1.0, (1e-3, 1e3)) * Matern([0.5] * len(params), (0.05, 20.0), nu=2.5)
                  + WhiteKernel(0.1, (1e-6, 1.0)))
        gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=3,
                                      random_state=cfg["seed"]).fit(x, y)
        loo = cross_val_predict(GaussianProcessRegressor(gp.kernel_, normalize_y=True, optimizer=None), x, y,
                                cv=LeaveOneOut())
        # The latent function alone: the fitted jitter moves into alpha.
        latent = GaussianProcessRegressor(gp.kernel_.k1, alpha=gp.kernel_.k2.noise_level, normalize_y=True,
                                          optimizer=None).fit(x, y)
        widths = [float(r["model_high"]) - float(r["model_low"]) for r in rows
                  if r.get("model_low") not in (None, "", "inf") and r.get("model_high") not in (None, "", "inf")]
        cohort_sd[len(emulators)] = float(np.median(widths)) / 3.92 if widths else 0.0
        checks.append({"trial": fig["trial"], "arm": fig["arm"], "measure": fig["measure"],
                       "points": len(rows), "points_left_out": left, "spread": float(np.std(y)),
                       "cohort_sd": cohort_sd[len(emulators)],
                       "loo_rmse": float(np.sqrt(np.mean((loo - y) ** 2))), "kernel": str(gp.kernel_),
                       "relative_loo": float(np.sqrt(np.mean((loo - y) ** 2)) / scale)})
        emulators.append(latent)

    # 2. History matching on prior draws.
    u = nprng.random((cfg["samples"], len(params)))
    training = [i for i, f in enumerate(cfg["figure"]) if f["role"] == "training" and emulators[i]]
    if not training:
        fail("no training figure could be emulated: " + "; ".join(skipped.values()))
    mean, sd = {}, {}
    for i, gp in enumerate(emulators):
        if gp is None:
            continue
        m, s = gp.predict(u, return_std=True)
        mean[i], sd[i] = m, s
    implaus = np.zeros(len(u))
    for i in training:
        fig = cfg["figure"][i]
        var = obs_sd(fig) ** 2 + discrepancy(cfg, fig) ** 2 + cohort_sd[i] ** 2 + sd[i] ** 2
        implaus = np.maximum(implaus, np.abs(fig["value"] - mean[i]) / np.sqrt(var))
    kept = np.flatnonzero(implaus < cfg["cutoff"])
    if len(kept) == 0:
        kept = np.argsort(implaus)[: max(1, int(0.01 * len(u)))]
        note = (f"every prior draw is implausible (smallest implausibility {implaus.min():.2f} > "
                f"{cfg['cutoff']}): the 1% least implausible are kept, and the model misses a training figure")
    else:
        note = ""

    # 3. Rejection ABC on the kept draws: simulate each training figure.
    def simulate(i, j):
        fig = cfg["figure"][i]
        value = (mean[i][j] + sd[i][j] * rng.gauss(0, 1) + rng.gauss(0, cohort_sd[i])
                 + rng.gauss(0, discrepancy(cfg, fig)))
        return trial_reading(fig, value, rng)

    distance = []
    for j in kept:
        d = max(abs(simulate(i, j) - cfg["figure"][i]["value"]) / obs_sd(cfg["figure"][i]) for i in training)
        distance.append((d, int(j)))
    distance.sort()
    n_post = max(10, int(round(cfg["accept"] * len(distance))))
    posterior = [j for _, j in distance[:n_post]]
    tolerance = distance[min(n_post, len(distance)) - 1][0]
    with open(os.path.join(out, "posterior.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys)
        for j in posterior:
            w.writerow([f"{from_unit(p, u[j][k]):.6g}" for k, p in enumerate(params)])

    # 4. Posterior predictive intervals of every figure.
    rows = []
    for i, fig in enumerate(cfg["figure"]):
        if emulators[i] is None:
            rows.append({"trial": fig["trial"], "arm": fig["arm"], "measure": fig["measure"], "role": fig["role"],
                         "published": fig["value"], "published_patients": fig["n"], "model_posterior_mean": "",
                         "model_prior_mean": "", "ppi90_low": "", "ppi90_high": "",
                         "published_in_ppi90": f"not emulated: {skipped[i]}", "source": fig["source"]})
            continue
        sims = sorted(simulate(i, j) for j in posterior for _ in range(4))
        lo, hi = sims[int(0.05 * (len(sims) - 1))], sims[int(0.95 * (len(sims) - 1))]
        at_prior = float(np.mean(mean[i]))
        rows.append({"trial": fig["trial"], "arm": fig["arm"], "measure": fig["measure"], "role": fig["role"],
                     "published": fig["value"], "published_patients": fig["n"],
                     "model_posterior_mean": f"{float(np.mean(mean[i][posterior])):.2f}",
                     "model_prior_mean": f"{at_prior:.2f}",
                     "ppi90_low": f"{lo:.2f}", "ppi90_high": f"{hi:.2f}",
                     "published_in_ppi90": "yes" if lo - 0.05 <= fig["value"] <= hi + 0.05 else "no",
                     "source": fig["source"]})
    post = np.array([[from_unit(p, u[j][k]) for k, p in enumerate(params)] for j in posterior])
    summary = {
        "parameters": {p["key"]: {"prior": [p["min"], p["max"]], "log": p["log"],
                                  "posterior_median": float(np.median(post[:, k])),
                                  "posterior_90": [float(np.quantile(post[:, k], 0.05)),
                                                   float(np.quantile(post[:, k], 0.95))]}
                       for k, p in enumerate(params)},
        "emulators": checks,
        "history_matching": {"samples": len(u), "kept": int(len(kept)), "cutoff": cfg["cutoff"], "note": note},
        "abc": {"accepted": len(posterior), "tolerance_sd": tolerance},
        "heldout_inside": sum(r["published_in_ppi90"] == "yes" for r in rows if r["role"] == "heldout"),
        "heldout": sum(r["role"] == "heldout" for r in rows),
        "training_inside": sum(r["published_in_ppi90"] == "yes" for r in rows if r["role"] == "training"),
        "training": sum(r["role"] == "training" for r in rows),
    }
    with open(os.path.join(out, "calibration.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    with open(os.path.join(out, "calibration.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = ["| role | trial | arm | measure | published, n | model over the prior (emulator mean) | model over the posterior | "
             "90% posterior predictive interval | published inside |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['role']} | {r['trial']} | {r['arm']} | {r['measure']} | {r['published']}, "
                     f"n = {r['published_patients']} | {r['model_prior_mean']} | {r['model_posterior_mean']} | "
                     f"{interval(r)} | {r['published_in_ppi90']} |")
    lines += ["", "| parameter | prior | posterior median | posterior 90% |", "|---|---|---|---|"]
    for key, s in summary["parameters"].items():
        lines.append(f"| {key} | {s['prior'][0]:g}-{s['prior'][1]:g}{' (log)' if s['log'] else ''} | "
                     f"{s['posterior_median']:.3g} | {s['posterior_90'][0]:.3g}-{s['posterior_90'][1]:.3g} |")
    lines += ["", f"History matching kept {len(kept)} of {len(u)} prior draws (cutoff {cfg['cutoff']}); "
              f"ABC accepted {len(posterior)} (largest standardised distance {tolerance:.2f}). "
              f"Held-out figures inside their 90% interval: {summary['heldout_inside']} of {summary['heldout']}; "
              f"training: {summary['training_inside']} of {summary['training']}. {note}"]
    with open(os.path.join(out, "calibration.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="step", required=True)
    c = sub.add_parser("check", help="check CONFIG (and each range against the registry) and print its plan as JSON")
    c.add_argument("config")
    c.add_argument("--tmesim", default="tmesim")
    d = sub.add_parser("design", help="the Latin hypercube, OUT/design.csv")
    d.add_argument("config")
    d.add_argument("out")
    s = sub.add_parser("sets", help="the --set words of one design point")
    s.add_argument("out")
    s.add_argument("point")
    g = sub.add_parser("figures", help="every figure at every point, OUT/figures.csv")
    g.add_argument("config")
    g.add_argument("out")
    ft = sub.add_parser("fit", help="emulators, history matching, ABC and predictive intervals")
    ft.add_argument("config")
    ft.add_argument("out")
    args = ap.parse_args()
    if args.step == "check":
        cfg = load_config(args.config)
        check_ranges(cfg, args.tmesim)
        print(json.dumps({k: cfg[k] for k in ("trials", "files", "points", "patients")}))
    elif args.step == "design":
        design(load_config(args.config), args.out)
    elif args.step == "sets":
        row = next((r for r in read_design(args.out) if r["point"] == args.point), None)
        if row is None:
            fail(f"{args.out}/design.csv has no point {args.point}")
        print(" ".join(f"--set {k}={v}" for k, v in row.items() if k != "point"))
    elif args.step == "figures":
        figures(load_config(args.config), args.out)
    else:
        fit(load_config(args.config), args.out)


if __name__ == "__main__":
    main()
