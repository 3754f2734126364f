"""Find pretrained models on local disk; never download at run time.

Every model the project loads (MERT, LLaMA, MusicGen, MusiScene checkpoints, ...) goes through
:func:`resolve_pretrained`, which looks, in order, at:

1. ``name_or_path`` itself, if it is an existing folder or file;
2. ``$MUSISCENE_MODEL_DIR/<name_or_path>`` and ``$MUSISCENE_MODEL_DIR/<last part of the id>``;
3. the local Hugging Face cache (``HF_HOME`` / ``HF_HUB_CACHE``), with ``local_files_only=True``.

When none of them holds the model it raises :class:`ModelNotFoundError`, whose message names the
model and says how to provide it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

MODEL_DIR_ENV = "MUSISCENE_MODEL_DIR"


class ModelNotFoundError(FileNotFoundError):
    """A pretrained model is not on this machine (it is never downloaded at run time)."""


def _candidates(name_or_path: str) -> list[Path]:
    paths = [Path(name_or_path).expanduser()]
    root = os.environ.get(MODEL_DIR_ENV)
    if root:
        base = Path(root).expanduser()
        paths.append(base / name_or_path)
        last = name_or_path.rstrip("/").split("/")[-1]
        if last and last != name_or_path:
            paths.append(base / last)
    return paths


def _from_hf_cache(repo_id: str) -> Path | None:
    """The cached snapshot folder of ``repo_id``, or None (offline look-up only)."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HFValidationError
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return None
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (FileNotFoundError, HFValidationError, ValueError, OSError) as exc:
        logger.debug("%s is not in the Hugging Face cache: %s", repo_id, exc)
        return None


def resolve_pretrained(name_or_path: str, *, kind: str) -> Path:
    """Return the local folder (or file) holding ``name_or_path``.

    Args:
        name_or_path: a Hugging Face id such as ``"m-a-p/MERT-v1-330M"``, or a local path.
        kind: what the model is, for the error message (e.g. ``"MERT music encoder"``).

    Raises:
        ModelNotFoundError: nothing local holds the model; the message says how to provide it.
    """
    if not name_or_path or not str(name_or_path).strip():
        raise ModelNotFoundError(f"no {kind} model was named (got an empty name or path)")
    name_or_path = str(name_or_path)
    looked: list[str] = []
    for path in _candidates(name_or_path):
        if path.exists():
            logger.debug("%s %r found at %s", kind, name_or_path, path)
            return path
        looked.append(str(path))
    cached = _from_hf_cache(name_or_path)
    if cached is not None:
        return cached
    looked.append("the Hugging Face cache (local_files_only)")
    root = os.environ.get(MODEL_DIR_ENV)
    raise ModelNotFoundError(
        f"{kind} model {name_or_path!r} was not found on this machine; looked at: "
        f"{'; '.join(looked)}. Models are never downloaded at run time. To provide it, either "
        f"(1) on a machine with internet run `hf download {name_or_path}` (the older "
        f"`huggingface-cli download {name_or_path}` works too) and copy the Hugging Face cache "
        f"(HF_HOME) here, or download it into a folder with `--local-dir`; then "
        f"(2) pass that folder's path instead of the id, or "
        f"(3) put it at ${MODEL_DIR_ENV}/{name_or_path} "
        f"({MODEL_DIR_ENV} is currently {'set to ' + repr(root) if root else 'unset'})."
    )
