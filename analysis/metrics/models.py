"""Where the metric backends find their models: a local path, the project's model resolver, or
the local Hugging Face cache. Nothing is ever downloaded."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["ModelMissingError", "resolve_model"]


class ModelMissingError(FileNotFoundError):
    """A model a metric needs is not on this machine; the message says how to provide it."""


def _missing(name: str, kind: str, hint: str = "") -> ModelMissingError:
    return ModelMissingError(
        f"{kind} model {name!r} is not available offline. Pass a local folder (save_pretrained "
        f"layout) or put it in the Hugging Face cache on this machine (download it elsewhere with "
        f"`huggingface-cli download {name}` and copy ~/.cache/huggingface/hub here, or set "
        "HF_HOME)." + (f" {hint}" if hint else "")
    )


def resolve_model(name_or_path: str | Path, *, kind: str) -> Path:
    """A local folder for a transformers model given by id or path, without network access.

    Uses ``modeling.hub.resolve_pretrained`` when that module exists, else a path on disk or a
    snapshot already in the local Hugging Face cache (``local_files_only``).
    """
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    try:
        from modeling.hub import resolve_pretrained
    except ImportError:
        pass
    else:
        return Path(resolve_pretrained(str(name_or_path), kind=kind))
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(str(name_or_path), local_files_only=True))
    except Exception as exc:  # LocalEntryNotFoundError, invalid repo id, ...
        raise _missing(str(name_or_path), kind) from exc
