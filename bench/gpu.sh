#!/usr/bin/env bash
# GPU checks, for a machine with CUDA (skipped with one line elsewhere), one short script for the day a
# GPU is lent (each step says what it measured or why it skipped):
# 1. the tests marked `gpu` (real vLLM against the hf backend, where vLLM is installed);
# 2. bench/train.py on the GPU (implicit vs plain LoRA step, DPO steps/s);
# 3. with vLLM installed: `rl` sampling through TRL's vLLM generation (colocate: one GPU) for two
#    steps, and a vllm-backend run with an engine_args passthrough;
# 4. with 2 or more GPUs: the embedded default's implicit training under `accelerate launch
#    --multi_gpu` beside one process, wall times side by side; the sharded save (FSDP2, every rank
#    calls save_model) against DDP's adapter; vLLM data parallelism (independent engines) against
#    one engine.
set -euo pipefail
cd "$(dirname "$0")/.."
gpus=$(python -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)" 2>/dev/null || echo 0)
if [ "$gpus" -eq 0 ]; then
    echo "bench/gpu.sh: skipped: no CUDA device on this machine"
    exit 0
fi
echo "== $gpus GPU(s): $(python -c 'import torch; print(torch.cuda.get_device_name(0))')"
out=$(mktemp -d)
python -m pytest -q -m gpu tests
python bench/train.py
if python -c "import vllm" 2>/dev/null; then
    start=$(date +%s)
    python -m harness.cli run --trainer rl --limit 40 --calibrator none --out "$out/rl-vllm" \
        -p trainer.rl.use_vllm=true -p trainer.rl.vllm_mode=colocate -p trainer.rl.max_steps=2 >/dev/null
    echo "rl, vLLM colocate: 2 GRPO steps, run $(( $(date +%s) - start )) s; log: $(grep -c '"reward"' "$out/rl-vllm/train/rl/train_log.jsonl") rows"
    python -m harness.cli run --backend vllm --limit 40 --calibrator none --out "$out/vllm-args" \
        -p 'backend.engine_args={enforce_eager = true}' >/dev/null
    echo "vllm backend, engine_args={enforce_eager = true}: run complete"
else
    echo "bench/gpu.sh: vLLM steps skipped: vLLM is not installed (pip install \".[vllm]\")"
fi
if [ "$gpus" -ge 2 ]; then
    start=$(date +%s.%N)
    python -m harness.cli run --trainer implicit --out "$out/one" >/dev/null
    one=$(echo "$(date +%s.%N) - $start" | bc)
    start=$(date +%s.%N)
    accelerate launch --multi_gpu --num_processes "$gpus" -m harness.cli run --trainer implicit \
        --out "$out/many" >/dev/null
    many=$(echo "$(date +%s.%N) - $start" | bc)
    echo "implicit run: 1 process ${one} s, $gpus processes ${many} s"
    model=$(python -c "from harness.plugins.models import resolve_model; print(resolve_model('tiny'))")
    mkdir -p "$out/ddp" "$out/fsdp2"
    accelerate launch --multi_gpu --num_processes 2 tests/collective_save_child.py "$out/ddp" "$model" >/dev/null
    accelerate launch --use_fsdp --fsdp_version 2 --fsdp_auto_wrap_policy TRANSFORMER_BASED_WRAP \
        --fsdp_state_dict_type FULL_STATE_DICT --num_processes 2 tests/collective_save_child.py \
        "$out/fsdp2" "$model" >/dev/null
    python - "$out" <<'PY'
import sys
from safetensors.torch import load_file
out = sys.argv[1]
ranks = open(f"{out}/fsdp2/save_model.ranks").read().split("\n")
final = sorted(line for line in ranks if "adapter.partial" in line)
assert final == ["0 adapter.partial fsdp=True", "1 adapter.partial fsdp=True"], final
ddp = load_file(f"{out}/ddp/adapter/adapter_model.safetensors")
fsdp = load_file(f"{out}/fsdp2/adapter/adapter_model.safetensors")
assert set(ddp) == set(fsdp) and all(ddp[k].shape == fsdp[k].shape for k in ddp), "a shard was saved"
worst = max((ddp[k].float() - fsdp[k].float()).abs().max().item() for k in ddp)
print(f"sharded save: FSDP2, both ranks in save_model, whole tensors; max |FSDP2 - DDP| = {worst:.2e}")
PY
    if python -c "import vllm" 2>/dev/null; then
        for dp in 1 2; do
            python -m harness.cli run --backend vllm --limit 40 --calibrator none --out "$out/dp$dp" \
                -p backend.data_parallel_size=$dp >/dev/null
        done
        python - "$out" <<'PY'
import json, sys
rows = [{json.loads(l)["example_id"]: json.loads(l)["text"] for l in open(f"{sys.argv[1]}/dp{dp}/baseline/logprob/all/generations.jsonl")} for dp in (1, 2)]
assert rows[0] == rows[1], "data-parallel engines answered otherwise than one engine"
print(f"vLLM data parallelism: 2 independent engines gave one engine's {len(rows[0])} answers")
PY
    fi
fi
rm -rf "$out"
