# The combinations fitted to their trials, in one command
# (scripts/trial_calibration.py; docs/calibration.md, "The combinations
# fitted to their trials"):
#
#   snakemake -s workflow/calibration.smk --cores 2 --config out=outputs/trial_calibration
#
#   (when the file is read, before anything runs) the calibration file,
#      each figure in its trial file (with its source) and each parameter's
#      range against the registry are checked;
#   1. design: a Latin hypercube over the parameters (OUT/design.csv);
#   2. arms: at each design point, every arm the figures' trials need,
#      once, on the seed trials' patients (every region to the end);
#   3. trial: each trial file read from those regions (tmesim cohort
#      --regions), and its control arm's anchor fitted (the table's
#      weights);
#   4. figures: every figure at every point (OUT/figures.csv);
#   5. fit: emulators, history matching, ABC and the 90% posterior
#      predictive interval of every figure (OUT/calibration.md).
#
# Every cohort keeps its finished patient-arms, so an interrupted
# calibration, started again, goes on where it stopped.
#
# Config keys:
#   out          the folder of every step (required)
#   calibration  the calibration file (default configs/calibration/trials.toml)
#   set          further `--set` overrides of every cohort, separated by ';'
#                (the tests use the 100 um grid, which does not stand in for
#                the cohort grid: docs/calibration.md)
#   tmesim       the tmesim executable (default: `tmesim` on PATH)
#   threads      threads of each tmesim (default 2)
#   backend      cpu or gpu for every cohort (default cpu); on a GPU the
#                patients of a point run in batches (tmesim cohort --batch)

import os
import shlex
import sys

OUT = str(config["out"]).rstrip("/")
TMESIM = str(config.get("tmesim", "tmesim"))
BACKEND = str(config.get("backend", "cpu"))
if BACKEND not in ("cpu", "gpu"):
    raise ValueError(f"config backend={BACKEND}: give cpu or gpu")
HERE = os.path.dirname(os.path.abspath(workflow.snakefile))
REPO = os.path.dirname(HERE)
SCRIPTS = os.path.join(REPO, "scripts")
CALIBRATION = os.path.abspath(str(config.get("calibration", os.path.join(REPO, "configs", "calibration", "trials.toml"))))
sys.path.insert(0, SCRIPTS)
import trial_calibration  # noqa: E402

# Bad input stops here, before any simulation.
PLAN = trial_calibration.load_config(CALIBRATION)
trial_calibration.check_ranges(PLAN, TMESIM)
POINTS = [str(i) for i in range(PLAN["points"])]
TRIALS = PLAN["trials"]
SEED_FILE = os.path.join(REPO, "configs", "cohorts", "seed_trials.toml")
# Every arm of every trial, run once per point (the trials extend the seed
# trials, so their patients are the seed trials' own).
ARMS = sorted({arm for t in TRIALS for arm in trial_calibration.fit_phenotype_mix.load_cohort(PLAN["files"][t])["arms"]})

SETS = config.get("set", "")
SETS = [s.strip() for s in (SETS if isinstance(SETS, list) else str(SETS).split(";")) if s.strip()]
SETS.insert(0, f"cohort.patients={PLAN['patients']}")
SET_ARGS = " ".join(f"--set {shlex.quote(s)}" for s in SETS)
ARM_SET = shlex.quote("cohort.arms=[" + ",".join(f'"{a}"' for a in ARMS) + "]")
SCRIPT = f"python3 {shlex.quote(os.path.join(SCRIPTS, 'trial_calibration.py'))}"


rule all:
    input:
        OUT + "/calibration.md",


rule design:
    input:
        CALIBRATION,
    output:
        OUT + "/design.csv",
    shell:
        "{SCRIPT} design {CALIBRATION:q} {OUT:q}"


# Markers, not folders, are the outputs: Snakemake removes the outputs of a
# failed job, and must not remove finished results.
rule arms:
    input:
        OUT + "/design.csv",
    output:
        touch(OUT + "/done/{point}/arms"),
    threads: int(config.get("threads", 2))
    log:
        OUT + "/logs/{point}/arms.log",
    shell:
        # The point's --set words first, on their own: a failed read stops
        # the job instead of running at the scenario's values.
        "POINT=$({SCRIPT} sets {OUT:q} {wildcards.point}) && "
        "{TMESIM:q} --threads {threads} cohort {SEED_FILE:q} {SET_ARGS} --set {ARM_SET} "
        "--set cohort.readout.run_to_end=true $POINT "
        "--backend {BACKEND} --quiet --out {OUT:q}/points/{wildcards.point}/arms > {log:q} 2>&1"


rule trial:
    input:
        OUT + "/done/{point}/arms",
    output:
        touch(OUT + "/done/{point}/trial_{trial}"),
    params:
        file=lambda w: shlex.quote(PLAN["files"][w.trial]),
    threads: int(config.get("threads", 2))
    log:
        OUT + "/logs/{point}/trial_{trial}.log",
    shell:
        "POINT=$({SCRIPT} sets {OUT:q} {wildcards.point}) && "
        "mkdir -p {OUT:q}/points/{wildcards.point}/anchor && {TMESIM:q} --threads {threads} cohort {params.file} {SET_ARGS} "
        "$POINT --regions {OUT:q}/points/{wildcards.point}/arms "
        "--backend {BACKEND} --quiet --out {OUT:q}/points/{wildcards.point}/trials/{wildcards.trial} > {log:q} 2>&1 && "
        "python3 {SCRIPTS:q}/fit_phenotype_mix.py {OUT:q}/points/{wildcards.point}/trials/{wildcards.trial}/patients.csv "
        "--trial {params.file} --bootstrap 0 --json {OUT:q}/points/{wildcards.point}/anchor/{wildcards.trial}.json "
        ">> {log:q} 2>&1"


rule figures:
    input:
        CALIBRATION,
        expand(OUT + "/done/{point}/trial_{trial}", point=POINTS, trial=TRIALS),
    output:
        OUT + "/figures.csv",
    shell:
        "{SCRIPT} figures {CALIBRATION:q} {OUT:q}"


rule fit:
    input:
        CALIBRATION,
        OUT + "/figures.csv",
    output:
        OUT + "/calibration.md",
        OUT + "/calibration.csv",
        OUT + "/calibration.json",
        OUT + "/posterior.csv",
    log:
        OUT + "/logs/fit.log",
    shell:
        "{SCRIPT} fit {CALIBRATION:q} {OUT:q} > {log:q} 2>&1"
