#!/usr/bin/env bash
# The validation campaign's simulations (workflow/validation.smk's seed and
# trial steps) in one run on a machine with a real GPU, for a machine
# lent for minutes without cargo or Snakemake: a carried
# target/release/tmesim runs the seed trials in GPU batches, then every
# trial file read from the seed's regions; one archive comes back, and
# the anchor and table steps run anywhere (docs/validation.md, "The
# campaign on a GPU").
#
#   scripts/device-campaign.sh [OUT_DIR]      (default outputs/device-campaign)
#
# Environment: PATIENTS (default 40), SEED_SECONDS (time limit of the seed
# trials, default 330), BATCH (patient-arms per GPU batch, default 512),
# EXTRA (further tmesim arguments of every cohort, for a small trial run),
# FRESH (1: discard the results of an earlier call on the same machine),
# BENCH_SIZES (patients per bench batch, default "1 64 512").
# Before the campaign: the GPU tests carried as test binaries (if any) and
# the batched cohort step's throughput, so that the campaign's speed is
# measured in the same run.
#
# Loader packages: put the .deb files of libvulkan1 (and its friends) in
# .gl/ at the repository root; they are unpacked only if `ldconfig -p`
# finds no libvulkan.
set -u
OUT=${1:-outputs/device-campaign}
PATIENTS=${PATIENTS:-40}
SEED_SECONDS=${SEED_SECONDS:-330}
BATCH=${BATCH:-512}
EXTRA=${EXTRA:-}
mkdir -p "$OUT"
exec > >(tee "$OUT/device-campaign.txt") 2>&1

# shellcheck source=scripts/device-vulkan.sh
. "$(dirname "$0")/device-vulkan.sh"
TMESIM=${TMESIM:-target/release/tmesim}

echo "== machine"
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "(no nvidia-smi)"
nproc
"$TMESIM" info | head -20

# Test binaries built here (cargo test --release --no-run), carried: they
# read their scenarios from the repository root, where this runs.
for t in target/release/deps/cpu_gpu_agreement-* target/release/deps/batch-*; do
    case "$t" in *.d) continue ;; esac
    [ -x "$t" ] || continue
    echo "== $(basename "$t")"
    TMESIM_REQUIRE_GPU=1 timeout 120 "$t" --test-threads 1 2>&1 | grep -E "^test |test result|panicked" || echo "(exit $?)"
done

echo "== batched cohort step (83 x 83, 30 um): patient-steps per second"
for b in ${BENCH_SIZES:-1 64 512}; do
    timeout 90 "$TMESIM" bench --backend gpu --grid 83x83x1 --set grid.dx_um=30.12 --steps 40 --patients $b 2>&1 \
        | grep -E -i "patient|throughput|wall|device" | head -8
done

# Kept between calls on a machine that stays warm: a second call goes on
# where the first stopped (tmesim cohort keeps each finished batch), so a
# campaign longer than one call's limit runs in several (FRESH=1 starts over).
WORK=/tmp/device-campaign
if [ "${FRESH:-0}" = 1 ]; then rm -rf "$WORK"; fi
mkdir -p "$WORK/trials"
echo "== seed trials: $PATIENTS patients, every region to the end (limit ${SEED_SECONDS} s)"
start=$(date +%s)
# shellcheck disable=SC2086
timeout "$SEED_SECONDS" "$TMESIM" cohort configs/cohorts/seed_trials.toml --set cohort.patients="$PATIENTS" \
    --set cohort.readout.run_to_end=true --backend gpu --batch "$BATCH" --quiet $EXTRA --out "$WORK/seed"
status=$?
echo "seed trials: exit $status after $(($(date +%s) - start)) s"
if [ "$status" -eq 0 ]; then
    for f in configs/cohorts/*.toml; do
        t=$(basename "$f" .toml)
        [ "$t" = seed_trials ] && continue
        start=$(date +%s)
        # shellcheck disable=SC2086
        timeout 120 "$TMESIM" cohort "$f" --set cohort.patients="$PATIENTS" --regions "$WORK/seed" \
            --backend gpu --batch "$BATCH" --quiet $EXTRA --out "$WORK/trials/$t" 2>&1 | grep -E "run now|error" || true
        echo "$t: $(($(date +%s) - start)) s"
    done
fi
tar czf "$OUT/campaign.tgz" -C "$WORK" .
ls -la "$OUT"
