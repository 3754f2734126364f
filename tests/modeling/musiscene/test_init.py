"""Issue 14, item 2: fine-tuning starts from the pre-trained MU-LLaMA (``--init``), not from a
random adapter.

A tiny checkpoint in MU-LLaMA's own layout (``checkpoint.pth``, the keys of ``llama_adapter.py``)
is converted; training from it starts exactly where the converted model is: the first step's
loss is the converted model's loss on that batch, and every tensor starts equal to the
checkpoint's, trained or carried frozen as ``--trainable`` says.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from modeling.musiscene.convert import convert_mu_llama_checkpoint
from modeling.musiscene.features import FeatureCache, MertEncoder, encode_files
from modeling.musiscene.model import (
    WEIGHTS_NAME,
    load_llama,
    load_musiscene,
    load_tokenizer,
)
from modeling.musiscene.prompts import encode_example
from modeling.train_musiscene import (
    TrainConfig,
    build_model,
    collate,
    load_records,
    split_records,
    train,
)

from .test_convert import mu_llama_state

ANSWERS = ("a calm beach at sunset", "a wedding party", "a car chase", "kids cartoon")


@pytest.fixture(scope="module")
def mu_llama(tiny_dir: Path, tmp_path_factory) -> Path:
    """MU-LLaMA's checkpoint.pth layout, tiny, converted with everything it tuned."""
    root = tmp_path_factory.mktemp("mu-llama")
    state = mu_llama_state(load_llama(str(tiny_dir / "llama")), seed=3)
    torch.save({"model": state}, root / "checkpoint.pth")
    return convert_mu_llama_checkpoint(
        root / "checkpoint.pth",
        root / "converted",
        llama=str(tiny_dir / "llama"),
        mert=str(tiny_dir / "mert"),
        trainable="both",
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory, tone_writer) -> Path:
    root = tmp_path_factory.mktemp("init-data")
    rows = []
    for i, answer in enumerate(ANSWERS):
        tone_writer(root / f"t{i}.wav", freq=220.0 * (i + 1), seconds=0.5)
        rows.append({"audio": f"t{i}.wav", "answer": answer, "split": "train"})
    rows.append({"audio": "t0.wav", "answer": ANSWERS[1], "split": "test"})
    (root / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root / "data.jsonl"


def _config(data: Path, tiny_dir: Path, out: Path, **kw) -> TrainConfig:
    base = TrainConfig(
        data=data,
        out_dir=out,
        llama=str(tiny_dir / "llama"),
        mert=str(tiny_dir / "mert"),
        epochs=1,
        batch_size=8,
        grad_accum=1,
        lr=1e-3,
        warmup_epochs=0,
        precision="fp32",
        progress=False,
        cpu=True,
        feature_cache=data.parent / "features",
    )
    return replace(base, **kw)


def _loss_of(model, data: Path, tiny_dir: Path) -> float:
    """The converted model's mean token loss on the whole training split as one batch."""
    train_rows, _ = split_records(load_records(data), eval_fraction=0.2, seed=0)
    encoder = MertEncoder(str(tiny_dir / "mert"))
    paths = list(dict.fromkeys(r.audio for r in train_rows))
    features = encode_files(
        paths,
        encoder=encoder,
        cache=FeatureCache(data.parent / "f2", encoder_id=encoder.encoder_id),
    )
    tok = load_tokenizer(str(tiny_dir / "llama"))
    from modeling.train_musiscene import Example

    examples = []
    for r in train_rows:
        enc = encode_example(tok, r.question, r.answer, mode=model.config.prompt_mode)
        examples.append(Example(paths.index(r.audio), enc.input_ids, enc.labels))
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    with torch.no_grad():
        return float(model(**collate(examples, features, pad_id=pad)).loss)


@pytest.mark.parametrize("trainable", ["adapter", "both"])
def test_the_trainer_starts_from_the_converted_mu_llama(
    trainable: str, mu_llama: Path, data: Path, tiny_dir: Path, tmp_path: Path
) -> None:
    converted = load_file(str(mu_llama / WEIGHTS_NAME))
    config = _config(data, tiny_dir, tmp_path / "run", init=mu_llama, trainable=trainable)
    reference = load_musiscene(mu_llama)
    model = build_model(config, adapter=reference.config.adapter)
    params = dict(model.named_parameters())
    # every tensor MU-LLaMA tuned starts equal to the checkpoint's, trained or carried frozen
    assert set(converted) == set(model.stored_names())
    assert all(torch.equal(params[k], v) for k, v in converted.items())
    lora = [k for k in converted if ".lora_l" in k]
    assert lora and all(params[k].requires_grad == (trainable == "both") for k in lora)
    assert all(params[k].requires_grad for k in converted if k.startswith("adapter."))

    result = train(config)
    first = result.history[0]["first_step_loss"]
    assert first == pytest.approx(_loss_of(reference, data, tiny_dir), rel=1e-5)

    # the checkpoint keeps the carried tensors unchanged and the trained ones moved
    saved = load_file(str(result.checkpoint / WEIGHTS_NAME))
    assert set(saved) == set(converted)
    moved = {k for k in converted if not torch.equal(saved[k], converted[k])}
    assert any(k.startswith("adapter.") for k in moved)
    assert bool(set(lora) & moved) == (trainable == "both")
    again = load_musiscene(result.checkpoint)
    assert again.config.init_from == str(mu_llama)


def test_a_fresh_start_differs_from_mu_llama(mu_llama: Path, data: Path, tiny_dir: Path, tmp_path):
    """The failure before ``--init``: the trainer's first loss was a random adapter's."""
    reference = load_musiscene(mu_llama)
    fresh = train(_config(data, tiny_dir, tmp_path / "fresh", query_layers=2))
    assert fresh.history[0]["first_step_loss"] != pytest.approx(
        _loss_of(reference, data, tiny_dir), rel=1e-3
    )
