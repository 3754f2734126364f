"""Train MusiScene: ``python -m modeling.train_musiscene --data VACAD.jsonl --out runs/msi``.

One file because it is one command: its config (saved as train_config.json), data loading,
training loop and command line are read together.

Data is a JSONL file. Each line is either a question/answer pair ``{"audio", "question",
"answer"}`` or a VACAD row (exported by ``manage.py export_vacad``) holding the audio path, the
captions of each kind and the split; ``--answer-field`` (default ``msi``) picks the caption that
is the answer and ``--question`` the question asked. Rows with a ``split`` of ``train`` train and
the others evaluate; without one, the rows are split 80/20 by ``--seed``.

MERT runs once per clip (features cached by audio hash); then the adapter (or MU-LLaMA's
finetune set) trains with AdamW, a linear warm-up and a cosine decay per optimizer step, gradient
accumulation and bf16 or fp32. Each epoch ends with the held-out loss, a line in
``OUT/metrics.jsonl`` and a checkpoint in ``OUT/last`` (and ``OUT/best``); ``--resume`` continues
from ``OUT/last``. Several GPUs: ``accelerate launch -m modeling.train_musiscene ...``.

Defaults follow MU-LLaMA's finetune.sh: 20 epochs, 1 warm-up epoch, effective batch 32,
lr = blr * 32 / 256 = 1.25e-4 with blr 1e-3, weight decay 0.05 (none on biases and norms),
AdamW betas (0.9, 0.95), at most 512 tokens.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .musiscene.config import (
    PROMPT_MODES,
    TRAINABLE_MODES,
    AdapterConfig,
    MusiSceneConfig,
    PromptMode,
    TrainableMode,
)
from .musiscene.prompts import IGNORE_INDEX, SCENE_QUESTION, encode_example

if TYPE_CHECKING:
    from accelerate import Accelerator

    from .musiscene.model import MusiScene

logger = logging.getLogger(__name__)

STATE_NAME = "training_state.pt"
EVAL_SPLITS = {"test", "eval", "val", "valid", "validation", "heldout", "held-out"}


@dataclass(frozen=True)
class TrainConfig:
    """Every training setting; saved as ``train_config.json`` beside each checkpoint."""

    data: Path
    out_dir: Path
    llama: str = "meta-llama/Llama-2-7b-hf"
    mert: str = "m-a-p/MERT-v1-330M"
    trainable: TrainableMode = "adapter"
    prompt_mode: PromptMode = "compat"
    question: str = SCENE_QUESTION
    answer_field: str = "msi"
    epochs: int = 20
    batch_size: int = 4
    grad_accum: int = 8
    lr: float = 1.25e-4
    min_lr: float = 0.0
    warmup_epochs: float = 1.0
    weight_decay: float = 0.05
    max_grad_norm: float | None = None
    eval_fraction: float = 0.2
    seed: int = 0
    precision: str = "auto"  # "bf16", "fp32" or "auto" (bf16 on a GPU that has it, else fp32)
    max_tokens: int = 512
    query_layers: int = 20
    lora_rank: int = 16
    feature_cache: Path | None = None  # default: OUT/features
    max_clip_seconds: float = 60.0
    resume: bool = False
    init: Path | None = None  # a MusiScene checkpoint (e.g. converted MU-LLaMA) to start from
    stop_after_epochs: int | None = (
        None  # end this run after N epochs (resume later), e.g. for job time limits
    )
    progress: bool = True
    cpu: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", Path(self.data))
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        if self.feature_cache is not None:
            object.__setattr__(self, "feature_cache", Path(self.feature_cache))
        if self.init is not None:
            object.__setattr__(self, "init", Path(self.init))
        if self.trainable not in TRAINABLE_MODES:
            raise ValueError(f"trainable must be one of {TRAINABLE_MODES}, got {self.trainable!r}")
        if self.prompt_mode not in PROMPT_MODES:
            raise ValueError(f"prompt_mode must be one of {PROMPT_MODES}, got {self.prompt_mode!r}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be auto, bf16 or fp32, got {self.precision!r}")
        for name in (
            "epochs",
            "batch_size",
            "grad_accum",
            "max_tokens",
            "query_layers",
            "lora_rank",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.eval_fraction < 1:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")
        if self.lr <= 0 or self.min_lr < 0 or self.min_lr > self.lr:
            raise ValueError(
                f"need 0 <= min_lr <= lr and lr > 0, got lr={self.lr}, min_lr={self.min_lr}"
            )
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs], got {self.warmup_epochs}")
        if self.stop_after_epochs is not None and self.stop_after_epochs < 1:
            raise ValueError("stop_after_epochs must be >= 1")

    def to_json(self) -> dict[str, Any]:
        return {
            k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()
        }


# ------------------------------------------------------------------------------------------ data
@dataclass(frozen=True)
class Record:
    audio: Path
    question: str
    answer: str
    split: str | None = None


def _audio_of(row: dict[str, Any]) -> str | None:
    for key in ("audio", "audio_path", "audio_file", "path"):
        value = row.get(key)
        if isinstance(value, dict):  # a Hugging Face datasets Audio cell
            value = value.get("path")
        if value:
            return str(value)
    return None


def _answers_of(row: dict[str, Any], answer_field: str) -> list[str]:
    """The answers a row holds: one caption, or (e.g. ``human_msi``) a list of descriptions, each
    of which becomes its own training example."""
    if row.get("answer"):
        return [str(row["answer"])]
    for holder in (row.get("captions"), row):
        if isinstance(holder, dict):
            for key in (answer_field, f"{answer_field}_caption", f"caption_{answer_field}"):
                value = holder.get(key)
                if isinstance(value, list):
                    raw = [v.get("text") if isinstance(v, dict) else v for v in value]
                    texts = [str(t) for t in raw if t]
                    if texts:
                        return texts
                elif value:
                    return [str(value)]
    return []


def load_records(
    path: Path, *, question: str = SCENE_QUESTION, answer_field: str = "msi"
) -> list[Record]:
    """Read the JSONL; relative audio paths are relative to the file's folder.

    Rows without an answer of the requested kind (e.g. clips without an MSI caption) are skipped
    and counted in the log; malformed lines raise ``ValueError`` with their line number.
    """
    path = Path(path)
    records: list[Record] = []
    skipped = 0
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object")
            audio = _audio_of(row)
            if audio is None:
                raise ValueError(
                    f"{path}:{number}: no audio path (expected 'audio' or 'audio_path')"
                )
            answers = _answers_of(row, answer_field)
            if not answers:
                skipped += 1
                continue
            audio_path = Path(audio) if Path(audio).is_absolute() else path.parent / audio
            split = row.get("split")
            records.extend(
                Record(
                    audio_path,
                    str(row.get("question") or question),
                    answer.strip(),
                    str(split).lower() if split else None,
                )
                for answer in answers
            )
    if skipped:
        logger.warning(
            "%s: %d rows have no %r answer and were skipped", path, skipped, answer_field
        )
    if not records:
        raise ValueError(f"{path}: no usable rows")
    return records


def split_records(
    records: Sequence[Record], *, eval_fraction: float, seed: int
) -> tuple[list[Record], list[Record]]:
    """The rows' own ``split`` when they have one; otherwise a seeded shuffle cut at 1 -
    eval_fraction."""
    if any(r.split for r in records):
        train = [r for r in records if r.split not in EVAL_SPLITS]
        held = [r for r in records if r.split in EVAL_SPLITS]
        return train, held
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    n_eval = int(round(len(records) * eval_fraction))
    if eval_fraction > 0 and len(records) > 1:
        n_eval = max(1, n_eval)
    return [records[i] for i in order[n_eval:]], [records[i] for i in order[:n_eval]]


@dataclass
class Example:
    feature_index: int
    input_ids: list[int]
    labels: list[int]


def collate(
    examples: Sequence[Example], features: torch.Tensor, *, pad_id: int
) -> dict[str, torch.Tensor]:
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)  # (B, T), right-padded
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    feats = features[[e.feature_index for e in examples]]  # (B, L, Dm)
    return {"input_ids": ids, "labels": labels, "attention_mask": mask, "features": feats}


# ------------------------------------------------------------------------------------ schedule
def lr_factor(step: int, *, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Linear warm-up to 1 over ``warmup_steps``, then half-cosine down to ``min_ratio`` at the
    end."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


# ---------------------------------------------------------------------------------------- model
def _families(adapter: bool, finetune: bool) -> str:
    return {(True, True): "both", (True, False): "adapter", (False, True): "mu-llama-finetune"}.get(
        (adapter, finetune), ""
    )


def build_model(
    config: TrainConfig,
    *,
    adapter: AdapterConfig,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> MusiScene:
    """The model training starts from: fresh (adapter seeded by ``config.seed``), or with
    ``config.init`` every tensor of that checkpoint loaded (e.g. MU-LLaMA converted by
    ``python -m modeling.musiscene.convert``): its adapter, prefix and gates and whatever it tuned
    inside LLaMA (norms, biases, LoRA). ``config.trainable`` says which of them train; the others
    are carried frozen and saved with every checkpoint. The adapter sizes and LoRA rank are the
    init checkpoint's."""
    from safetensors.torch import load_file

    from .musiscene.model import WEIGHTS_NAME, build_musiscene

    carried, init_from, lora_rank = "", "", config.lora_rank
    state = None
    if config.init is not None:
        from .hub import resolve_pretrained

        init_dir = resolve_pretrained(str(config.init), kind="MusiScene checkpoint (--init)")
        init_cfg = MusiSceneConfig.load(init_dir)
        if (init_cfg.adapter.mert_layers, init_cfg.adapter.mert_dim) != (
            adapter.mert_layers,
            adapter.mert_dim,
        ):
            raise ValueError(
                f"--init {config.init} was made for an encoder with {init_cfg.adapter.mert_layers} "
                f"states of width {init_cfg.adapter.mert_dim}; {config.mert} gives "
                f"{adapter.mert_layers} of width {adapter.mert_dim}"
            )
        adapter = init_cfg.adapter
        lora_rank = init_cfg.lora_rank
        trains_a = config.trainable in ("adapter", "both")
        trains_f = config.trainable in ("mu-llama-finetune", "both")
        carried = _families(
            init_cfg.stores_adapter and not trains_a, init_cfg.stores_finetune and not trains_f
        )
        init_from = str(config.init)
        state = load_file(str(init_dir / WEIGHTS_NAME))
        if init_cfg.llama != config.llama:
            logger.warning(
                "--init %s was converted for LLaMA %s; training pairs it with %s (the frozen base "
                "must be the one MU-LLaMA was trained on)",
                config.init,
                init_cfg.llama,
                config.llama,
            )
    model_config = MusiSceneConfig(
        llama=config.llama,
        mert=config.mert,
        adapter=adapter,
        trainable=config.trainable,
        lora_rank=lora_rank,
        prompt_mode=config.prompt_mode,
        max_clip_seconds=config.max_clip_seconds,
        carried=carried,
        init_from=init_from,
    )
    model = build_musiscene(model_config, dtype=dtype, device=device, seed=config.seed)
    if state is not None:
        fresh = model.load_init_state_dict({k: v.to(device) for k, v in state.items()})
        logger.info(
            "initialised %d tensors from %s (trainable: %s, carried frozen: %s); %d keep their "
            "fresh initialisation",
            len(state),
            config.init,
            config.trainable,
            carried or "nothing",
            len(fresh),
        )
    return model


# ------------------------------------------------------------------------------------- training
@dataclass
class TrainResult:
    checkpoint: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    epochs_done: int = 0


def _precision(config: TrainConfig) -> str:
    if config.precision != "auto":
        return config.precision
    ok = torch.cuda.is_available() and not config.cpu and torch.cuda.is_bf16_supported()
    return "bf16" if ok else "fp32"


def train(config: TrainConfig) -> TrainResult:
    """Run (or resume) training as described in the module docstring."""
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    from .musiscene.features import FeatureCache, MertEncoder, encode_files
    from .musiscene.model import adapter_config_for, load_tokenizer

    precision = _precision(config)
    accelerator = Accelerator(
        mixed_precision="bf16" if precision == "bf16" else "no", cpu=config.cpu
    )
    device, main = accelerator.device, accelerator.is_main_process
    out_dir = config.out_dir
    last_dir, best_dir = out_dir / "last", out_dir / "best"
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)

    records = load_records(config.data, question=config.question, answer_field=config.answer_field)
    train_rows, eval_rows = split_records(
        records, eval_fraction=config.eval_fraction, seed=config.seed
    )
    if not train_rows:
        raise ValueError(f"{config.data}: no training rows after the split")

    # 1. frozen encoder, once per clip (the main process fills the cache, the others read it)
    audio_paths = list(dict.fromkeys(r.audio for r in records))
    encoder = MertEncoder(config.mert, device=device, max_seconds=config.max_clip_seconds)
    cache = FeatureCache(
        config.feature_cache or out_dir / "features", encoder_id=encoder.encoder_id
    )
    with accelerator.main_process_first():
        features = encode_files(
            audio_paths,
            encoder=encoder,
            cache=cache,
            progress=tqdm(
                audio_paths, desc="MERT features", disable=not (main and config.progress)
            ),
        )
    n_states, mert_dim = encoder.n_states, encoder.dim
    del encoder
    feature_index = {p: i for i, p in enumerate(audio_paths)}

    # 2. model and tokenised examples
    tokenizer = load_tokenizer(config.llama)
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    from transformers import AutoConfig

    from .hub import resolve_pretrained

    llama_cfg = AutoConfig.from_pretrained(
        resolve_pretrained(config.llama, kind="LLaMA language model"), local_files_only=True
    )
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    model = build_model(
        config,
        adapter=adapter_config_for(
            llama_cfg, mert_layers=n_states, mert_dim=mert_dim, query_layers=config.query_layers
        ),
        dtype=dtype,
        device=device,
    )
    model_config = model.config

    def examples(rows: Sequence[Record]) -> list[Example]:
        out = []
        for r in rows:
            enc = encode_example(
                tokenizer,
                r.question,
                r.answer,
                mode=model_config.prompt_mode,
                max_tokens=config.max_tokens,
            )
            out.append(Example(feature_index[r.audio], enc.input_ids, enc.labels))
        return out

    train_examples, eval_examples = examples(train_rows), examples(eval_rows)

    world, rank = accelerator.num_processes, accelerator.process_index
    micro_per_epoch = math.ceil(math.ceil(len(train_examples) / world) / config.batch_size)
    steps_per_epoch = math.ceil(micro_per_epoch / config.grad_accum)
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = round(config.warmup_epochs * steps_per_epoch)
    optimizer = torch.optim.AdamW(
        _param_groups(model, config.weight_decay), lr=config.lr, betas=(0.9, 0.95)
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: lr_factor(
            s,
            warmup_steps=warmup_steps,
            total_steps=total_steps,
            min_ratio=config.min_lr / config.lr,
        ),
    )

    start_epoch, global_step, best = 0, 0, math.inf
    if config.resume and (last_dir / STATE_NAME).is_file():
        from safetensors.torch import load_file

        from .musiscene.model import WEIGHTS_NAME

        state = torch.load(last_dir / STATE_NAME, map_location="cpu", weights_only=True)
        model.load_trainable_state_dict(load_file(str(last_dir / WEIGHTS_NAME), device=str(device)))
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, global_step, best = (
            state["epoch"],
            state["global_step"],
            state["best_eval_loss"],
        )
        logger.info("resumed from %s at epoch %d, step %d", last_dir, start_epoch, global_step)
    elif config.resume:
        logger.warning("--resume given but %s holds no checkpoint; starting afresh", last_dir)

    model, optimizer = accelerator.prepare(model, optimizer)
    params = [p for p in model.parameters() if p.requires_grad]
    metrics_path = out_dir / "metrics.jsonl"
    history: list[dict[str, Any]] = []
    end_epoch = (
        config.epochs
        if config.stop_after_epochs is None
        else min(config.epochs, start_epoch + config.stop_after_epochs)
    )
    logger.info(
        "training %d examples (%d held out), %d optimizer steps per epoch, epochs %d..%d, %s",
        len(train_examples),
        len(eval_examples),
        steps_per_epoch,
        start_epoch + 1,
        end_epoch,
        precision,
    )

    for epoch in range(start_epoch, end_epoch):
        model.train()
        started = time.perf_counter()
        order = torch.randperm(
            len(train_examples),
            generator=torch.Generator().manual_seed(config.seed * 100_003 + epoch),
        ).tolist()
        shard = order[rank::world]
        micro = [shard[i : i + config.batch_size] for i in range(0, len(shard), config.batch_size)]
        loss_sum, seen = 0.0, 0
        first_step_loss = None
        bar = tqdm(
            total=steps_per_epoch,
            desc=f"epoch {epoch + 1}/{config.epochs}",
            disable=not (main and config.progress),
        )
        for group_start in range(0, len(micro), config.grad_accum):
            group = micro[group_start : group_start + config.grad_accum]
            n_group = sum(len(b) for b in group)
            step_loss = 0.0
            for i, indices in enumerate(group):
                batch = {
                    k: v.to(device)
                    for k, v in collate(
                        [train_examples[j] for j in indices], features, pad_id=pad_id
                    ).items()
                }
                sync = i == len(group) - 1
                ctx = accelerator.no_sync(model) if not sync else contextlib.nullcontext()
                with ctx, accelerator.autocast():
                    loss = model(**batch).loss
                    accelerator.backward(loss * len(indices) / n_group)
                loss_sum += float(loss.detach()) * len(indices)
                step_loss += float(loss.detach()) * len(indices) / n_group
                seen += len(indices)
            if global_step == 0:
                first_step_loss = step_loss  # before any update: the starting model's loss
            if config.max_grad_norm:
                accelerator.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            global_step += 1
            bar.update(1)
            bar.set_postfix(
                loss=f"{loss_sum / max(seen, 1):.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}"
            )
        bar.close()
        elapsed = time.perf_counter() - started
        train_loss = _mean_across(accelerator, loss_sum, seen)
        eval_loss = (
            evaluate(
                model,
                eval_examples,
                features,
                pad_id=pad_id,
                batch_size=config.batch_size,
                accelerator=accelerator,
            )
            if eval_examples
            else None
        )
        entry = {
            "epoch": epoch + 1,
            "step": global_step,
            "train_loss": train_loss,
            "eval_loss": eval_loss,
            "lr": scheduler.get_last_lr()[0],
            "samples_per_s": seen * world / elapsed,
            "epoch_s": elapsed,
        }
        if first_step_loss is not None:
            entry["first_step_loss"] = first_step_loss
        history.append(entry)
        improved = eval_loss is not None and eval_loss < best
        best = min(best, eval_loss) if eval_loss is not None else best
        if main:
            unwrapped = accelerator.unwrap_model(model)
            _save(
                unwrapped,
                last_dir,
                config=config,
                optimizer=optimizer,
                scheduler=scheduler,
                epoch=epoch + 1,
                global_step=global_step,
                best=best,
            )
            if improved:
                unwrapped.save_checkpoint(best_dir)
                (best_dir / "train_config.json").write_text(
                    json.dumps(config.to_json(), indent=2) + "\n"
                )
            with metrics_path.open("a") as f:
                f.write(json.dumps(entry) + "\n")
            logger.info("epoch %d: train loss %.4f, eval loss %s", epoch + 1, train_loss, eval_loss)
        accelerator.wait_for_everyone()
    return TrainResult(checkpoint=last_dir, history=history, epochs_done=end_epoch)


def _mean_across(accelerator: Accelerator, total: float, count: int) -> float:
    t = torch.tensor([total, float(count)], device=accelerator.device)
    t = accelerator.reduce(t, reduction="sum") if accelerator.num_processes > 1 else t
    return float(t[0] / t[1].clamp(min=1))


@torch.no_grad()
def evaluate(
    model: MusiScene,
    examples: Sequence[Example],
    features: torch.Tensor,
    *,
    pad_id: int,
    batch_size: int,
    accelerator: Accelerator,
) -> float:
    """Mean loss per answer token over the held-out examples (all processes together)."""
    model.eval()
    world, rank = accelerator.num_processes, accelerator.process_index
    mine = list(range(len(examples)))[rank::world]
    total, tokens = 0.0, 0
    for i in range(0, len(mine), batch_size):
        batch = {
            k: v.to(accelerator.device)
            for k, v in collate(
                [examples[j] for j in mine[i : i + batch_size]], features, pad_id=pad_id
            ).items()
        }
        with accelerator.autocast():
            loss = model(**batch).loss
        n = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
        total += float(loss) * n
        tokens += n
    model.train()
    return _mean_across(accelerator, total, tokens)


def _save(
    model: MusiScene,
    directory: Path,
    *,
    config: TrainConfig,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    epoch: int,
    global_step: int,
    best: float,
) -> None:
    tmp = directory.with_name(directory.name + ".tmp")
    model.save_checkpoint(tmp)
    (tmp / "train_config.json").write_text(json.dumps(config.to_json(), indent=2) + "\n")
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch,
            "global_step": global_step,
            "best_eval_loss": best,
        },
        tmp / STATE_NAME,
    )
    if directory.exists():
        import shutil

        shutil.rmtree(directory)
    tmp.rename(directory)  # a crash mid-save leaves the previous checkpoint whole


# ------------------------------------------------------------------------------------------ CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m modeling.train_musiscene",
        description="Train MusiScene (MERT -> music adapter -> frozen LLaMA).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,  # every option shows its default
    )
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    p.add_argument(
        "--data", type=Path, required=True, help="JSONL of {audio, question, answer} or VACAD rows"
    )
    p.add_argument(
        "--out",
        dest="out_dir",
        type=Path,
        required=True,
        help="output folder (checkpoints, metrics)",
    )
    p.add_argument("--llama", default=defaults["llama"], help="LLaMA id or folder (local only)")
    p.add_argument("--mert", default=defaults["mert"], help="MERT id or folder (local only)")
    p.add_argument(
        "--trainable",
        choices=TRAINABLE_MODES,
        default=defaults["trainable"],
        help="what trains: the paper's adapter, MU-LLaMA's finetune (norms, biases, LoRA), or both",
    )
    p.add_argument(
        "--prompt-mode",
        choices=PROMPT_MODES,
        default=defaults["prompt_mode"],
        help="how the question is put to LLaMA",
    )
    p.add_argument("--question", default=defaults["question"], help="question for rows without one")
    p.add_argument(
        "--answer-field",
        default=defaults["answer_field"],
        help="VACAD caption kind used as the answer",
    )
    for name, typ in (
        ("epochs", int),
        ("batch_size", int),
        ("grad_accum", int),
        ("lr", float),
        ("min_lr", float),
        ("warmup_epochs", float),
        ("weight_decay", float),
        ("max_grad_norm", float),
        ("eval_fraction", float),
        ("seed", int),
        ("max_tokens", int),
        ("query_layers", int),
        ("lora_rank", int),
        ("max_clip_seconds", float),
        ("stop_after_epochs", int),
    ):
        p.add_argument(
            "--" + name.replace("_", "-"),
            type=typ,
            default=defaults[name],
            help="TrainConfig field",
        )
    p.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default=defaults["precision"],
        help="auto: bf16 on a GPU that has it, else fp32",
    )
    p.add_argument(
        "--feature-cache",
        type=Path,
        default=None,
        help="feature cache folder (default OUT/features)",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/last")
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this MusiScene checkpoint, e.g. MU-LLaMA converted by "
        "python -m modeling.musiscene.convert (its adapter, gates and tuned LLaMA tensors; "
        "--trainable says which train, the rest stay frozen)",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.add_argument(
        "--cpu", action="store_true", help="train on the CPU even where a GPU is present"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    result = train(TrainConfig(**vars(args)))
    print(
        json.dumps(
            {
                "checkpoint": str(result.checkpoint),
                "epochs_done": result.epochs_done,
                "last": result.history[-1] if result.history else None,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
