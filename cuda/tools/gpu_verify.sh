#!/usr/bin/env bash
# gpu_verify.sh [OUTDIR] — the GPU track verified in one go on a GPU machine (meant to take about 6 minutes on an
# H100; every step has a timeout, 25 minutes in all at most): build,
# make test-cuda, lesson08 on its configurations, lesson09 on its cases (check_tc's among them), tc_check --quick,
# compute-sanitizer on the tensor-core kernels and a SASS summary (the steps of gpu_session.sh). Each step's log goes
# to OUTDIR (default $OUT, else /tmp/gpu_verify); OUTDIR/summary.txt lists every step's exit status and time.
#
#   here:  bash cuda/tools/device_deps.sh          (Check for a GPU machine without it: fills .dev/, carry it)
#   there: bash cuda/tools/gpu_verify.sh "$OUT"
#
# A failing step is reported and the next one still runs; exit status 1 if any failed, 2 without a GPU.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUTDIR=${1:-${OUT:-/tmp/gpu_verify}}
[ -x .dev/bin/pkg-config ] && export PATH=$PWD/.dev/bin:$PATH
if ! nvidia-smi -L 2>/dev/null | grep -q GPU; then
    echo "gpu_verify.sh: no CUDA device: this needs an NVIDIA GPU" >&2
    exit 2
fi
start=$(date +%s)
bash cuda/tools/gpu_session.sh "$OUTDIR" env build test lessons lessons09 tccheck sanitize sass
rc=$?
echo "gpu_verify.sh: $(($(date +%s) - start)) s in all, exit status $rc" | tee -a "$OUTDIR/summary.txt"
cat "$OUTDIR/summary.txt"
exit $rc
