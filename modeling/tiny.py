"""Tiny random checkpoints of every model family the project uses.

    python -m modeling.tiny build DIR [--family NAME ...]

Each family module exposes ``build_tiny(out_dir: Path, *, seed: int = 0) -> Path`` which writes a
checkpoint (weights, config, processor/tokenizer) loadable offline by the same code path as the
real model. The families are registered below as ``"module:function"`` strings so that building
one does not import the others.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path

# family name -> "module:function"; each writes DIR/<family>/ and returns that path.
FAMILIES: dict[str, str] = {
    "composer": "modeling.captioners.composer:build_tiny",
    "git": "modeling.captioners.video:build_tiny",
    "llama": "modeling.musiscene.tiny_models:build_tiny_llama",
    "mert": "modeling.musiscene.tiny_models:build_tiny_mert",
    "musicgen": "modeling.musicgen:build_tiny",
}


def _builder(family: str) -> Callable[..., Path]:
    module_name, func_name = FAMILIES[family].split(":")
    builder: Callable[..., Path] = getattr(importlib.import_module(module_name), func_name)
    return builder


def build(
    out_dir: Path | str, families: list[str] | None = None, *, seed: int = 0
) -> dict[str, Path]:
    """Build the tiny checkpoints of ``families`` (all by default) under ``out_dir``."""
    out_dir = Path(out_dir)
    names = families or sorted(FAMILIES)
    unknown = sorted(set(names) - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown model families {unknown}; known: {sorted(FAMILIES)}")
    return {name: _builder(name)(out_dir / name, seed=seed) for name in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m modeling.tiny", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="write tiny random checkpoints")
    b.add_argument("out_dir", type=Path)
    b.add_argument(
        "--family",
        action="append",
        choices=sorted(FAMILIES) or None,
        help="only this family (repeatable); default: all",
    )
    b.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name, path in build(args.out_dir, args.family, seed=args.seed).items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
