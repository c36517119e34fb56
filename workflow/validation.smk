# The virtual trials of docs/validation.md in one command:
#
#   1. seed: the seed trials, every region run to the end of follow-up;
#   2. trial: each trial file as written, read from the seed's regions
#      (docs/cohorts.md, "Reading regions again"; an arm the seed trials
#      lack, such as KEYNOTE-061's paclitaxel alone, runs);
#   3. anchor: the trial's phenotype mix fitted to its control arm's
#      published ORR (scripts/fit_phenotype_mix.py --trial);
#   4. table: every published figure beside the model's, each anchored
#      trial's patients weighted to the fitted mix (no new simulation;
#      scripts/validation_table.py: OUT/validation.md and .csv).
#
#   snakemake -s workflow/validation.smk --cores 2 --config out=outputs/validation patients=40
#
# Every step keeps its finished patient-arms, so an interrupted run, started
# again, loses at most the ones in flight (tmesim cohort resumes).
#
# Config keys:
#   out       the folder of every step (required)
#   patients  patients per cohort (default 40)
#   trials    trial file names in configs/cohorts, without .toml, separated
#             by ';' (default: every file there but seed_trials)
#   set       further `--set` overrides of every cohort, separated by ';'
#   anchor    false: read each trial with its file's own mix (default true)
#   tmesim    the tmesim executable (default: `tmesim` on PATH)
#   threads   threads of each tmesim (default 2)
#   backend   cpu or gpu for every cohort (default cpu). A region is read
#             again only on the backend that computed it, so a `seed=DIR`
#             folder must come from the same backend.
#   seed      a seed-trials folder that ran already (run_to_end = true,
#             at least `patients` patients, the same `set` overrides and
#             a build with the same region code, as the seed step runs it):
#             the trials read its regions and the seed step is skipped.
#             A larger campaign's first patients serve a smaller one,
#             since patient i is drawn the same in a cohort of any size.

import glob
import os
import shlex

OUT = str(config["out"]).rstrip("/")
PATIENTS = int(config.get("patients", 40))
TMESIM = str(config.get("tmesim", "tmesim"))
BACKEND = str(config.get("backend", "cpu"))
if BACKEND not in ("cpu", "gpu"):
    raise ValueError(f"config backend={BACKEND}: give cpu or gpu")
ANCHOR = str(config.get("anchor", "true")).lower() not in ("false", "0", "no")
HERE = os.path.dirname(os.path.abspath(workflow.snakefile))
REPO = os.path.dirname(HERE)
COHORTS = os.path.join(REPO, "configs", "cohorts")
SCRIPTS = os.path.join(REPO, "scripts")

SEED = str(config["seed"]).rstrip("/") if config.get("seed") else OUT + "/seed"
if config.get("seed") and not os.path.isfile(os.path.join(SEED, "cohort.json")):
    raise ValueError(f"config seed={SEED}: not a cohort folder (no cohort.json): give the --out of a seed-trials run")

# With config seed=DIR the regions are there already.
SEED_COMMAND = (
    f"echo {shlex.quote('seed trials read from ' + SEED)} > {{log:q}}"
    if config.get("seed")
    else "{TMESIM:q} --threads {threads} cohort {COHORTS:q}/seed_trials.toml {SET_ARGS} "
    "--set cohort.readout.run_to_end=true --backend {BACKEND} --quiet --out {OUT:q}/seed > {log:q} 2>&1"
)

if config.get("trials"):
    TRIALS = [t.strip() for t in str(config["trials"]).split(";") if t.strip()]
else:
    TRIALS = sorted(
        os.path.basename(p)[:-5]
        for p in glob.glob(os.path.join(COHORTS, "*.toml"))
        if not p.endswith("seed_trials.toml")
    )

SETS = config.get("set", "")
SETS = [s.strip() for s in (SETS if isinstance(SETS, list) else str(SETS).split(";")) if s.strip()]
SETS.insert(0, f"cohort.patients={PATIENTS}")
SET_ARGS = " ".join(f"--set {shlex.quote(s)}" for s in SETS)


def cohort_file(name):
    return os.path.join(COHORTS, f"{name}.toml")


rule all:
    input:
        OUT + "/validation.md",


# Markers, not folders, are the outputs: Snakemake removes the outputs of a
# failed job, and must not remove finished results.
rule seed:
    output:
        touch(OUT + "/done/seed"),
    threads: int(config.get("threads", 2))
    log:
        OUT + "/logs/seed.log",
    shell:
        SEED_COMMAND


rule trial:
    input:
        OUT + "/done/seed",
    output:
        touch(OUT + "/done/trial_{trial}"),
    params:
        file=lambda w: shlex.quote(cohort_file(w.trial)),
    threads: int(config.get("threads", 2))
    log:
        OUT + "/logs/trial_{trial}.log",
    shell:
        "{TMESIM:q} --threads {threads} cohort {params.file} {SET_ARGS} "
        "--regions {SEED:q} --backend {BACKEND} --quiet --out {OUT:q}/trials/{wildcards.trial} > {log:q} 2>&1"


rule anchor:
    input:
        OUT + "/done/trial_{trial}",
    output:
        OUT + "/anchor/{trial}.json",
    params:
        file=lambda w: shlex.quote(cohort_file(w.trial)),
    log:
        OUT + "/logs/anchor_{trial}.log",
    shell:
        "python3 {SCRIPTS:q}/fit_phenotype_mix.py {OUT:q}/trials/{wildcards.trial}/patients.csv "
        "--trial {params.file} --json {output:q} > {log:q} 2>&1"


rule table:
    input:
        expand(OUT + "/done/trial_{trial}", trial=TRIALS),
        expand(OUT + "/anchor/{trial}.json", trial=TRIALS) if ANCHOR else [],
    output:
        OUT + "/validation.md",
        OUT + "/validation.csv",
    params:
        anchors="" if ANCHOR else "--no-anchors",
        trials=shlex.quote(";".join(TRIALS)),
    shell:
        "python3 {SCRIPTS:q}/validation_table.py {OUT:q} {params.anchors} --trials {params.trials}"
