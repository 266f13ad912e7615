"""LoRA SFT throughput and memory on a GPU: the project's stage (backend=unsloth, backend=hf)
against a bare Unsloth script, same model shape, sequence length 1024, batch 8 and 32.

Targets: backend=unsloth >= 0.95x the bare Unsloth script's tokens/s at <= 1.05x its memory.
Offline: the model is randomly initialised in a real model's shape (SmolLM2-360M by
default) and trained on random token ids, so no weights or data are downloaded.
Variants whose library is missing (Unsloth needs the [gpu] extra) are reported as
skipped, not guessed. Each (variant, batch) runs in a fresh process, so neither a
previous variant's leftover memory nor Unsloth's global patches touch another,
and each imports Unsloth the way a user's script does: before transformers/TRL.

Both Unsloth variants load 16-bit weights, as backend=unsloth does by default;
`--load-in-4bit` compares them as QLoRA instead (FastLanguageModel's own default,
which a bare script gets unless it says load_in_4bit=False).

    python benchmarks/gpu_throughput.py [--shape smollm2-360m] [--steps 20] [--batches 8 32] [--load-in-4bit]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SHAPES = {  # config.json values of the real models
    "smollm2-360m": dict(hidden_size=960, intermediate_size=2560, num_hidden_layers=32, num_attention_heads=15,
                         num_key_value_heads=5, vocab_size=49152, tie_word_embeddings=True),
    "llama-3.2-1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                         num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True),
}
SEQ = 1024


def save_random_model(shape: str, folder: Path) -> str:
    """A randomly initialised bf16 model of `shape` (built on the CPU: this process holds no GPU memory)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from fine_tune.models.tokenizer import train_tokenizer

    config = LlamaConfig(**SHAPES[shape], max_position_embeddings=4096)
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)
    # a tokenizer only for the chat template and special tokens; the data are token ids
    train_tokenizer(["a b c d e f g"], 300).save_pretrained(folder)
    return str(folder)


def token_dataset(vocab: int, rows: int):
    import torch
    from datasets import Dataset

    ids = torch.randint(10, vocab - 10, (rows, SEQ)).tolist()
    return Dataset.from_dict({"input_ids": ids})  # pre-tokenised: TRL trains on it as is


WARMUP = 5  # steps left out of the timing: Unsloth compiles its kernels during the first ones


def _step_clock():
    """A TrainerCallback that notes when each step after the warm-up ones begins, and when training ends.

    Built inside a function so that transformers is imported only when measuring.
    """
    import torch
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def __init__(self):
            self.marks: list[float] = []

        def _mark(self):
            torch.cuda.synchronize()  # the GPU's work so far is done: the host clock tells the truth
            self.marks.append(time.perf_counter())

        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step >= WARMUP:
                self._mark()

        def on_train_end(self, args, state, control, **kwargs):
            self._mark()

    return Clock()


def measure(trainer, batch: int, steps: int) -> dict:
    """Tokens/s after WARMUP (from the median step: one slow step, a GC pause or a
    recompile, does not decide it; the mean is kept beside it), peak memory and what
    the model took before training."""
    import statistics

    import torch

    clock = _step_clock()
    trainer.add_callback(clock)
    torch.cuda.synchronize()
    loaded = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    trainer.train()
    step_times = [b - a for a, b in zip(clock.marks, clock.marks[1:])]
    tokens_per_step = batch * trainer.args.gradient_accumulation_steps * SEQ
    return {"tokens_per_s": tokens_per_step / statistics.median(step_times),
            "mean_tokens_per_s": tokens_per_step * len(step_times) / sum(step_times),
            "timed_steps": len(step_times),
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
            # what differs between the variants, printed so a gap can be explained
            "model_gib": loaded / 2**30,
            "trainer": type(trainer).__name__,
            "gradient_checkpointing": trainer.args.gradient_checkpointing,
            "padding_free": getattr(trainer.args, "padding_free", None)}


def project_stage(backend: str, source: str, batch: int, steps: int, four_bit: bool) -> dict:
    """The project's own path: compose, activate, load_model, prepare (LoRA), training_arguments, SFTTrainer."""
    from fine_tune.backends import activate

    activate(backend)  # as the entrypoint does: Unsloth before transformers/TRL/PEFT
    from trl import SFTConfig, SFTTrainer

    from fine_tune.config import compose
    from fine_tune.models.load import load_model
    from fine_tune.stages.common import StageContext, prepare, training_arguments

    cfg = compose([f"backend={backend}", "model=local", f"model.path={source}", "model.dtype=bfloat16",
                   "method=sft", f"method.sft.max_steps={steps}", f"method.sft.per_device_train_batch_size={batch}",
                   "method.sft.save_steps=0", f"method.sft.max_length={SEQ}", "method.sft.gradient_checkpointing=true",
                   f"model.load_in_4bit={str(four_bit).lower()}"])
    model, tokenizer = load_model(source, cfg.model, cfg.cache_dir, backend, SEQ)
    with tempfile.TemporaryDirectory() as out:
        ctx = StageContext.from_config(cfg, "sft", out_dir=Path(out), backend=backend)
        model, peft_config = prepare(ctx, model)
        args = training_arguments(ctx, SFTConfig, max_length=SEQ, logging_steps=steps)
        trainer = SFTTrainer(model=model, args=args, train_dataset=token_dataset(model.config.vocab_size, batch * steps),
                             processing_class=tokenizer, peft_config=peft_config)
        return measure(trainer, batch, steps)


def bare_unsloth(source: str, batch: int, steps: int, four_bit: bool) -> dict:
    """The script Unsloth's notebooks show: FastLanguageModel, get_peft_model, TRL's SFTTrainer."""
    from trl import SFTConfig, SFTTrainer
    from unsloth import FastLanguageModel  # first, as its notebooks do

    # load_in_4bit is said out loud: FastLanguageModel defaults to 4-bit, the project to 16-bit
    model, tokenizer = FastLanguageModel.from_pretrained(model_name=source, max_seq_length=SEQ, dtype=None,
                                                         load_in_4bit=four_bit)
    model = FastLanguageModel.get_peft_model(
        model, r=16, lora_alpha=32, lora_dropout=0.05, use_gradient_checkpointing="unsloth",
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(output_dir=out, max_steps=steps, per_device_train_batch_size=batch, learning_rate=2e-4,
                         gradient_accumulation_steps=1,  # as the project's stage: the same tokens per step
                         logging_steps=steps, save_strategy="no", report_to="none", bf16=True, max_length=SEQ)
        trainer = SFTTrainer(model=model, args=args, processing_class=tokenizer,
                             train_dataset=token_dataset(model.config.vocab_size, batch * steps))
        return measure(trainer, batch, steps)


VARIANTS = {  # name: how to run it in a worker process
    "project backend=hf": lambda source, batch, steps, four_bit: project_stage("hf", source, batch, steps, False),
    "project backend=unsloth": lambda source, batch, steps, four_bit: project_stage("unsloth", source, batch, steps,
                                                                                     four_bit),
    "bare Unsloth script": bare_unsloth,
}


def worker(variant: str, source: str, batch: int, steps: int, four_bit: bool) -> None:
    """One (variant, batch) in this fresh process; the result is the last line of stdout."""
    import torch

    try:
        result = VARIANTS[variant](source, batch, steps, four_bit)
    except torch.cuda.OutOfMemoryError:
        result = {"error": "out of memory"}
    print("RESULT " + json.dumps(result), flush=True)


def run_isolated(variant: str, source: str, batch: int, steps: int, four_bit: bool, log) -> dict:
    """Run one (variant, batch) in a child process; its output goes to `log`."""
    command = [sys.executable, __file__, "--worker", variant, "--source", source,
               "--batch", str(batch), "--steps", str(steps)] + (["--load-in-4bit"] if four_bit else [])
    started = time.perf_counter()
    child = subprocess.run(command, capture_output=True, text=True)
    log.write(f"=== {variant} batch {batch} (exit {child.returncode}, {time.perf_counter() - started:.0f} s)\n"
              f"{child.stdout}\n{child.stderr}\n")
    log.flush()
    lines = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        last = (child.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {child.returncode}: {last[:200]}"}
    return json.loads(lines[-1][len("RESULT "):])


def report(results: dict, batches: list[int]) -> None:
    for (name, batch), r in results.items():
        line = r.get("error") or (f"{r['tokens_per_s']:10,.0f} tokens/s (mean {r['mean_tokens_per_s']:,.0f})  "
                                  f"{r['peak_gib']:6.2f} GiB peak "
                                  f"({r['model_gib']:.2f} GiB before training; {r['trainer']}, "
                                  f"padding_free={r['padding_free']}, gradient_checkpointing={r['gradient_checkpointing']})")
        print(f"  batch {batch:3d}  {name:26s} {line}")
    for batch in batches:
        ours, bare = results.get(("project backend=unsloth", batch)), results.get(("bare Unsloth script", batch))
        hf = results.get(("project backend=hf", batch))
        if ours and bare and "error" not in ours and "error" not in bare:
            print(f"  batch {batch:3d}  unsloth/bare: {ours['tokens_per_s'] / bare['tokens_per_s']:.3f}x tokens/s "
                  f"(target >= 0.95), {ours['peak_gib'] / bare['peak_gib']:.3f}x memory (target <= 1.05)")
        if ours and hf and "error" not in ours and "error" not in hf:
            print(f"  batch {batch:3d}  unsloth/hf:   {ours['tokens_per_s'] / hf['tokens_per_s']:.3f}x tokens/s, "
                  f"{ours['peak_gib'] / hf['peak_gib']:.3f}x memory")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="smollm2-360m")
    # 40: at batch 8 a step takes ~0.3 s on an H100, and 15 timed steps left the ratio a few % noisy
    parser.add_argument("--steps", type=int, default=40, help=f"timed: the ones after the first {WARMUP}")
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--load-in-4bit", action="store_true", help="QLoRA: both Unsloth variants in 4-bit")
    parser.add_argument("--log", type=Path, default=Path("gpu_throughput.log"), help="every worker's output")
    parser.add_argument("--worker", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.source, args.batch, args.steps, args.load_in_4bit)

    import torch

    if not torch.cuda.is_available():
        sys.exit("gpu_throughput: no CUDA GPU here; run it on a GPU machine")
    has_unsloth = importlib.util.find_spec("unsloth") is not None
    names = list(VARIANTS) if has_unsloth else ["project backend=hf"]
    if args.load_in_4bit:  # QLoRA is an Unsloth comparison: the hf path has no 4-bit loading
        names = [name for name in names if name != "project backend=hf"]
    results = {}
    with tempfile.TemporaryDirectory() as folder, args.log.open("w") as log:
        source = save_random_model(args.shape, Path(folder))
        for batch in args.batches:
            for name in names:
                results[(name, batch)] = run_isolated(name, source, batch, args.steps, args.load_in_4bit, log)
    weights = "4-bit (QLoRA)" if args.load_in_4bit else "16-bit"
    print(f"{torch.cuda.get_device_name(0)}, shape {args.shape}, seq {SEQ}, {args.steps} steps "
          f"({WARMUP} untimed; tokens/s from the median step), LoRA r=16, {weights} weights, "
          "each (variant, batch) in a fresh process")
    if not has_unsloth:
        print("Unsloth is not installed (pip install -e '.[gpu]'): its two variants are skipped")
    report(results, args.batches)
    print(json.dumps({f"{n}|{b}": r for (n, b), r in results.items()}))


if __name__ == "__main__":
    main()
