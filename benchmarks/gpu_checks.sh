#!/usr/bin/env bash
# The GPU checks of issue 4, in one go (a lent GPU machine has minutes, not hours):
#   1. benchmarks/gpu_throughput.py: project backend=unsloth / backend=hf vs a bare Unsloth script
#   2. benchmarks/gguf_check.py: train with backend=unsloth, fine-tune-export --gguf q8_0, load the GGUF back
#   3. the entrypoint's smoke chain [sft_cot,dpo,grpo] with backend=unsloth (LoRA on the tiny model)
#   4. fine-tune-export --gguf of that tiny-model run: the one-line error for a tokenizer llama.cpp does not know
# Needs a CUDA GPU and the [gpu] extra (pip install -e '.[gpu]'), plus gguf and sentencepiece for 2;
# llama.cpp's converter from LLAMA_CPP_PATH or fetched from PyPI (fine_tune.gguf_export). Logs go to $OUT.
set -u
failed=0  # the script's exit status says whether any check failed
OUT=${OUT:-gpu-logs}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 FINE_TUNE_CACHE=${FINE_TUNE_CACHE:-/tmp/ft-cache} WANDB_MODE=disabled
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers, trl, peft, datasets, unsloth; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'peft', peft.__version__, 'datasets', datasets.__version__, 'unsloth', unsloth.__version__)" 2>&1 | tail -1 | tee "$OUT/versions.txt"

echo "== 1. throughput"
timeout "${THROUGHPUT_S:-450}" python3 benchmarks/gpu_throughput.py --steps "${STEPS:-40}" \
  --log "$OUT/throughput_workers.log" > "$OUT/throughput.log" 2>&1 || failed=1
grep -v "^{" "$OUT/throughput.log" | tail -12

echo "== 2. GGUF (failed=$failed so far)"
timeout "${GGUF_S:-150}" python3 benchmarks/gguf_check.py --work /tmp/gguf-check > "$OUT/gguf.log" 2>&1 || failed=1
tail -6 "$OUT/gguf.log"; cp /tmp/gguf-check/*.log "$OUT/" 2>/dev/null

echo "== 3. smoke chain (failed=$failed so far)"
timeout "${SMOKE_S:-200}" python3 -m fine_tune debug=smoke logger=none backend=unsloth model.finetune=lora \
  'method=[sft_cot,dpo,grpo]' eval.deepeval=false hydra.run.dir=/tmp/gpu-smoke > "$OUT/smoke.log" 2>&1 || failed=1
tail -8 "$OUT/smoke.log"

echo "== 4. GGUF of the tiny model: expect one line, exit 2 (failed=$failed so far)"
timeout "${TINY_GGUF_S:-60}" python3 -m fine_tune.export /tmp/gpu-smoke --gguf > "$OUT/tiny_gguf.log" 2>&1
echo "exit $?"; tail -2 "$OUT/tiny_gguf.log"
exit $failed
