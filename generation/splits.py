"""The stored train/test split (the paper's 80/20): drawn once, read by everything after.

The VACAD export writes each row's part from it (so the trainer trains on ``train`` rows only),
predicted MSI is written for its ``test`` clips (``caption_clips --split NAME``), and the caption
evaluation scores only those held-out clips (``evaluate_captions --split NAME``). A clip never
changes part; clips added later join when the split is extended, keeping the fraction.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from generation.models import Clip, DatasetSplit, SplitMember

DEFAULT_SPLIT = "vacad"


@transaction.atomic
def split_ensure(
    *,
    name: str = DEFAULT_SPLIT,
    clips: Iterable[Clip] | None = None,
    train_fraction: float = 0.8,
    seed: int = 0,
) -> DatasetSplit:
    """The split ``name``, made (or extended) so that every clip of ``clips`` (default: every
    clip) has a part. New clips are shuffled with ``seed`` and as many go to train as keep the
    split's train share at ``round(n * train_fraction)``; members never move. An existing split
    with another fraction or seed is an error (its parts would not be the ones asked for)."""
    if not 0 < train_fraction <= 1:
        raise ValidationError(f"the train fraction must be in (0, 1], got {train_fraction}")
    split, created = DatasetSplit.objects.select_for_update().get_or_create(
        name=name, defaults={"train_fraction": train_fraction, "seed": seed}
    )
    if not created and (split.train_fraction, split.seed) != (train_fraction, seed):
        raise ValidationError(
            f"split {name!r} was drawn with train fraction {split.train_fraction:g} and seed "
            f"{split.seed}, not {train_fraction:g} and {seed}: use those, or another split name"
        )
    pool = list(
        (
            Clip.objects.all()
            if clips is None
            else Clip.objects.filter(pk__in=[c.pk for c in clips])
        ).order_by("key")
    )
    have = dict(split.members.values_list("clip_id", "part"))
    new = [c for c in pool if c.pk not in have]
    if new:
        total = len(have) + len(new)
        n_train = round(total * train_fraction)
        if train_fraction < 1 and total > 1:
            n_train = min(n_train, total - 1)  # at least one clip held out
        need = max(0, n_train - sum(p == SplitMember.Part.TRAIN for p in have.values()))
        # the first draw: clips in key order shuffled by ``seed`` (what earlier exports drew);
        # an extension: the new clips shuffled by the seed and the split's size
        order = list(range(len(new)))
        random.Random(seed if not have else f"{seed}:{len(have)}").shuffle(order)
        train = set(order[:need])
        SplitMember.objects.bulk_create(
            [
                SplitMember(
                    split=split,
                    clip=clip,
                    part=SplitMember.Part.TRAIN if i in train else SplitMember.Part.TEST,
                )
                for i, clip in enumerate(new)
            ]
        )
    return split


def split_get(name: str) -> DatasetSplit:
    split = DatasetSplit.objects.filter(name=name).first()
    if split is None:
        known = ", ".join(DatasetSplit.objects.values_list("name", flat=True)) or "none yet"
        raise ValidationError(
            f"no stored split {name!r} (known: {known}); export_vacad --split-name {name} draws it"
        )
    return split


def split_clips(split: DatasetSplit | str, part: str) -> QuerySet[Clip]:
    """The clips of ``part`` (``train`` or ``test``) of a stored split."""
    split = split_get(split) if isinstance(split, str) else split
    if part not in SplitMember.Part.values:
        raise ValidationError(f"part must be train or test, got {part!r}")
    return Clip.objects.filter(
        split_memberships__split=split, split_memberships__part=part
    ).order_by("key")


def split_parts(split: DatasetSplit) -> dict[int, str]:
    """clip id -> part."""
    return dict(split.members.values_list("clip_id", "part"))
