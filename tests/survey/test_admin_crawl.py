"""The admin crawler: every registered model admin and every custom admin view, with studies in
each state (draft, live and closed; with and without participants), as a superuser and as a
researcher (``create_researcher``, not a superuser).

For each admin: the changelist, the add page, each object's change, history and delete pages,
every action posted with the objects selected (its intermediate page or its redirect, followed),
and every custom URL of ``get_urls`` with each object's id. New admins and new admin views are
found from ``admin.site._registry`` and are crawled without changing this file.

Nothing may answer a 5xx. A researcher gets 403 where the role has no right (a model without
its view permission, adding or deleting what the role may not), and "not found" (404, or the
admin's redirect for an object outside its queryset) for another researcher's study; the other
study's name never appears on a page the researcher is shown. All failures are collected and
reported together. One database set-up serves the whole crawl.
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass, field

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test import Client, RequestFactory
from django.urls import NoReverseMatch, URLPattern, reverse

from generation.models import (
    Caption,
    CaptionItem,
    CaptionJob,
    GenerationItem,
    GenerationJob,
)
from survey import participation, services
from survey.models import Annotation, Form, Participant, Study

FOREIGN = "zz-foreign-secret"  # the slug (and title) of the study the researcher is not on
PASSWORD = "a-long-researcher-passphrase-17"
PER_MODEL = 12  # objects crawled per model and role (the cast below stays under it for most)
STANDARD = {"changelist", "add", "history", "delete", "change", "autocomplete"}


def _study(slug, conditions, *, kind="rating"):
    study = Study.objects.create(title=f"{slug} study", slug=slug)
    if kind == "rating":
        form = services.form_create(
            study=study,
            name="f1",
            n_videos=2,
            conditions=[conditions["video_caps"], conditions["msi"]],
        )
    else:
        form = services.form_create(
            study=study, name="describe", n_videos=2, kind="annotation", annotators_per_clip=2
        )
    services.form_sample_trials(form=form, seed=3)
    return study


def _people(study):
    """Participants in every state: completed (simulated), active mid-way, declined, abandoned,
    screened out."""
    from survey.simulation import simulate_participants

    simulate_participants(study, 2, seed=1)
    participation.participant_start(study=study, prolific_pid=f"active-{study.slug}")
    participation.participant_decline(study=study, prolific_pid=f"declined-{study.slug}")
    gone, _ = participation.participant_start(study=study, prolific_pid=f"gone-{study.slug}")
    gone.status = Participant.Status.ABANDONED
    gone.save(update_fields=["status"])
    out, _ = participation.participant_start(study=study, prolific_pid=f"out-{study.slug}")
    out.status, out.screened_out_reason = Participant.Status.SCREENED_OUT, "headphone"
    out.save(update_fields=["status", "screened_out_reason"])


@pytest.fixture
def cast(small_study, conditions, charlie, django_capture_on_commit_callbacks):
    """Every state at once. ``small`` is a draft without participants; the researcher is on all
    studies but the foreign one."""
    live_empty = _study("live-empty", conditions)
    live_full = _study("live-full", conditions)
    closed = _study("closed-full", conditions)
    foreign = _study(FOREIGN, conditions)
    annotation = _study("annotation-live", conditions, kind="annotation")
    for s in (live_empty, live_full, closed, foreign, annotation):
        services.study_go_live(study=s)
        s.refresh_from_db()
    for s in (live_full, closed, foreign):
        _people(s)
    p, _ = participation.participant_start(study=annotation, prolific_pid="annotator")
    trial = annotation.forms.get().trials.first()
    Annotation.objects.create(
        participant=p, trial=trial, text="a quiet harbour at dawn", submission_id=uuid.uuid4()
    )
    services.study_close(study=closed)
    # jobs: a finished generation job with a failed item, a caption job
    clip = trial.clip
    job = GenerationJob.objects.create(
        label="crawl", generator="sketch", loudness_target_lufs=-23, created_by=charlie
    )
    GenerationItem.objects.create(
        job=job,
        clip=clip,
        condition=conditions["fusion"],
        status=GenerationItem.Status.FAILED,
        error="model not found",
    )
    cjob = CaptionJob.objects.create(label="crawl", kinds=["video"], created_by=charlie)
    CaptionItem.objects.create(
        job=cjob, clip=clip, kind="video", status=CaptionItem.Status.FAILED, error="no model"
    )
    caption = Caption.objects.filter(clip=clip).first()
    from generation import services as gservices

    gservices.caption_edit(caption, text="an edited caption", status=None, user=charlie)
    call_command(
        "create_researcher",
        "rita",
        "--password",
        PASSWORD,
        *[
            a
            for s in ("small", "live-empty", "live-full", "closed-full", "annotation-live")
            for a in ("--study", s)
        ],
        stdout=io.StringIO(),
    )
    rita = get_user_model().objects.get(username="rita")
    GenerationJob.objects.create(
        label="rita's", generator="sketch", loudness_target_lufs=-23, created_by=rita
    )
    return {"superuser": charlie, "researcher": rita}


@dataclass
class Crawl:
    role: str
    user: object
    client: Client
    failures: list[str] = field(default_factory=list)
    seen: int = 0
    queried: set = field(default_factory=set)
    done_before: set = field(default_factory=set)  # custom views crawled in full by a role before

    def request(self):
        req = RequestFactory().get("/admin/")
        req.user = self.user
        return req

    def get(self, url, expect, what):
        resp = self.client.get(url)
        self.check(resp, url, expect, what)
        return resp

    def check(self, resp, url, expect, what):
        self.seen += 1
        code = resp.status_code
        if code >= 500:
            self.failures.append(f"[{self.role}] {what} {url}: {code} (server error)")
        elif code not in expect:
            self.failures.append(f"[{self.role}] {what} {url}: {code}, expected one of {expect}")
        elif self.role == "researcher" and code == 200 and "html" in resp.get("Content-Type", ""):
            if FOREIGN in resp.content.decode(errors="replace"):
                self.failures.append(f"[{self.role}] {what} {url}: shows the foreign study")


def _all(model, limit=PER_MODEL):
    return list(model._default_manager.order_by("pk")[:limit])


def _custom_urls(model_admin):
    """The admin's own URLs (``get_urls`` beyond the standard ones), with their parameters."""
    out = []
    opts = model_admin.model._meta
    for pattern in model_admin.get_urls():
        if not isinstance(pattern, URLPattern) or not pattern.name:
            continue
        suffix = pattern.name.removeprefix(f"{opts.app_label}_{opts.model_name}_")
        if suffix in STANDARD:
            continue
        params = re.findall(r"<(?:\w+:)?(\w+)>", str(pattern.pattern))
        out.append((pattern.name, params))
    return out


def _objects_for(param, model_admin):
    """Objects whose pk fills ``param``: ``pk`` is the admin's model, ``trial_pk`` a Trial ..."""
    from django.apps import apps

    if param in ("pk", "object_id", "id"):
        return _all(model_admin.model)
    name = param.removesuffix("_pk").removesuffix("_id")
    for model in apps.get_models():
        if model._meta.model_name == name:
            return _all(model)
    raise AssertionError(f"the crawler cannot fill <{param}> of {model_admin}: teach it")


#: Extra query strings worth answering for some custom views (the bare URL is always crawled).
QUERIES = {
    "survey_study_export": [
        f"?table={t}&format={f}"
        for t in ("ratings", "participants", "nope")
        for f in ("csv", "json", "parquet", "xml")
    ],
}


def _crawl_model(c: Crawl, model, model_admin):
    opts = model._meta
    base = f"admin:{opts.app_label}_{opts.model_name}"
    req = c.request()
    can_view = model_admin.has_view_or_change_permission(req)
    denied = (403,)
    # (objects, not values_list: a proxy such as the token admin's names objects by its own pk)
    visible = {o.pk for o in model_admin.get_queryset(req)} if can_view else set()

    c.get(reverse(f"{base}_changelist"), (200,) if can_view else denied, "changelist")
    c.get(
        reverse(f"{base}_changelist") + "?q=P000001",
        (200,) if can_view else denied,
        "changelist search",
    )
    c.get(
        reverse(f"{base}_add"),
        (200,) if model_admin.has_add_permission(req) else denied,
        "add",
    )
    objects = _all(model)
    for obj in objects:
        mine = obj.pk in visible
        gone = (302,)  # the admin's "does not exist, perhaps deleted" redirect
        if not can_view:
            expect_view = denied
        elif mine:
            expect_view = (200,)
        else:
            expect_view = gone
        c.get(reverse(f"{base}_change", args=[obj.pk]), expect_view, "change")
        c.get(reverse(f"{base}_history", args=[obj.pk]), expect_view, "history")
        if not can_view:
            expect_delete = denied
        elif not mine:
            expect_delete = gone if model_admin.has_delete_permission(req) else denied + gone
        else:
            expect_delete = (200,) if model_admin.has_delete_permission(req, obj) else denied
        c.get(reverse(f"{base}_delete", args=[obj.pk]), expect_delete, "delete page")

    # every action, with the objects this role sees selected, in a savepoint rolled back after
    if can_view and visible:
        selected = sorted(visible)[:PER_MODEL]
        for name in model_admin.get_actions(req):
            url = reverse(f"{base}_changelist")
            with transaction.atomic():
                resp = c.client.post(url, {"action": name, "_selected_action": selected})
                c.check(resp, url, (200, 302), f"action {name}")
                if resp.status_code == 302:
                    c.get(resp["Location"], (200,), f"after action {name}")
                transaction.set_rollback(True)

    for name, params in _custom_urls(model_admin):
        if not params:
            targets = [((), True)]
        else:
            assert len(params) == 1, (name, params)
            owner = _objects_for(params[0], model_admin)
            targets = [((o.pk,), _in_scope(c, o)) for o in owner]
        for args, mine in targets:
            try:
                url = reverse(f"admin:{name}", args=args)
            except NoReverseMatch:
                c.failures.append(f"[{c.role}] cannot reverse admin:{name} {args}")
                continue
            if not can_view:
                expect = denied
            elif mine:
                expect = (200, 302)
                # each state was answered for the roles before: a second role needs one object
                # of its own (its access), not every export again
                if name in c.done_before and name in c.queried:
                    continue
            else:
                expect = (404,)
            c.get(url, expect, f"custom view {name}")
            if mine and can_view and name not in c.queried:  # once per view: each is an export
                c.queried.add(name)
                for query in QUERIES.get(name, []):
                    c.get(url + query, expect, f"custom view {name}")


def _in_scope(c: Crawl, obj) -> bool:
    """Whether ``obj`` belongs to a study the role may see (objects outside studies: yes)."""
    from survey.access import studies_for_user

    study = obj if isinstance(obj, Study) else None
    for path in ("study", "form__study", "trial__form__study", "participant__study"):
        if study is not None:
            break
        cur = obj
        try:
            for part in path.split("__"):
                cur = getattr(cur, part)
        except AttributeError:
            continue
        study = cur if isinstance(cur, Study) else None
    if study is None:
        return True
    return studies_for_user(c.user).filter(pk=study.pk).exists()


def _crawl_site(c: Crawl):
    c.get(reverse("admin:index"), (200,), "index")
    for app_label in sorted({m._meta.app_label for m in admin.site._registry}):
        req = c.request()
        allowed = any(
            ma.has_view_or_change_permission(req) or ma.has_add_permission(req)
            for m, ma in admin.site._registry.items()
            if m._meta.app_label == app_label
        )
        c.get(
            reverse("admin:app_list", args=[app_label]),
            (200,) if allowed else (404,),
            "app index",
        )
    for name, model in (
        ("generation-job-progress", GenerationJob),
        ("generation-caption-job-progress", CaptionJob),
    ):
        mine = set(
            admin.site._registry[model].get_queryset(c.request()).values_list("pk", flat=True)
        )
        for job in _all(model):
            c.get(reverse(name, args=[job.pk]), (200,) if job.pk in mine else (404,), name)


def test_the_admin_answers_every_page_for_every_role_and_state(cast):
    assert Study.objects.filter(status="draft").exists()
    assert Study.objects.filter(status="live", participants__isnull=True).exists()
    assert Study.objects.filter(status="closed", participants__isnull=False).exists()
    assert Form.objects.filter(kind="annotation").exists()
    failures, seen, crawled = [], 0, set()
    for role, user in cast.items():
        client = Client()
        client.force_login(user)
        c = Crawl(role, user, client, done_before=crawled)
        _crawl_site(c)
        for model, model_admin in sorted(
            admin.site._registry.items(), key=lambda kv: kv[0]._meta.label
        ):
            _crawl_model(c, model, model_admin)
        failures += c.failures
        crawled |= c.queried
        seen += c.seen
    assert seen > 300, seen  # the crawl reached the pages
    assert not failures, f"{len(failures)} of {seen} answers wrong:\n" + "\n".join(failures)
