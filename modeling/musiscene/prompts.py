"""MU-LLaMA's prompt template and the tokenisation of training examples.

MU-LLaMA fills its Alpaca-style template's ``{input}`` slot with Python's builtin ``input``
(``format_map({'instruction': q, 'input': input})``), so every prompt it was trained and run with
contains the literal text ``<built-in function input>``. ``compat`` mode reproduces that string
exactly (needed to use MU-LLaMA's published weights faithfully); ``clean`` mode uses the template
without an input section. The answer follows ``### Response:`` directly in compat mode (MU-LLaMA
tokenises ``prompt + answer``) and after one space in clean mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .config import PROMPT_MODES, PromptMode

# What str(builtins.input) gives in a plain Python process: what MU-LLaMA's scripts put there.
BUILTIN_INPUT_REPR = "<built-in function input>"

COMPAT_TEMPLATE = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
CLEAN_TEMPLATE = (
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:"
)

SCENE_QUESTION = "What kinds of video would this piece of music be suitable for?"
CAPTION_QUESTION = "Describe elements of the music, such as its mood, rhythm, and genre"

IGNORE_INDEX = -100


class Tokenizer(Protocol):  # the part of a transformers tokenizer we use
    bos_token_id: int | None
    eos_token_id: int | None

    def encode(self, text: str, *, add_special_tokens: bool = ...) -> list[int]: ...


def format_prompt(question: str, *, mode: PromptMode = "compat") -> str:
    """The full prompt for ``question`` (MU-LLaMA's ``llama.utils.format_prompt`` in compat
    mode)."""
    if mode == "compat":
        return COMPAT_TEMPLATE.format(instruction=question, input=BUILTIN_INPUT_REPR)
    if mode == "clean":
        return CLEAN_TEMPLATE.format(instruction=question)
    raise ValueError(f"prompt mode must be one of {PROMPT_MODES}, got {mode!r}")


def answer_separator(mode: PromptMode) -> str:
    return "" if mode == "compat" else " "


def encode_prompt(tokenizer: Tokenizer, question: str, *, mode: PromptMode = "compat") -> list[int]:
    """BOS + prompt tokens (MU-LLaMA: ``encode(prompt, bos=True, eos=False)``)."""
    return _bos(tokenizer) + tokenizer.encode(
        format_prompt(question, mode=mode), add_special_tokens=False
    )


@dataclass(frozen=True)
class EncodedExample:
    input_ids: list[int]  # BOS + prompt + answer + EOS, cut to max_tokens
    labels: list[int]  # IGNORE_INDEX over the prompt, the answer and EOS otherwise


def encode_example(
    tokenizer: Tokenizer,
    question: str,
    answer: str,
    *,
    mode: PromptMode = "compat",
    max_tokens: int = 512,
) -> EncodedExample:
    """Tokenise one training pair as MU-LLaMA does: ``encode(prompt + answer, bos, eos)``.

    Only the answer tokens and EOS count in the loss; the sequence is cut to ``max_tokens``.
    """
    if max_tokens < 2:
        raise ValueError(f"max_tokens must be >= 2, got {max_tokens}")
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token")
    prompt = format_prompt(question, mode=mode)
    n_prompt = len(encode_prompt(tokenizer, question, mode=mode))
    ids = _bos(tokenizer) + tokenizer.encode(
        prompt + answer_separator(mode) + answer, add_special_tokens=False
    )
    ids = (ids + [tokenizer.eos_token_id])[:max_tokens]
    labels = [IGNORE_INDEX] * min(n_prompt, len(ids)) + ids[n_prompt:]
    return EncodedExample(input_ids=ids, labels=labels)


def _bos(tokenizer: Tokenizer) -> list[int]:
    return [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
