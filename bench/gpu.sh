#!/usr/bin/env bash
# GPU checks, for a machine with CUDA (skipped with one line elsewhere):
# 1. the tests marked `gpu` (real vLLM against the hf backend, where vLLM is installed);
# 2. bench/train.py on the GPU (implicit vs plain LoRA step, DPO steps/s);
# 3. with 2 or more GPUs: the embedded default's implicit training under
#    `accelerate launch --multi_gpu` beside one process, wall times side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
gpus=$(python -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)" 2>/dev/null || echo 0)
if [ "$gpus" -eq 0 ]; then
    echo "bench/gpu.sh: skipped: no CUDA device on this machine"
    exit 0
fi
echo "== $gpus GPU(s): $(python -c 'import torch; print(torch.cuda.get_device_name(0))')"
python -m pytest -q -m gpu tests
python bench/train.py
if [ "$gpus" -ge 2 ]; then
    out=$(mktemp -d)
    start=$(date +%s.%N)
    python -m harness.cli run --trainer implicit --out "$out/one" >/dev/null
    one=$(echo "$(date +%s.%N) - $start" | bc)
    start=$(date +%s.%N)
    accelerate launch --multi_gpu --num_processes "$gpus" -m harness.cli run --trainer implicit \
        --out "$out/many" >/dev/null
    many=$(echo "$(date +%s.%N) - $start" | bc)
    echo "implicit run: 1 process ${one} s, $gpus processes ${many} s"
    rm -rf "$out"
fi
