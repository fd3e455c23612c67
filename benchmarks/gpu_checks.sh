#!/usr/bin/env bash
# Every check that needs a CUDA GPU, in one short run (a GPU machine's time is scarce):
#   1. the GPU kernels' tests on the device (tests/test_gpu_kernels.py, tests/test_cuda.py):
#      fused vs reference on CUDA for every cell and variant, vs cuDNN, CPU vs GPU models;
#   2. `lstmkit bench --device cuda`: fused (the driver rule's choice, and each GPU loop driver
#      forced: `fused steps`, `fused sequence`), reference, cuDNN and an LSTMCell loop, every case;
#      training steps in float32, mixed_bfloat16 and mixed_float16 (benchmarks/mixed_precision.py);
#   3. the seed program's epochs on the GPU (`lstmkit mnist --device cuda`), and a Keras program
#      with no word about devices under `lstmkit run`, in float32, mixed_bfloat16, mixed_float16;
#   4. with two or more GPUs, two-rank data-parallel training through NCCL.
# Usage, from the repository root, with a Python that has torch (CUDA build) and Triton:
#   bash benchmarks/gpu_checks.sh [OUTDIR]
# Writes each part's output to OUTDIR (default gpu-checks/) and prints it. Each part has a time
# limit (a lent GPU's minutes are few: a hang costs its part, not the rest); the parts run in the
# order they matter, the kernels' correctness first.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-checks}"
mkdir -p "$out"
python="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$python" -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0), torch.cuda.device_count(), 'GPUs')" | tee "$out/device.txt"
timeout 240 "$python" -m pytest -q -p no:cacheprovider tests/test_gpu_kernels.py tests/test_cuda.py -m "not slow" 2>&1 | tee "$out/tests.txt"
timeout 240 "$python" -m lstmkit.cli bench --device cuda --rounds 5 --steps 5 2>&1 | tee "$out/bench.txt"
timeout 150 "$python" -m lstmkit.cli mnist --device cuda --seed 0 --verbose 2 2>&1 | tee "$out/mnist.txt"
timeout 90 "$python" benchmarks/mixed_precision.py --device cuda --float16 --rounds 3 --steps 5 2>&1 | tee "$out/mixed_precision.txt"
# a Keras program with no word about devices: its weights must be on the GPU (and in bfloat16 compute)
for policy in float32 mixed_bfloat16 mixed_float16; do
    timeout 60 "$python" -m lstmkit.cli run benchmarks/gpu_keras_program.py "$policy" 2>&1 | tail -1 | tee -a "$out/keras_program.txt"
done
if [ "$("$python" -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
    timeout 120 "$python" -m torch.distributed.run --nproc-per-node 2 benchmarks/ddp_cuda_check.py 2>&1 | tee "$out/ddp.txt"
else
    echo "one GPU: the two-rank NCCL run needs two" | tee "$out/ddp.txt"
fi
