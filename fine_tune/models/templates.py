"""Chat templates for base models: `model.chat_template=<chatml | llama3 | a Jinja file | Jinja text>`.

Base checkpoints (SmolLM2-135M, Llama-3.2-1B) ship without a chat template, and many
fine-tuning runs start from one. The template is set on the tokenizer (replacing one it
has, when the user asks), the special tokens it writes are added to the vocabulary and
the embeddings resized to match, and the end-of-sequence token becomes the one the
template ends an assistant turn with, so the model learns to stop and generation stops
there. With no template and none configured, loading stops and names the key.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from fine_tune.errors import UserError
from fine_tune.models.tokenizer import CHATML_TEMPLATE

log = logging.getLogger(__name__)

# Llama 3's instruct format, with {% generation %} markers as the ChatML one has.
LLAMA3_TEMPLATE = (
    "{{ '<|begin_of_text|>' }}"
    "{%- for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|eot_id|>' }}{% endgeneration %}"
    "{%- else %}{{ message['content'] + '<|eot_id|>' }}{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
BUILTIN = {"chatml": CHATML_TEMPLATE, "llama3": LLAMA3_TEMPLATE}
_SPECIAL = re.compile(r"<\|[A-Za-z0-9_]+\|>")  # <|im_start|>, <|eot_id|>: tokens a template writes as one


def template_text(setting: str) -> str:
    """The Jinja text model.chat_template names: a built-in, a file's contents, or the text itself."""
    if setting in BUILTIN:
        return BUILTIN[setting]
    path = Path(setting).expanduser()
    if len(setting) < 4096 and path.is_file():
        try:
            return _checked_jinja(path.read_text(encoding="utf-8"), f"file {path}")
        except (OSError, UnicodeDecodeError) as err:
            raise UserError(f"model.chat_template: cannot read {path}: {err}") from None
    if "{{" in setting or "{%" in setting:
        return _checked_jinja(setting, "text")
    raise UserError(f"model.chat_template='{setting}' is not a built-in template ({', '.join(BUILTIN)}), "
                    "an existing file, or Jinja text: give one of those")


def _checked_jinja(text: str, where: str) -> str:
    """`text` if Jinja parses it; checked here because transformers would fail only at the first chat."""
    import jinja2

    if "{{" not in text and "{%" not in text:
        raise UserError(f"model.chat_template {where} holds no Jinja ({{{{ ... }}}} or {{% ... %}}): "
                        "give a chat template, e.g. one copied from a model's tokenizer_config.json")
    # {% generation %} is transformers' own tag (assistant masks); plain Jinja does not know it
    plain = re.sub(r"\{%-?\s*(end)?generation\s*-?%\}", "", text)
    try:
        jinja2.Environment().parse(plain)
    except jinja2.TemplateSyntaxError as err:
        raise UserError(f"model.chat_template {where} is not valid Jinja: line {err.lineno}: {err.message}") from None
    return text


def end_of_turn(tokenizer) -> str | None:
    """The special token the template writes right after an assistant's words, if there is one."""
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "u"}, {"role": "assistant", "content": "ANSWER_END"}], tokenize=False)
    after = text.rpartition("ANSWER_END")[2].lstrip()
    found = _SPECIAL.match(after) or (re.match(re.escape(tokenizer.eos_token), after) if tokenizer.eos_token else None)
    return found.group(0) if found else None


def apply_chat_template(model, tokenizer, setting: str | None, source: str) -> None:
    """Give `tokenizer` the configured template (or check it has one), its tokens, and the matching eos.

    Raises:
        UserError: no template anywhere, or a setting that names none.
    """
    if not setting:
        if tokenizer.chat_template is None:
            raise UserError(f"the tokenizer of '{source}' has no chat template: set model.chat_template "
                            f"({', '.join(BUILTIN)}, a Jinja file or Jinja text), or use an instruct model")
        return
    text = template_text(setting)
    tokenizer.chat_template = text
    vocab = tokenizer.get_vocab()
    missing = sorted({t for t in _SPECIAL.findall(text) if t not in vocab})
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
        model.resize_token_embeddings(len(tokenizer))
        log.info("model.chat_template: added %s to the vocabulary (%d tokens now)", ", ".join(missing), len(tokenizer))
    eot = end_of_turn(tokenizer)
    if eot and eot != tokenizer.eos_token:
        tokenizer.eos_token = eot
    model.config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.pad_token_id = tokenizer.pad_token_id
