#!/usr/bin/env bash
# One prepared run for a machine with a real GPU (docs/benchmarks.md,
# "On a real GPU"): it brings the Vulkan loader if the machine lacks one,
# builds (when cargo is there; otherwise it uses a carried
# target/release/tmesim), runs the GPU tests, then `tmesim bench` at the
# sizes of the performance goals, and writes everything to one file.
#
#   scripts/device-bench.sh [OUT_DIR]      (default outputs/device-bench)
#
# Loader packages: put the .deb files of libvulkan1 (and its friends) in
# .gl/ at the repository root; they are unpacked only if `ldconfig -p`
# finds no libvulkan. Each bench has its own time limit so that one slow
# size cannot eat the others' time.
set -u
OUT=${1:-outputs/device-bench}
mkdir -p "$OUT"
LOG="$OUT/device-bench.txt"
exec > >(tee "$LOG") 2>&1

# shellcheck source=scripts/device-vulkan.sh
. "$(dirname "$0")/device-vulkan.sh"

echo "== machine"
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "(no nvidia-smi)"
nproc
git log -1 --oneline 2>/dev/null || true

TMESIM=target/release/tmesim
tests_status=0
if command -v cargo >/dev/null; then
    echo "== build"
    cargo build --release 2>&1 | tail -2
fi
if [ ! -x "$TMESIM" ]; then
    echo "no $TMESIM: build it or carry it" >&2
    exit 1
fi
echo "== tmesim info"
"$TMESIM" info

if command -v cargo >/dev/null; then
    echo "== GPU tests"
    # The whole output goes to the log; the summary lines are printed, and
    # a failing test makes this script fail (its status, not grep's).
    TMESIM_REQUIRE_GPU=1 timeout 900 cargo test --release --test cpu_gpu_agreement \
        --test batch --test solver_verification --test invariants --test fields_and_boundaries \
        > "$OUT/gpu-tests.txt" 2>&1
    tests_status=$?
    grep -E "^test |test result|panicked" "$OUT/gpu-tests.txt"
fi

bench() {
    local limit=$1
    shift
    echo "== tmesim bench $*"
    timeout "$limit" "$TMESIM" bench "$@" || echo "(exit $?)"
}
# The baseline, then the scale goals, then BioFVM's two transport cases,
# then patients at once.
bench 120 --backend gpu --steps 200
bench 120 --backend cpu --steps 50
bench 300 --backend gpu --grid 512x512x1 --steps 50
bench 600 --backend gpu --grid 2048x2048x1 --steps 10
bench 600 --backend gpu --grid 192x192x192 --steps 5
bench 120 --backend gpu --diffusion-only --grid 256x256x1 --dt 0.01 --steps 500
bench 300 --backend gpu --diffusion-only --grid 128x128x128 --dt 0.01 --steps 20
# Batched patients on the cohort grid (83 x 83, 30 um): the GPU batch
# against the CPU's one patient per core.
for b in 1 16 64 256 1024; do
    bench 300 --backend gpu --grid 83x83x1 --set grid.dx_um=30.12 --steps 50 --patients $b
done
bench 300 --backend cpu --grid 83x83x1 --set grid.dx_um=30.12 --steps 50 --patients 32
bench 300 --backend cpu --threads 1 --diffusion-only --grid 256x256x1 --dt 0.01 --steps 200
echo "== done: $LOG"
if [ "$tests_status" -ne 0 ]; then
    echo "GPU tests failed (status $tests_status): $OUT/gpu-tests.txt" >&2
fi
exit "$tests_status"
