"""modeling.hub: local-only model resolution with a clear error."""

from pathlib import Path

import pytest

from modeling.hub import MODEL_DIR_ENV, ModelNotFoundError, resolve_pretrained


def test_it_returns_an_existing_folder(tmp_path: Path) -> None:
    assert resolve_pretrained(str(tmp_path), kind="MERT music encoder") == tmp_path


def test_it_finds_a_model_under_the_model_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "m-a-p" / "MERT-v1-95M").mkdir(parents=True)
    (tmp_path / "Llama-2-7b-hf").mkdir()
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    assert (
        resolve_pretrained("m-a-p/MERT-v1-95M", kind="MERT") == tmp_path / "m-a-p" / "MERT-v1-95M"
    )
    # the last part of the id is enough
    assert (
        resolve_pretrained("meta-llama/Llama-2-7b-hf", kind="LLaMA") == tmp_path / "Llama-2-7b-hf"
    )


def test_it_raises_a_clear_error_for_a_missing_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv(MODEL_DIR_ENV, raising=False)
    with pytest.raises(ModelNotFoundError) as info:
        resolve_pretrained("m-a-p/MERT-v1-330M", kind="MERT music encoder")
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "MERT music encoder" in message and "m-a-p/MERT-v1-330M" in message
    assert "hf download m-a-p/MERT-v1-330M" in message and MODEL_DIR_ENV in message
