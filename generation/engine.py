"""The background-job engine: one claim, heartbeat and reclaim mechanism for every kind of job.

One file because the claim, the heartbeat, the reclaim, the watchdog and the dispatch to Celery
or the embedded thread all work on the same job and item columns under one set of settings;
apart, each part would restate them.

A job (a :class:`JobBase` row) is made of items (:class:`ItemBase` rows), each a unit of work.
A worker takes items with :func:`items_claim`: one conditional ``UPDATE ... WHERE status=...``
(healthchecks' ``sendalerts`` way), so a row another worker took no longer matches and two
workers never hold one item, on PostgreSQL and on SQLite alike. While it works, :func:`beat`
touches the items' ``heartbeat_at`` from a thread; the job's watchdog (:func:`job_watch_start`,
then a Celery task every :meth:`JobKind.watch_interval_s`) hands back claims whose heartbeat
stopped (:func:`items_reclaim_stale`), and an item lost ``GENERATION_MAX_RECLAIMS`` times fails.

What a kind of job makes, and in which order, is its own module's business: generation jobs in
``generation.jobs``, caption jobs in ``generation.captioning``; each describes itself to the
engine with a :class:`JobKind`. Celery tasks are enqueued by their registered name
(:func:`task`), so neither the engine nor those modules import ``generation.tasks``: the tasks
import them, never the reverse (an import-linter contract in ``pyproject.toml``).

Settings read here (all optional): ``GENERATION_CLAIM_TIMEOUT_S`` (300; a kind may name its own
setting, e.g. ``CAPTION_CLAIM_TIMEOUT_S``, which wins when set), ``GENERATION_HEARTBEAT_S`` (30,
at most a third of the timeout), ``GENERATION_MAX_RECLAIMS`` (3), ``JOBS_EMBEDDED``
("background": without a broker, batch work runs on one background thread of the serving
process, see :func:`enqueue`; "inline": it runs eagerly inside the call that enqueues it).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, connection, models, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from generation.background import Background

logger = logging.getLogger(__name__)

#: Errors worth a retry with backoff: the database or the broker went away for a moment.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
    BrokerError,
)


# --------------------------------------------------------------------------------------------
# The columns every job and item has
# --------------------------------------------------------------------------------------------


class JobBase(models.Model):
    """What every job has: its state, why it failed, its watchdog chain and its times."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    label = models.CharField(
        max_length=200, blank=True, help_text="What it was made for, e.g. 'study pilot'."
    )
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    error = models.TextField(
        blank=True, help_text="Why the whole job failed (e.g. a model is missing)."
    )
    watch_token = models.CharField(
        max_length=40,
        blank=True,
        editable=False,
        help_text="The live watchdog chain of this job (stale claims are reclaimed by it).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]


class ItemBase(models.Model):
    """What every item has: its state, who holds its claim since when, the holder's last sign
    of life, how often it was taken back, why it failed and when it finished.

    A kind declares its ``job`` foreign key, and may declare ``status`` again with states of its
    own between ``claimed`` and ``done`` (generation's ``generated`` and ``ingesting``).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CLAIMED = "claimed", "Claimed"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    claim_token = models.CharField(
        max_length=64, blank=True, help_text="Who holds the claim (a task id)."
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of the claim holder."
    )
    reclaims = models.PositiveIntegerField(
        default=0, help_text="Claims taken back from a lost or stuck worker."
    )
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["job", "id"]


PENDING, CLAIMED, DONE, FAILED = "pending", "claimed", "done", "failed"


# --------------------------------------------------------------------------------------------
# A kind of job and its settings
# --------------------------------------------------------------------------------------------


def setting(name: str, default: Any) -> Any:
    """A job setting (``studyserver/settings.py`` reads each from the environment)."""
    return getattr(settings, name, default)


def device(*names: str) -> Any:
    """The torch device named by the first of the settings ``names`` that is set, else cuda when
    there is one, else the CPU."""
    import torch

    named = next((setting(name, "") for name in names if setting(name, "")), "")
    return torch.device(named or ("cuda" if torch.cuda.is_available() else "cpu"))


@dataclass(frozen=True)
class JobKind:
    """How one kind of job meets the engine."""

    #: What a job is called in messages and logs ("job", "caption job").
    name: str
    job_model: type[Any]
    item_model: type[Any]
    #: Item states a worker still owes work on.
    unfinished: tuple[str, ...]
    #: Each state a claim holder keeps alive with heartbeats -> the state its item goes back to
    #: when the holder is lost.
    handed_back: Mapping[str, str]
    #: The Celery task (registered name) of one watchdog round: ``(job_id, token)``.
    watch_task: str
    #: This kind's own claim-timeout setting, if any (0 or unset: ``GENERATION_CLAIM_TIMEOUT_S``).
    timeout_setting: str = ""
    #: Item fields emptied when an item fails (e.g. staged audio).
    cleared_on_fail: Mapping[str, Any] = field(default_factory=dict)

    def claim_timeout_s(self) -> float:
        """Seconds without a heartbeat after which a claim is taken back."""
        own = setting(self.timeout_setting, 0) if self.timeout_setting else 0
        return float(own or setting("GENERATION_CLAIM_TIMEOUT_S", 300))

    def heartbeat_s(self) -> float:
        """Seconds between heartbeats of a claim holder (at most a third of the timeout)."""
        return min(float(setting("GENERATION_HEARTBEAT_S", 30)), self.claim_timeout_s() / 3)

    def watch_interval_s(self) -> float:
        """Seconds between two rounds of a job's watchdog."""
        return max(1.0, min(60.0, self.claim_timeout_s() / 2))


def task(name: str) -> Any:
    """The Celery task registered as ``name`` (``generation.tasks`` registers its tasks when the
    app is ready). Looked up by name so that no engine module imports the tasks module."""
    from celery import current_app

    return current_app.tasks[name]


# --------------------------------------------------------------------------------------------
# Enqueueing batch work: a broker's queue, or the embedded default's background thread
# --------------------------------------------------------------------------------------------


def runs_in_background() -> bool:
    """Whether batch work runs on this process's background thread: no broker is configured (so
    Celery runs tasks eagerly) and ``JOBS_EMBEDDED`` is "background" (the default)."""
    from celery import current_app

    return bool(current_app.conf.task_always_eager) and (
        setting("JOBS_EMBEDDED", "background") == "background"
    )


#: This process's background thread (``inside()``, ``holds((kind.name, job_id))``, ``wait(s)``).
background = Background(lambda name, args: task(name).apply(args, throw=True))


def send(celery_task: Any, args: tuple[Any, ...], **options: Any) -> Any:
    """``celery_task.apply_async(args, **options)``, except that without a broker the task runs
    here with ``apply``: Celery's eager ``apply_async`` still takes a producer from the broker's
    pool, and kombu then warns "No hostname was supplied" on every new process."""
    from celery import current_app

    if current_app.conf.task_always_eager:
        return celery_task.apply(args)  # throws as apply_async would (task_eager_propagates)
    return celery_task.apply_async(args, **options)


def enqueue(
    name: str, args: tuple[Any, ...], *, kind: JobKind, job_id: int, **options: Any
) -> None:
    """Enqueue the batch task registered as ``name`` once the transaction commits: on this
    process's background thread when :func:`runs_in_background`, else with ``apply_async``
    (``options`` such as the queue): a broker's workers, or at once here when
    ``JOBS_EMBEDDED`` is "inline" (:func:`send`)."""
    if runs_in_background():
        job = (kind.name, job_id)
        transaction.on_commit(lambda: background.submit(job, name, args))
        return
    batch = task(name)
    transaction.on_commit(lambda: send(batch, args, **options))


def heartbeat_wanted(request: Any) -> bool:
    """Whether a task keeps heartbeats on its claims: on a worker, and on the background thread
    (another request may look for stale claims meanwhile); not when run eagerly inline."""
    return not request.is_eager or background.inside()


def resumable(*, kind: JobKind, job: Any) -> bool:
    """Whether a running ``job`` should be picked up again by this process: batch work runs in
    the background here and none of the job's is queued or running in this process (a server
    that stopped mid-job, a reload). Its kind then reclaims stale claims and enqueues what is
    left; a duplicate finds its items claimed and does nothing."""
    return (
        job.status == JobBase.Status.RUNNING
        and runs_in_background()
        and not background.holds((kind.name, job.pk))
    )


# --------------------------------------------------------------------------------------------
# Claims, heartbeats, failures
# --------------------------------------------------------------------------------------------


def items_claim(
    *,
    kind: JobKind,
    item_ids: Iterable[int],
    token: str,
    source: str = PENDING,
    target: str = CLAIMED,
    related: Sequence[str] = (),
) -> list[Any]:
    """Atomically take the items of ``item_ids`` that are in ``source`` (or already in ``target``
    under this very token: a retried task) and return them, ``related`` joined. A duplicate
    delivery, or a second worker, claims nothing."""
    ids = list(item_ids)
    now = timezone.now()
    Item = kind.item_model
    Item.objects.filter(pk__in=ids).filter(
        Q(status=source) | Q(status=target, claim_token=token)
    ).update(status=target, claim_token=token, claimed_at=now, heartbeat_at=now)
    return list(
        Item.objects.filter(pk__in=ids, status=target, claim_token=token)
        .select_related(*related)
        .order_by("id")
    )


def items_held(*, kind: JobKind, item_ids: Iterable[int], token: str, status: str) -> QuerySet:
    """The items of ``item_ids`` that ``token`` holds in ``status``."""
    return kind.item_model.objects.filter(pk__in=list(item_ids), claim_token=token, status=status)


@contextmanager
def beat(rows: Callable[[], QuerySet], *, every_s: float | None) -> Iterator[None]:
    """Touch ``heartbeat_at`` of ``rows()`` every ``every_s`` seconds from a thread while the
    block runs (models and encoders release the GIL), so that long work is not taken for a dead
    worker's. None: no heartbeat (eager runs, where no other worker could take the rows)."""
    if not every_s:
        yield
        return
    stop = threading.Event()

    def run() -> None:
        try:
            while not stop.wait(every_s):
                try:
                    rows().update(heartbeat_at=timezone.now())
                except Exception:  # noqa: BLE001 - a missed beat is retried at the next one
                    logger.warning("a heartbeat failed", exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=run, name="engine-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def error_message(exc: BaseException) -> str:
    """How an unexpected error reads on a failed item: its type and message."""
    return f"{type(exc).__name__}: {exc}"


@dataclass
class Work:
    """What :func:`items_work` says of its block: whether it failed, and if the job with it."""

    failed: bool = False
    job_failed: bool = False


@contextmanager
def items_work(
    *,
    kind: JobKind,
    job_id: int,
    item_ids: Sequence[int],
    token: str,
    status: str,
    heartbeat: bool,
    message: Callable[[Exception], str] = error_message,
) -> Iterator[Work]:
    """Run the block on the items of ``item_ids`` that ``token`` holds in ``status``, with
    heartbeats when ``heartbeat`` (a worker; an eager run needs none) and one policy for what
    goes wrong: transient database and broker errors propagate, for the task to retry; a missing
    model (``modeling.hub.ModelNotFoundError``) fails the whole job with its message; any other
    error fails the items with ``message(error)``. Then ``work.failed`` is true and the rest of
    the block did not run."""
    from modeling.hub import ModelNotFoundError

    work = Work()
    ids = list(item_ids)
    try:
        with beat(
            lambda: items_held(kind=kind, item_ids=ids, token=token, status=status),
            every_s=kind.heartbeat_s() if heartbeat else None,
        ):
            yield work
    except TRANSIENT_ERRORS:
        raise
    except ModelNotFoundError as exc:
        job_fail(kind=kind, job_id=job_id, message=str(exc))
        work.failed = work.job_failed = True
    except Exception as exc:  # noqa: BLE001 - bad input or a broken model: the items say why
        logger.exception("%s %s: the work on %d items failed", kind.name, job_id, len(ids))
        for item_id in ids:
            item_fail(kind=kind, item_id=item_id, token=token, message=message(exc))
        work.failed = True


def item_advance(
    *, kind: JobKind, item_id: int, token: str, source: str, target: str, **values: Any
) -> bool:
    """Move an item that ``token`` holds in ``source`` to ``target``, setting ``values``. False
    when the claim was taken back meanwhile (the new holder makes it)."""
    if target in (DONE, FAILED):
        values.setdefault("finished_at", timezone.now())
    return bool(
        kind.item_model.objects.filter(pk=item_id, status=source, claim_token=token).update(
            status=target, **values
        )
    )


def item_fail(*, kind: JobKind, item_id: int, token: str, message: str) -> bool:
    """Fail an unfinished item that ``token`` holds, keeping ``message``. False when another
    holder has it or it is finished."""
    return bool(
        kind.item_model.objects.filter(
            pk=item_id, status__in=kind.unfinished, claim_token=token
        ).update(
            status=FAILED, error=message[:2000], finished_at=timezone.now(), **kind.cleared_on_fail
        )
    )


# --------------------------------------------------------------------------------------------
# Jobs: start, fail, finish
# --------------------------------------------------------------------------------------------


def job_begin(*, kind: JobKind, job_id: int, **values: Any) -> None:
    """Mark a pending job running (one conditional ``UPDATE``, so a job starts once), setting
    ``values``; ``ValidationError`` when it was started already."""
    n = kind.job_model.objects.filter(pk=job_id, status=JobBase.Status.PENDING).update(
        status=JobBase.Status.RUNNING, started_at=timezone.now(), **values
    )
    if not n:
        raise ValidationError(f"{kind.name} {job_id} was started already")


def job_fail(*, kind: JobKind, job_id: int, message: str) -> None:
    """Fail the whole job (e.g. its model is missing): it and its unfinished items keep
    ``message``."""
    now = timezone.now()
    with transaction.atomic():
        kind.job_model.objects.filter(pk=job_id).exclude(status=JobBase.Status.FAILED).update(
            status=JobBase.Status.FAILED, error=message, finished_at=now
        )
        kind.item_model.objects.filter(job_id=job_id, status__in=kind.unfinished).update(
            status=FAILED, error=message[:2000], finished_at=now, **kind.cleared_on_fail
        )
    logger.warning("%s %s failed: %s", kind.name, job_id, message)


def job_finish_if_done(*, kind: JobKind, job_id: int) -> None:
    """Mark a running job done once no item is left to work on."""
    if not kind.item_model.objects.filter(job_id=job_id, status__in=kind.unfinished).exists():
        kind.job_model.objects.filter(pk=job_id, status=JobBase.Status.RUNNING).update(
            status=JobBase.Status.DONE, finished_at=timezone.now()
        )


# --------------------------------------------------------------------------------------------
# Lost workers: stale claims and the watchdog
# --------------------------------------------------------------------------------------------


@dataclass
class Reclaimed:
    """What :func:`items_reclaim_stale` did: how many claims were stale, and the ids handed back
    by the state they went back to (an item lost too often fails instead)."""

    stale: int = 0
    back: dict[str, list[int]] = field(default_factory=dict)


def items_reclaim_stale(*, kind: JobKind, job: Any, now: datetime | None = None) -> Reclaimed:
    """Hand back the claims of ``job`` whose holder has given no sign of life for the claim
    timeout, each to its ``handed_back`` state; an item lost ``GENERATION_MAX_RECLAIMS`` times
    fails. Each item moves with its own conditional ``UPDATE`` (a holder that beats meanwhile
    keeps it). The caller enqueues the handed-back work again."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=kind.claim_timeout_s())
    max_reclaims = int(setting("GENERATION_MAX_RECLAIMS", 3))
    Item = kind.item_model
    stale = list(
        Item.objects.filter(
            job=job, status__in=list(kind.handed_back), heartbeat_at__lt=cutoff
        ).values_list("id", "status", "claim_token", "reclaims")
    )
    out = Reclaimed(stale=len(stale))
    for item_id, status, token, reclaims in stale:
        mine = Item.objects.filter(
            pk=item_id, status=status, claim_token=token, heartbeat_at__lt=cutoff
        )
        if reclaims + 1 >= max_reclaims:
            mine.update(
                status=FAILED,
                finished_at=now,
                reclaims=F("reclaims") + 1,
                error=f"its worker was lost {reclaims + 1} times (killed, out of memory or stuck)",
                **kind.cleared_on_fail,
            )
            continue
        back = kind.handed_back[status]
        if mine.update(status=back, claim_token="", reclaims=F("reclaims") + 1):
            out.back.setdefault(back, []).append(item_id)
    if stale:
        logger.warning(
            "%s %s: took back %d stale claims (%s)",
            kind.name,
            job.pk,
            len(stale),
            ", ".join(f"{len(ids)} to {state}" for state, ids in out.back.items()) or "none left",
        )
    return out


def job_watch_start(*, kind: JobKind, job: Any) -> str:
    """Start (or restart) the watchdog chain of ``job`` after commit: a new token ends any older
    chain."""
    token = uuid.uuid4().hex
    kind.job_model.objects.filter(pk=job.pk).update(watch_token=token)
    watch = task(kind.watch_task)
    transaction.on_commit(
        lambda: watch.apply_async((job.pk, token), countdown=kind.watch_interval_s())
    )
    return token


def job_watch(*, kind: JobKind, job_id: int, token: str, work: Callable[[Any], None]) -> bool:
    """One round of a job's watchdog: ``work(job)`` if the job runs and ``token`` is still its
    chain. Returns whether the chain goes on."""
    live = kind.job_model.objects.filter(
        pk=job_id, status=JobBase.Status.RUNNING, watch_token=token
    )
    job = live.first()
    if job is None:
        return False
    work(job)
    return live.exists()


def jobs_watch_resume(*, kind: JobKind) -> int:
    """Restart the watchdogs of all running jobs of ``kind`` (a starting worker may replace a
    dead one that held them). Returns how many."""
    jobs = list(kind.job_model.objects.filter(status=JobBase.Status.RUNNING))
    for job in jobs:
        job_watch_start(kind=kind, job=job)
    return len(jobs)


# --------------------------------------------------------------------------------------------
# Models kept per worker process
# --------------------------------------------------------------------------------------------


class ModelCache:
    """Loaded models kept for the life of a worker process, so that a worker loads a model once
    and reuses it for every batch: at most ``keep()`` of them, the least recently used going
    first (and a GPU's cached memory with it)."""

    def __init__(self, keep: Callable[[], int]) -> None:
        self._keep = keep
        self._models: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        """The model under ``key``, loaded with ``load()`` if it is not kept yet."""
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            limit = max(1, self._keep())
            while len(self._models) >= limit:
                self._models.popitem(last=False)
                _free_gpu_cache()
            self._models[key] = load()
            return self._models[key]

    def clear(self) -> None:
        with self._lock:
            self._models.clear()


def _free_gpu_cache() -> None:
    try:
        import torch
    except ImportError:  # pragma: no cover - the workers have torch
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


def job_progress(
    *,
    kind: JobKind,
    job_id: int,
    busy: Mapping[str, Sequence[str]],
    describe: Mapping[str, str],
) -> dict[str, Any]:
    """A job's status, error and item counts (JSON-serialisable): ``total``, ``done``,
    ``failed``, one count per name of ``busy`` (items in those states), ``pending`` (the rest),
    ``percent`` finished, whether the job has ``finished``, and its first 50 ``errors``, each with
    the item values ``describe`` names (output key -> lookup)."""
    items = kind.item_model.objects.filter(job_id=job_id)
    counts = items.aggregate(
        total=Count("id"),
        done=Count("id", filter=Q(status=DONE)),
        failed=Count("id", filter=Q(status=FAILED)),
        **{name: Count("id", filter=Q(status__in=states)) for name, states in busy.items()},
    )
    status, error = kind.job_model.objects.filter(pk=job_id).values_list("status", "error").get()
    finished = counts["done"] + counts["failed"]
    errors = [
        {key: row[lookup] for key, lookup in describe.items()} | {"error": row["error"]}
        for row in items.filter(status=FAILED)
        .values(*describe.values(), "error")
        .order_by("id")[:50]
    ]
    return {
        "id": job_id,
        "status": status,
        "error": error,
        **counts,
        "pending": counts["total"] - finished - sum(counts[name] for name in busy),
        "finished": status in (JobBase.Status.DONE, JobBase.Status.FAILED),
        "percent": round(100.0 * finished / counts["total"], 1) if counts["total"] else 100.0,
        "errors": errors,
    }
