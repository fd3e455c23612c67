#!/usr/bin/env bash
# Every check that needs a CUDA GPU, in one short run (a GPU machine's time is scarce):
#   1. the GPU kernels' tests on the device (tests/test_gpu_kernels.py, tests/test_cuda.py):
#      fused vs reference on CUDA for every cell and variant, vs cuDNN, CPU vs GPU models;
#   2. `lstmkit bench --device cuda`: fused (the driver rule's choice, and each GPU loop driver
#      forced: `fused steps`, `fused sequence`), reference, cuDNN and an LSTMCell loop, every case
#      (the seed model's two first); the host time per layer call (benchmarks/gpu_host_time.py);
#   3. a Keras program with no word about devices (the seed program's model) under `lstmkit run`,
#      and the seed program's epochs (`lstmkit mnist`, no --device: Keras's rule puts it on the GPU);
#      what reading the figures after every batch would cost it (benchmarks/figures_read.py);
#   4. training steps in float32, mixed_bfloat16 and mixed_float16 (benchmarks/mixed_precision.py),
#      and the Keras program under both mixed policies;
#   5. with two or more GPUs, two-rank data-parallel training through NCCL.
# Usage, from the repository root, with a Python that has torch (CUDA build) and Triton:
#   bash benchmarks/gpu_checks.sh [OUTDIR]
# Writes each part's output to OUTDIR (default gpu-checks/) and prints it.
#
# The whole run ends within $GPU_CHECKS_SECONDS (default 420: a lent machine's 15 minutes hold its
# start, this run and a rerun of what fails), whatever hangs: each part has its own limit as well,
# cut to the time left; a part that finds too little time left is skipped, and says so in its file.
# The parts run in the order they matter, the kernels' correctness first.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-checks}"
mkdir -p "$out"
python="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
deadline=$((SECONDS + ${GPU_CHECKS_SECONDS:-420}))

# part FILE LIMIT COMMAND...: runs COMMAND for at most LIMIT seconds (fewer if the run's time is
# nearly out), printing its output and appending it to OUTDIR/FILE
part() {
    local file="$out/$1" limit=$2 left=$((deadline - SECONDS))
    shift 2
    if [ "$left" -lt 20 ]; then
        echo "skipped, ${left}s of the run left: $*" | tee -a "$file"
        return
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    echo "== $* (limit ${limit}s)" >>"$file"
    local start=$SECONDS
    timeout --kill-after=5 "$limit" "$@" 2>&1 | tee -a "$file"
    local rc=${PIPESTATUS[0]}
    echo "== rc=$rc in $((SECONDS - start))s$([ "$rc" = 124 ] && echo ", stopped at its limit")" | tee -a "$file"
}

part device.txt 30 "$python" -c "import sys, torch, triton; print(sys.version.split()[0], 'torch', torch.__version__, 'CUDA', torch.version.cuda, 'triton', triton.__version__, torch.cuda.get_device_name(0), torch.cuda.device_count(), 'GPUs')"
# Triton compiles every kernel variant the tests use on first sight: spread over the machine's
# cores when pytest-xdist is there (one process per 2 cores, at most 8)
workers=()
if "$python" -c "import xdist" 2>/dev/null; then
    n=$(( $(nproc) / 2 )); [ "$n" -gt 8 ] && n=8
    [ "$n" -ge 2 ] && workers=(-n "$n")
fi
part tests.txt 150 "$python" -m pytest -q -p no:cacheprovider "${workers[@]}" tests/test_gpu_kernels.py tests/test_cuda.py -m "not slow"
part bench.txt 150 "$python" -m lstmkit.cli bench --device cuda --rounds 5 --steps 5
# the host's share of a small batch's step: Triton's launcher and the Python around the kernels
part host_time.txt 40 "$python" benchmarks/gpu_host_time.py --device cuda --rounds 5 --calls 50
# a Keras program with no word about devices: its weights must be on the GPU
part keras_program.txt 60 "$python" -m lstmkit.cli run benchmarks/gpu_keras_program.py float32
part mnist.txt 90 "$python" -m lstmkit.cli mnist --seed 0 --verbose 2
part figures_read.txt 40 "$python" benchmarks/figures_read.py --device cuda --batches 300 --rounds 3
part mixed_precision.txt 60 "$python" benchmarks/mixed_precision.py --device cuda --float16 --rounds 3 --steps 5
for policy in mixed_bfloat16 mixed_float16; do
    part keras_program.txt 45 "$python" -m lstmkit.cli run benchmarks/gpu_keras_program.py "$policy"
done
if [ "$("$python" -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
    part ddp.txt 90 "$python" -m torch.distributed.run --nproc-per-node 2 benchmarks/ddp_cuda_check.py
else
    echo "one GPU: the two-rank NCCL run needs two" | tee "$out/ddp.txt"
fi
echo "gpu checks done in ${SECONDS}s"
