#!/usr/bin/env bash
# The GPU checks of issue 4, in one go (a lent GPU machine has minutes, not hours):
#   1. benchmarks/gpu_throughput.py: project backend=unsloth / backend=hf vs a bare Unsloth script
#   2. the entrypoint's smoke chain [sft_cot,dpo,grpo] with backend=unsloth (LoRA on the tiny model)
#   3. fine-tune-export --gguf of that run
# Needs a CUDA GPU and the [gpu] extra (pip install -e '.[gpu]'). Logs go to $OUT (default gpu-logs/).
set -u
failed=0  # the script's exit status says whether any check failed
OUT=${OUT:-gpu-logs}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 FINE_TUNE_CACHE=${FINE_TUNE_CACHE:-/tmp/ft-cache} WANDB_MODE=disabled
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers, trl, peft, datasets, unsloth; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'peft', peft.__version__, 'datasets', datasets.__version__, 'unsloth', unsloth.__version__)" 2>&1 | tail -3 | tee "$OUT/versions.txt"
set -o pipefail
timeout "${THROUGHPUT_S:-330}" python3 benchmarks/gpu_throughput.py --steps "${STEPS:-20}" 2>&1 | tee "$OUT/throughput.log" | grep -E "tokens/s|skipped|Error|error|batch" | tail -20 || failed=1
timeout "${SMOKE_S:-150}" python3 -m fine_tune debug=smoke logger=none backend=unsloth model.finetune=lora \
  'method=[sft_cot,dpo,grpo]' hydra.run.dir=/tmp/gpu-smoke > "$OUT/smoke.log" 2>&1 || failed=1; echo "smoke failed=$failed"
tail -12 "$OUT/smoke.log"
timeout "${GGUF_S:-90}" python3 -m fine_tune.export /tmp/gpu-smoke --gguf > "$OUT/export.log" 2>&1 || failed=1; echo "export failed=$failed"
tail -5 "$OUT/export.log"
exit $failed
