"""A bare TRL SFT script: the baseline benchmarks/overhead.py times the project against.

Same model folder, same rows (a JSONL of prompt/completion conversations the
benchmark writes), same trainer arguments as the project's stage; nothing else.

    python benchmarks/bare_trl_sft.py MODEL_DIR ROWS.jsonl EVAL.jsonl STEPS BATCH LR OUT_DIR [lora:R:ALPHA:DROPOUT]

With the last argument it trains a PEFT LoRA adapter on every linear layer (all-linear), as the
project's LoRA stages do. It prints its wall time, and its training time and trained tokens
(TRL's own count of non-padding tokens) for a tokens/s comparison.
"""

import json
import sys
import time

started = time.time()

import torch  # noqa: E402
from datasets import load_dataset  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback  # noqa: E402
from trl import SFTConfig, SFTTrainer  # noqa: E402

model_dir, rows, eval_rows, steps, batch, lr, out = sys.argv[1:8]
peft_config = None
if len(sys.argv) > 8:
    from peft import LoraConfig

    _, rank, alpha, dropout = sys.argv[8].split(":")
    peft_config = LoraConfig(r=int(rank), lora_alpha=int(alpha), lora_dropout=float(dropout),
                             target_modules="all-linear", task_type="CAUSAL_LM")
tokenizer = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
args = SFTConfig(
    output_dir=out, max_steps=int(steps), per_device_train_batch_size=int(batch),
    per_device_eval_batch_size=max(int(batch), 16), learning_rate=float(lr), warmup_steps=0.03,
    lr_scheduler_type="cosine", logging_steps=10, save_strategy="no", report_to="none",
    bf16=False, use_cpu=True, seed=42, data_seed=42, max_length=512,
    # TRL's SFTConfig turns gradient checkpointing on by default (recomputing every activation in the
    # backward pass); the project's stages train without it unless told, so the baseline does too
    gradient_checkpointing=False,
)


class FirstStep(TrainerCallback):
    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == 0:
            print(f"bare first step at {time.time():.3f}", flush=True)


trainer = SFTTrainer(
    model=model, args=args, processing_class=tokenizer,
    train_dataset=load_dataset("json", data_files=rows, split="train"),
    eval_dataset=load_dataset("json", data_files=eval_rows, split="train"),
    callbacks=[FirstStep()], peft_config=peft_config,
)
result = trainer.train()
trainer.evaluate()
trainer.save_model(out + "/model")
tokens = [h["num_tokens"] for h in trainer.state.log_history if "num_tokens" in h]
print(f"bare wall {time.time() - started:.2f}")
print("bare train " + json.dumps({"runtime_s": result.metrics["train_runtime"], "tokens": tokens[-1] if tokens else None,
                                  "steps": trainer.state.global_step}))
