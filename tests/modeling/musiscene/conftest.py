"""Shared fixtures for the MusiScene model tests: tiny random MERT and LLaMA, built once."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny random LLaMA and MERT, built once through ``python -m modeling.tiny``'s registry."""
    from modeling.tiny import build

    out = tmp_path_factory.mktemp("tiny")
    build(out, ["llama", "mert"])
    return out


@pytest.fixture(scope="session")
def tiny_llama(tiny_dir: Path) -> Path:
    return tiny_dir / "llama"


@pytest.fixture(scope="session")
def tiny_mert(tiny_dir: Path) -> Path:
    return tiny_dir / "mert"


TONE_ANSWERS = (  # words that the tiny tokenizer holds as single tokens
    "a calm beach at sunset",
    "a busy city street at night",
    "a wedding party",
    "a car chase",
    "a forest in the rain",
    "kids cartoon",
    "epic battle montage",
    "cooking vlog",
)


@pytest.fixture(scope="session")
def tone_answers() -> tuple[str, ...]:
    return TONE_ANSWERS


@pytest.fixture(scope="session")
def tone_writer():
    """``write_tone(path, freq=..., seconds=...)``: a mono sine WAV at 24 kHz."""
    return write_tone


def write_tone(path: Path, *, freq: float, seconds: float = 1.0, rate: int = 24000) -> Path:
    import numpy as np
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)
    return path


@pytest.fixture(scope="session")
def tone_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 one-second tones (200, 400, ... 1600 Hz), each with its own answer, as a training JSONL.

    Every clip appears 10 times with split "train" and once with split "test".
    """
    import json

    root = tmp_path_factory.mktemp("tones")
    rows = []
    for i, answer in enumerate(TONE_ANSWERS):
        name = f"tone{i}.wav"
        write_tone(root / name, freq=200.0 * (i + 1))
        rows += [
            {
                "audio": name,
                "question": "What kinds of video would this piece of music be suitable for?",
                "answer": answer,
                "split": "train",
            }
        ] * 10
        rows.append({"audio": name, "answer": answer, "split": "test"})
    (root / "tones.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root / "tones.jsonl"
