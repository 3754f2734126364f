"""Every variable that .env.example documents is read: by settings.py through the typed readers
of studyserver.env, or (three of them) by the library or the Django-free module named here."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Variables read outside settings.py, and the file that reads them.
READ_ELSEWHERE = {
    "HF_HUB_OFFLINE": None,  # huggingface_hub and transformers read it themselves
    "MUSISCENE_MODEL_DIR": ROOT / "modeling" / "hub.py",  # modeling/ imports no Django
}


def documented() -> set[str]:
    """``NAME=value`` lines of .env.example, commented out or not."""
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", text, re.M))


def read_by_settings() -> set[str]:
    """First arguments of the ``env_*`` reader calls in settings.py."""
    tree = ast.parse((ROOT / "studyserver" / "settings.py").read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id.startswith("env_")
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def test_every_documented_variable_is_read():
    names = documented()
    assert {"SECRET_KEY", "CAPTION_CLAIM_TIMEOUT_S", "CAPTION_MAX_MODELS"} <= names
    missing = names - read_by_settings() - set(READ_ELSEWHERE)
    assert not missing, f".env.example documents variables nothing reads: {sorted(missing)}"
    for name, where in READ_ELSEWHERE.items():
        assert name in names
        if where is not None:
            assert f'"{name}"' in where.read_text()


def test_caption_variables_reach_the_caption_jobs():
    env = {
        **os.environ,
        "MUSISCENE_NO_DOTENV": "1",
        "CAPTION_CLAIM_TIMEOUT_S": "77",
        "CAPTION_DEVICE": "cpu",
        "CAPTION_GPU_QUEUE": "captions",
        "CAPTION_MAX_MODELS": "3",
        "CAPTION_BATCH_TIME_LIMIT_S": "900",
    }
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from generation import captioning, tasks\n"
        "print(captioning.claim_timeout_s(), captioning._device(), settings.CAPTION_GPU_QUEUE,"
        " settings.CAPTION_MAX_MODELS, tasks.CAPTION_BATCH_TIME_LIMIT_S)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["77.0", "cpu", "captions", "3", "900"]


def test_caption_timeout_follows_the_generation_one_when_unset(settings):
    from generation import captioning

    settings.CAPTION_CLAIM_TIMEOUT_S = 0
    settings.GENERATION_CLAIM_TIMEOUT_S = 42
    assert captioning.claim_timeout_s() == 42.0
