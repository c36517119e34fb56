#!/usr/bin/env python3
"""History matching on a `tmesim sweep` folder: one wave.

    python3 scripts/history_match.py SWEEP_DIR TARGETS.toml [--out DIR]
                                     [--samples 100000] [--cutoff 3] [--seed 1]

Fits a Gaussian-process emulator (scikit-learn) to each target's output
over the sweep's axes (read from SWEEP_DIR/sweep.json; log axes in their
logarithm), then rules out every point of the axes' box whose implausibility

    I(x) = |z - E[f(x)]| / sqrt(obs_sd^2 + discrepancy_sd^2 + Var[f(x)])

exceeds the cutoff for any target (Craig et al. 1997; Vernon et al., Bayesian
Anal. 5:619, 2010; 3 after Pukelsheim's three-sigma rule). Writes to DIR
(default SWEEP_DIR/history_match):

- nonimplausible.csv: the box's sample points not ruled out, in the keys' units,
  with their largest implausibility (the next wave's design is drawn from them);
- summary.json: per target the emulator's leave-one-out check, and per key
  the range still plausible, and the share of the box not ruled out.

TARGETS.toml:

    [[target]]
    output = "log10_nadir_ratio"     # a column of sweep.csv
    value = -1.0                     # the observed value
    obs_sd = 0.1                     # its measurement uncertainty
    discrepancy_sd = 0.1             # the model's own error, stated
    source = "..."                   # where the value comes from (required)

A target without a source, an unknown output, or a negative uncertainty is an
error naming the file and the target, before anything is fitted.
"""
import argparse
import csv
import json
import math
import sys
import tomllib


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def read_targets(path, outputs):
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        fail(f"{path}: {e}")
    targets = doc.get("target")
    if not targets:
        fail(f"{path}: no [[target]]; give at least one")
    for i, t in enumerate(targets):
        at = f"{path}: target[{i}]"
        for key in ("output", "value", "obs_sd", "discrepancy_sd", "source"):
            if key not in t:
                fail(f"{at}.{key} is missing")
        if not str(t["source"]).strip():
            fail(f"{at}.source is empty: every training figure names where it comes from")
        if t["output"] not in outputs:
            fail(f"{at}.output: `{t['output']}` is not a column of sweep.csv ({', '.join(outputs)})")
        for key in ("obs_sd", "discrepancy_sd"):
            v = t[key]
            if not isinstance(v, (int, float)) or v < 0 or not math.isfinite(v):
                fail(f"{at}.{key} = {v} must be a number >= 0")
        if not isinstance(t["value"], (int, float)) or not math.isfinite(t["value"]):
            fail(f"{at}.value = {t['value']} must be a finite number")
    return targets


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sweep")
    ap.add_argument("targets")
    ap.add_argument("--out")
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--cutoff", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    try:
        desc = json.load(open(f"{a.sweep}/sweep.json"))
        rows = list(csv.DictReader(open(f"{a.sweep}/sweep.csv")))
    except OSError as e:
        fail(f"{a.sweep}: not a finished tmesim sweep ({e})")
    outputs = desc["outputs"]
    targets = read_targets(a.targets, outputs)
    if len(rows) < 4:
        fail(f"{a.sweep}: {len(rows)} points; an emulator needs at least 4")

    import numpy as np
    from scipy.stats import qmc
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
    from sklearn.model_selection import LeaveOneOut, cross_val_predict

    axes = desc["axes"]

    def unit(key_values):
        cols = []
        for ax, v in zip(axes, key_values.T):
            lo, hi = ax["lo"], ax["hi"]
            if ax["scale"] == "log":
                cols.append((np.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo)))
            else:
                cols.append((v - lo) / (hi - lo))
        return np.stack(cols, axis=1)

    def value(u):
        cols = []
        for ax, c in zip(axes, u.T):
            lo, hi = ax["lo"], ax["hi"]
            if ax["scale"] == "log":
                cols.append(np.exp((1 - c) * math.log(lo) + c * math.log(hi)))
            else:
                cols.append((1 - c) * lo + c * hi)
        return np.stack(cols, axis=1)

    keys = [ax["key"] for ax in axes]
    x = unit(np.array([[float(r[k]) for k in keys] for r in rows]))
    k = len(keys)
    box = qmc.LatinHypercube(d=k, seed=a.seed).random(a.samples)
    worst = np.zeros(a.samples)
    report = {"targets": [], "keys": {}, "points": len(rows), "samples": a.samples, "cutoff": a.cutoff}
    for t in targets:
        y = np.array([float(r[t["output"]]) for r in rows])
        kernel = ConstantKernel(1.0) * RBF(length_scale=[0.3] * k, length_scale_bounds=(1e-2, 1e2)) \
            + WhiteKernel(1e-6, noise_level_bounds=(1e-10, 1e-1))
        gp = GaussianProcessRegressor(kernel=kernel, normalize_y=True, random_state=a.seed)
        gp.fit(x, y)
        # Leave-one-out: how far off the emulator is on points it did not see.
        loo = cross_val_predict(GaussianProcessRegressor(kernel=gp.kernel_, optimizer=None, normalize_y=True),
                                x, y, cv=LeaveOneOut())
        spread = float(np.std(y)) or 1.0
        mean, sd = gp.predict(box, return_std=True)
        var = t["obs_sd"] ** 2 + t["discrepancy_sd"] ** 2 + sd ** 2
        imp = np.abs(t["value"] - mean) / np.sqrt(np.maximum(var, 1e-300))
        worst = np.maximum(worst, imp)
        report["targets"].append({
            "output": t["output"], "value": t["value"], "source": t["source"],
            "loo_rmse": float(np.sqrt(np.mean((loo - y) ** 2))),
            "loo_rmse_over_spread": float(np.sqrt(np.mean((loo - y) ** 2)) / spread),
            "kernel": str(gp.kernel_),
        })
    keep = worst < a.cutoff
    kept = value(box[keep])
    report["nonimplausible_share"] = float(keep.mean())
    for i, key in enumerate(keys):
        report["keys"][key] = (
            {"lo": float(kept[:, i].min()), "hi": float(kept[:, i].max())} if keep.any() else None
        )
    out = a.out or f"{a.sweep}/history_match"
    import os
    os.makedirs(out, exist_ok=True)
    with open(f"{out}/nonimplausible.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys + ["implausibility"])
        for row, imp in zip(kept, worst[keep]):
            w.writerow([f"{v:.6g}" for v in row] + [f"{imp:.4f}"])
    with open(f"{out}/summary.json", "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps({"nonimplausible_share": report["nonimplausible_share"], "keys": report["keys"]}))


if __name__ == "__main__":
    main()
