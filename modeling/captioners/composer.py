"""Fusion and MSI captions composed by an instruction-tuned LLM (the paper: Mixtral-8x7B-Instruct).

    >>> endpoint = EndpointConfig(base_url="http://localhost:8000/v1",
    ...                           model="mistralai/Mixtral-8x7B-Instruct-v0.1")
    >>> composer = Composer(HTTPBackend(endpoint))  # doctest: +SKIP
    >>> pairs = [("a man surfs a wave", "upbeat surf rock")]
    >>> composer.compose("msi", pairs, seed=0)[0].text  # doctest: +SKIP

What is reproduced from the paper's scripts (research/B_modeling.md 1.3), character for character:

- the prompts (:func:`build_prompt`), in two named sets (:data:`PROMPT_SETS`). ``"paper"`` (the
  default) is the wording of the paper's Table 1 and Table 6: ``Video Caption: "..", Music
  Caption: "..". What type of scene the music is suitable for?`` (fusion: ``Describe the music
  from both video and music captions.``). ``"released"`` is the authors' released script, which
  made their published CSV: the video caption and then the music caption, each in single quotes
  and followed by a space and a newline, then ``Describe the video from the given video and
  music information. ...`` (fusion: ``Describe the music from both ...``). The released MSI
  prompt asks for a description of the *video*, so most published MSI captions describe the
  video; the paper's asks which scene the music suits;
- the template (:func:`apply_template`): ``[INST] {prompt} [/INST]`` followed by a newline and
  four spaces, tokenised with the tokenizer's default special tokens (so Mixtral's BOS leads);
- the sampling (:class:`ComposerSampling`): temperature 0.7, top_p 0.95, top_k 40, up to 512 new
  tokens;
- the post-processing (:func:`postprocess`), applied to the decoded prompt *and* answer with
  special tokens: keep what follows the last ``[/INST]`` + newline, delete newlines (without
  putting a space in their place) and ``</s>``, strip, squeeze runs of whitespace to one space.

Backends: :class:`LocalBackend` runs a transformers causal LM; :class:`HTTPBackend` calls an
OpenAI-compatible server (vLLM, TGI, llama.cpp). With the HTTP ``completions`` API the server gets
the templated prompt as is, which reproduces the paper; with the ``chat`` API the server applies
the model's own chat template (for Mixtral ``<s>[INST] ... [/INST]``, without the trailing
newline and spaces), which is close but not identical.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import torch

from ..hub import resolve_pretrained
from .base import CaptionResult

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"

ComposedKind = Literal["fusion", "msi"]
#: The released script's instructions (research/B_modeling.md 1.3), after the two captions.
INSTRUCTIONS: dict[str, str] = {
    "fusion": (
        "Describe the music from both video and music captions. Return answer only without "
        "intro/outro."
    ),
    "msi": (
        "Describe the video from the given video and music information. Return answer only "
        "without intro/outro."
    ),
}
#: The paper's questions (Table 1 and Table 6 of the paper), after the two captions.
PAPER_QUESTIONS: dict[str, str] = {
    "fusion": "Describe the music from both video and music captions.",
    "msi": "What type of scene the music is suitable for?",
}
#: Named prompt sets: a caption job chooses one, and each caption records it in its parameters.
PROMPT_SETS: tuple[str, ...] = ("paper", "released")
DEFAULT_PROMPT_SET = "paper"


def build_prompt(
    kind: ComposedKind, video_caption: str, music_caption: str, *, prompt_set: str = "paper"
) -> str:
    """The prompt for ``kind`` (``"fusion"`` or ``"msi"``) in ``prompt_set``, before the template.

    >>> build_prompt("msi", "a basketball game", "tense orchestral music")
    'Video Caption: "a basketball game", Music Caption: "tense orchestral music". What type of
    scene the music is suitable for?'
    """
    if kind not in INSTRUCTIONS:
        raise ValueError(
            f"composed caption kind must be one of {sorted(INSTRUCTIONS)}, got {kind!r}"
        )
    if prompt_set not in PROMPT_SETS:
        raise ValueError(f"prompt set must be one of {', '.join(PROMPT_SETS)}, got {prompt_set!r}")
    for name, caption in (("video", video_caption), ("music", music_caption)):
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f"the {name} caption is empty: a {kind} caption needs both captions")
    if prompt_set == "paper":
        return (
            f'Video Caption: "{video_caption}", Music Caption: "{music_caption}". '
            f"{PAPER_QUESTIONS[kind]}"
        )
    return (
        f"Video caption: '{video_caption}' \nMusic caption: '{music_caption}' "
        f"\n{INSTRUCTIONS[kind]}"
    )


def apply_template(prompt: str) -> str:
    """Mixtral-Instruct's instruction template as the paper's scripts wrote it (newline + 4 spaces
    after)."""
    return f"[INST] {prompt} [/INST]\n    "


_SPACES = re.compile(r"\s{2,}")


def postprocess(decoded: str) -> str:
    """The paper's clean-up of a decoded generation (prompt and answer, special tokens kept)."""
    text = decoded.split("[/INST]\n")[-1]
    text = text.replace("\n", "").replace("</s>", "").strip()
    return _SPACES.sub(" ", text)


@dataclass(frozen=True)
class ComposerSampling:
    """Sampling of the composer; the defaults are the paper's. ``temperature=0`` decodes
    greedily."""

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    max_new_tokens: int = 512

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 keeps every token), got {self.top_k}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


class ComposerBackend(Protocol):
    """Where the LLM runs. ``generate`` returns, per rendered prompt, the text to post-process."""

    model_id: str

    def render(self, prompt: str) -> str:
        """The exact text the model is given for ``prompt`` (the template applied, or not)."""
        ...

    def generate(
        self, rendered: Sequence[str], *, sampling: ComposerSampling, seed: int | None
    ) -> list[str]: ...

    def parameters(self) -> dict[str, Any]:
        """The backend's settings, for the provenance."""
        ...


class Composer:
    """Writes fusion and MSI captions from a video caption and a music caption."""

    def __init__(
        self,
        backend: ComposerBackend,
        *,
        sampling: ComposerSampling | None = None,
        prompt_set: str = DEFAULT_PROMPT_SET,
    ) -> None:
        if prompt_set not in PROMPT_SETS:
            raise ValueError(
                f"prompt set must be one of {', '.join(PROMPT_SETS)}, got {prompt_set!r}"
            )
        self.backend = backend
        self.sampling = sampling or ComposerSampling()
        self.prompt_set = prompt_set

    def compose(
        self, kind: ComposedKind, pairs: Sequence[tuple[str, str]], *, seed: int | None = None
    ) -> list[CaptionResult]:
        """One ``kind`` caption per (video caption, music caption) pair.

        With a ``seed``, pair ``i`` is drawn with seed ``seed + i`` where the backend allows it
        (the local backend seeds each batch with the index of its first pair).
        """
        prompts = [
            build_prompt(kind, video, music, prompt_set=self.prompt_set) for video, music in pairs
        ]
        rendered = [self.backend.render(p) for p in prompts]
        raw = self.backend.generate(rendered, sampling=self.sampling, seed=seed)
        if len(raw) != len(rendered):
            raise RuntimeError(
                f"the backend returned {len(raw)} generations for {len(rendered)} prompts"
            )
        params = {
            **asdict(self.sampling),
            "do_sample": not self.sampling.greedy,
            "seed": seed,
            "prompt_set": self.prompt_set,
            **self.backend.parameters(),
        }
        return [
            CaptionResult(
                text=postprocess(r),
                kind=kind,
                model=self.backend.model_id,
                prompt=p,
                parameters={**params, "index": i} if seed is not None else dict(params),
            )
            for i, (p, r) in enumerate(zip(rendered, raw, strict=True))
        ]

    def fusion(
        self, video_caption: str, music_caption: str, *, seed: int | None = None
    ) -> CaptionResult:
        return self.compose("fusion", [(video_caption, music_caption)], seed=seed)[0]

    def msi(
        self, video_caption: str, music_caption: str, *, seed: int | None = None
    ) -> CaptionResult:
        return self.compose("msi", [(video_caption, music_caption)], seed=seed)[0]


# ------------------------------------------------------------------------------ local backend


class LocalBackend:
    """A transformers causal LM on this machine, prompts left-padded into batches.

    Each row is decoded as the paper decoded its single row: the prompt and the answer up to and
    including the first EOS, special tokens kept; padding is left out.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        model_id: str,
        batch_size: int = 4,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model_id = model_id
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str = DEFAULT_MODEL,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        device_map: str | None = None,
        batch_size: int = 4,
    ) -> LocalBackend:
        """Load the LM and its tokenizer from local files (never downloaded; see
        :mod:`modeling.hub`).

        ``device_map="auto"`` spreads a large model (Mixtral-8x7B is ~93 GB in bf16) over the GPUs
        and the CPU; ``dtype`` defaults to bfloat16 on a GPU and float32 on the CPU.
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = resolve_pretrained(name_or_path, kind="composer language model")
        cuda = torch.cuda.is_available()
        if dtype is None:
            dtype = (
                torch.bfloat16
                if cuda and (device is None or torch.device(device).type == "cuda")
                else torch.float32
            )
        kwargs: dict[str, Any] = {"local_files_only": True, "dtype": dtype}
        if device_map is not None:
            kwargs["device_map"] = device_map
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
        if device_map is None:
            model = model.to(torch.device(device or ("cuda" if cuda else "cpu")))
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        return cls(model, tokenizer, model_id=name_or_path, batch_size=batch_size)

    def render(self, prompt: str) -> str:
        return apply_template(prompt)

    def parameters(self) -> dict[str, Any]:
        return {"backend": "local", "batch_size": self.batch_size}

    @torch.no_grad()
    def generate(
        self, rendered: Sequence[str], *, sampling: ComposerSampling, seed: int | None
    ) -> list[str]:
        out: list[str] = []
        for start in range(0, len(rendered), self.batch_size):
            chunk = list(rendered[start : start + self.batch_size])
            with torch.random.fork_rng(
                devices=range(torch.cuda.device_count()) if torch.cuda.is_available() else []
            ):
                if seed is not None:
                    torch.manual_seed(seed + start)
                out += self._generate_batch(chunk, sampling)
        return out

    def _generate_batch(self, texts: list[str], sampling: ComposerSampling) -> list[str]:
        enc = self.tokenizer(texts, return_tensors="pt", padding=True).to(self.model.device)
        kwargs: dict[str, Any] = {
            "max_new_tokens": sampling.max_new_tokens,
            "do_sample": not sampling.greedy,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if not sampling.greedy:
            kwargs.update(
                temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k
            )
        else:
            # no sampling knobs: the checkpoint's generation config may set some, which would warn
            kwargs.update(temperature=None, top_p=None, top_k=None)
        ids = self.model.generate(**enc, **kwargs)  # (B, T_prompt + T_new)
        width = enc["input_ids"].shape[1]
        eos = self.tokenizer.eos_token_id
        decoded = []
        for row, mask in zip(ids.tolist(), enc["attention_mask"].tolist(), strict=True):
            prompt = [t for t, m in zip(row[:width], mask, strict=True) if m]
            answer = row[width:]
            if eos in answer:
                answer = answer[: answer.index(eos) + 1]
            decoded.append(self.tokenizer.decode(prompt + answer, skip_special_tokens=False))
        return decoded


# ------------------------------------------------------------------------------- HTTP backend


class EndpointError(RuntimeError):
    """The OpenAI-compatible endpoint failed: the message names the URL, the status and the
    reason."""

    def __init__(
        self, message: str, *, url: str, status: int | None = None, attempts: int = 1
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.attempts = attempts


@dataclass(frozen=True)
class EndpointConfig:
    """How to reach an OpenAI-compatible server.

    Attributes:
        base_url: up to and including ``/v1``, e.g. ``http://localhost:8000/v1`` (vLLM).
        model: the model name the server knows (vLLM: ``--served-model-name`` or the id).
        api: ``"completions"`` sends the paper's templated prompt as is (exact); ``"chat"`` sends
            the plain prompt as a user message and lets the server apply its chat template.
        api_key_env: environment variable holding the API key (sent as a Bearer token if set).
        timeout_s: seconds to wait for the connection and for each read.
        retries: further attempts after a timeout, a connection error or an HTTP 5xx, waiting
            ``backoff_s * 2**k`` seconds (at most ``max_backoff_s``) before attempt ``k + 1``.
            A 4xx answer or a malformed body is not retried.
        send_top_k: send ``top_k`` (vLLM, TGI and llama.cpp accept it; OpenAI's own API does not).
        concurrency: requests in flight at once (vLLM and TGI batch concurrent requests).
    """

    base_url: str
    model: str
    api: Literal["completions", "chat"] = "completions"
    api_key_env: str = "MUSISCENE_LLM_API_KEY"
    timeout_s: float = 120.0
    retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    send_top_k: bool = True
    concurrency: int = 1

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        if not self.model:
            raise ValueError("model must name the served model")
        if self.api not in ("completions", "chat"):
            raise ValueError(f"api must be 'completions' or 'chat', got {self.api!r}")
        if self.timeout_s <= 0 or self.retries < 0 or self.backoff_s < 0 or self.concurrency < 1:
            raise ValueError("timeout_s must be > 0, retries and backoff_s >= 0, concurrency >= 1")


class HTTPBackend:
    """Completions from an OpenAI-compatible server, with timeouts and retries."""

    def __init__(
        self, config: EndpointConfig, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.config = config
        self.model_id = config.model
        self._sleep = sleep

    def render(self, prompt: str) -> str:
        return apply_template(prompt) if self.config.api == "completions" else prompt

    def parameters(self) -> dict[str, Any]:
        c = self.config
        return {"backend": "http", "api": c.api, "base_url": c.base_url, "send_top_k": c.send_top_k}

    def generate(
        self, rendered: Sequence[str], *, sampling: ComposerSampling, seed: int | None
    ) -> list[str]:
        jobs = [(text, None if seed is None else seed + i) for i, text in enumerate(rendered)]
        if self.config.concurrency == 1 or len(jobs) < 2:
            return [self._one(text, sampling, s) for text, s in jobs]
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            return list(pool.map(lambda job: self._one(job[0], sampling, job[1]), jobs))

    def _one(self, text: str, sampling: ComposerSampling, seed: int | None) -> str:
        c = self.config
        body: dict[str, Any] = {
            "model": c.model,
            "max_tokens": sampling.max_new_tokens,
            "n": 1,
            "stream": False,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
        }
        if c.send_top_k and not sampling.greedy:
            body["top_k"] = sampling.top_k
        if seed is not None:
            body["seed"] = seed
        if c.api == "completions":
            body["prompt"] = text
            answer = self._field(
                self.post("/completions", body), ("choices", 0, "text"), c.base_url + "/completions"
            )
            return text + answer  # post-processed like the paper's decode of prompt + answer
        body["messages"] = [{"role": "user", "content": text}]
        return self._field(
            self.post("/chat/completions", body),
            ("choices", 0, "message", "content"),
            c.base_url + "/chat/completions",
        )

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST ``body`` as JSON to ``base_url + path`` and return the decoded JSON answer."""
        c = self.config
        url = c.base_url.rstrip("/") + path
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(c.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(body).encode()
        reason = ""
        attempts = c.retries + 1
        for attempt in range(attempts):
            if attempt:
                delay = min(c.max_backoff_s, c.backoff_s * 2 ** (attempt - 1))
                logger.warning(
                    "%s: %s; retry %d/%d in %.1f s", url, reason, attempt, c.retries, delay
                )
                self._sleep(delay)
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=c.timeout_s) as response:
                    payload = response.read()
            except urllib.error.HTTPError as exc:
                detail = _excerpt(exc.read() if exc.fp is not None else b"")
                if exc.code < 500:
                    hint = (
                        " (check the API key in $" + c.api_key_env + ")"
                        if exc.code in (401, 403)
                        else ""
                    )
                    raise EndpointError(
                        f"POST {url} was refused with HTTP {exc.code}{hint}: {detail} "
                        "(client errors are not retried)",
                        url=url,
                        status=exc.code,
                        attempts=attempt + 1,
                    ) from exc
                reason = f"HTTP {exc.code}: {detail}"
                continue
            except TimeoutError:
                reason = f"no answer within {c.timeout_s:g} s"
                continue
            except urllib.error.URLError as exc:
                timed_out = isinstance(exc.reason, TimeoutError)
                reason = (
                    f"no answer within {c.timeout_s:g} s"
                    if timed_out
                    else f"cannot connect: {exc.reason}"
                )
                continue
            except (http.client.HTTPException, ConnectionError, OSError) as exc:
                reason = f"connection failed: {type(exc).__name__}: {exc}"
                continue
            try:
                return json.loads(payload)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise EndpointError(
                    f"POST {url} answered something that is not JSON: {_excerpt(payload)}",
                    url=url,
                    status=200,
                    attempts=attempt + 1,
                ) from exc
        raise EndpointError(
            f"POST {url} failed after {attempts} attempt{'s' * (attempts > 1)}: {reason}",
            url=url,
            attempts=attempts,
        )

    @staticmethod
    def _field(answer: Any, keys: tuple[str | int, ...], url: str) -> str:
        node = answer
        try:
            for key in keys:
                node = node[key]
        except (KeyError, IndexError, TypeError):
            node = None
        if not isinstance(node, str):
            error = answer.get("error") if isinstance(answer, dict) else None
            where = "".join(f"[{k!r}]" for k in keys)
            raise EndpointError(
                f"POST {url} answered JSON without a text at {where}"
                f"{': ' + _excerpt(json.dumps(error).encode()) if error else ''}; got "
                f"{_excerpt(json.dumps(answer).encode())}",
                url=url,
                status=200,
            )
        return node


def _excerpt(raw: bytes, limit: int = 200) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


# ------------------------------------------------------------------------------------ tiny model


def build_tiny(out_dir: Path | str, *, seed: int = 0) -> Path:
    """Write a tiny random Mixtral (2 layers, 2 experts, hidden 32) and its tokenizer to
    ``out_dir``.

    The tokenizer is a transformers ``LlamaTokenizer`` (Mixtral's class) with one token per
    printable ASCII character and newline, and adds BOS like Mixtral's; the model has Mixtral's
    architecture, so :meth:`LocalBackend.from_pretrained` loads it as it loads the real one.
    """
    import string

    from transformers import LlamaTokenizer, MixtralConfig, MixtralForCausalLM

    out_dir = Path(out_dir)
    specials = ["<unk>", "<s>", "</s>"]
    chars = list(
        dict.fromkeys("▁" + string.ascii_letters + string.digits + string.punctuation + "\n")
    )
    vocab = {piece: i for i, piece in enumerate(specials + chars)}
    tokenizer = LlamaTokenizer(vocab=vocab, merges=[], add_bos_token=True, add_eos_token=False)
    config = MixtralConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_local_experts=2,
        num_experts_per_tok=1,
        max_position_embeddings=2048,
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["</s>"],
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MixtralForCausalLM(config).eval()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
