"""A byte-level BPE tokenizer trained locally with `tokenizers`, with a ChatML template.

Digits are split one per token (as Llama 3 and Qwen do) so that a tiny model
can learn arithmetic digit by digit instead of memorising number tokens. A
space stays with the word or digit after it (`" 7"` is one token), as GPT-2's
pattern keeps it with words: the list `3, 1, 2` costs 2 tokens an element, not 3.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

END_OF_TEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
PAD = "<|pad|>"
# Pieces BPE may merge within, never across: a space and a word, a space and ONE digit,
# a space and a run of punctuation, runs of whitespace (GPT-2's pattern, digits one by one).
PRETOKEN_PATTERN = r" ?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

# ChatML with {% generation %} markers, so TRL's assistant_only_loss can find
# the assistant tokens.
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{%- else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `texts` and wrap it as a transformers tokenizer.

    Args:
        texts: the training corpus (documents or chat transcripts).
        vocab_size: the size of the vocabulary, special tokens included.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(PRETOKEN_PATTERN), behavior="isolated"),
         pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END_OF_TEXT, IM_START, IM_END, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # any byte stays encodable
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token=IM_END,  # generation stops at the end of the assistant turn
        pad_token=PAD,
        unk_token=None,
        chat_template=CHATML_TEMPLATE,
        model_max_length=4096,
    )
