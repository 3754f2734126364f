"""Captioners for the VACAD caption kinds: video, music, and the LLM-composed fusion and MSI.

- :mod:`.video`: a GIT video-captioning model (default ``microsoft/git-base-vatex``) on frames
  sampled evenly with PyAV, in batches.
- :mod:`.music`: MU-LLaMA's music-description answer, through :mod:`modeling.imagine`.
- :mod:`.composer`: the paper's fusion and MSI prompts for Mixtral-8x7B-Instruct, with a local
  transformers backend and an OpenAI-compatible HTTP backend (vLLM, TGI, llama.cpp).

Each captioner returns :class:`CaptionResult` objects: the text and its provenance. The modules
are imported on demand, so importing this package loads neither PyAV nor transformers.
"""

from .base import CaptionResult

__all__ = ["CaptionResult"]
