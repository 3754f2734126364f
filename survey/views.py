"""Participant pages. Thin: each view reads the request, calls ``survey.participation``, renders."""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import get_script_prefix, reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_http_methods, require_POST

from generation.ranged import ranged_file_response
from survey import hotread, submit_schema
from survey import language as L
from survey import participation as P
from survey import throttle as T
from survey.models import Participant, Study

_EXTERNAL = (
    ("PROLIFIC_PID", "prolific_pid"),
    ("STUDY_ID", "external_study_id"),
    ("SESSION_ID", "external_session_id"),
)


def _cookie_name(study: Study) -> str:
    return f"msp_{study.pk}"


def _participant(request: HttpRequest, study: Study) -> Participant | None:
    code = request.get_signed_cookie(
        _cookie_name(study),
        default=None,
        salt="participant",
        max_age=settings.PARTICIPANT_COOKIE_MAX_AGE_S,
    )
    if not code:
        return None
    # order_by(): no ORDER BY for a lookup by a unique code
    found = Participant.objects.order_by().filter(study=study, code=code)[:1]
    participant = next(iter(found), None)
    if participant is not None:
        participant.study = study  # already loaded: no second query
    return participant


def _study_and_participant(request: HttpRequest, slug: str) -> tuple[Study, Participant | None]:
    """The study and the cookie's participant in one query (the hot path of every trial)."""
    for name in request.COOKIES:
        if not name.startswith("msp_"):
            continue
        try:
            study_pk = int(name[4:])
            code = request.get_signed_cookie(
                name,
                default=None,
                salt="participant",
                max_age=settings.PARTICIPANT_COOKIE_MAX_AGE_S,
            )
        except ValueError:
            continue
        if not code:
            continue
        participant = hotread.participant_with_study(code=code, slug=slug, study_id=study_pk)
        if participant is not None:
            return participant.study, participant
    return _live_study(slug), None


def _with_cookie(response: HttpResponse, study: Study, participant: Participant) -> HttpResponse:
    response.set_signed_cookie(
        _cookie_name(study),
        participant.code,
        salt="participant",
        max_age=settings.PARTICIPANT_COOKIE_MAX_AGE_S,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
        path=f"/s/{study.slug}/",
    )
    return response


def _external_ids(source) -> dict[str, str]:
    """The recruiter's ids from the query or form: printable text of at most 64 characters
    (a NUL byte, which PostgreSQL cannot store, or any control character is refused)."""
    out = {}
    for param, field in _EXTERNAL:
        value = source.get(param, "").strip()
        if len(value) > 64:
            raise submit_schema.SchemaError(f"{param} is longer than 64 characters")
        out[field] = submit_schema.clean_text(value, param, max_chars=64)
        if any(c in value for c in "\n\r\t"):
            raise submit_schema.SchemaError(f"{param} contains control characters")
    return out


def _bad_request(request: HttpRequest, study: Study, message: str) -> HttpResponse:
    return render(
        request, "survey/bad_request.html", {"study": study, "message": message}, status=400
    )


def _live_study(slug: str) -> Study:
    return get_object_or_404(Study, slug=slug)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@T.ratelimited("entry", limit=lambda: settings.RATELIMIT_ENTRY_PER_MIN)
def study_entry(request: HttpRequest, slug: str) -> HttpResponse:
    """Entry: recruiter ids from the query, resume by PROLIFIC_PID or cookie, else consent."""
    study = _live_study(slug)
    return L.keep_choice(_study_entry(request, study), request, study)


def _study_entry(request: HttpRequest, study: Study) -> HttpResponse:
    slug = study.slug
    language = L.activate(request, study)
    if study.status != Study.Status.LIVE:
        # A participant of a closed study (their cookie, the same person) still reaches their
        # own page: a finished one their code, one caught mid-study the way back.
        known = _participant(request, study) if study.status == Study.Status.CLOSED else None
        pid = request.GET.get("PROLIFIC_PID", "").strip()
        if known is not None and (not pid or known.prolific_pid == pid):
            return redirect("study-run", slug=slug)
        return render(
            request,
            "survey/unavailable.html",
            {"study": study},
            status=403 if study.status == Study.Status.DRAFT else 410,
        )
    source = request.POST if request.method == "POST" else request.GET
    try:
        external = _external_ids(source)
    except submit_schema.SchemaError as exc:
        return _bad_request(request, study, exc.message)
    pid = external["prolific_pid"]
    if pid and study.require_recruiter_id and not PROLIFIC_ID_RE.fullmatch(pid):
        return _bad_request(
            request, study, _("PROLIFIC_PID is not a Prolific id (24 hexadecimal characters).")
        )
    if study.require_recruiter_id and not pid:
        return _bad_request(request, study, _("this study is open only through its recruiter."))
    # The cookie's participant only when the link names the same person (or nobody): a browser
    # holding A's cookie that arrives with B's PROLIFIC_PID is not resumed as A.
    cookie_participant = _participant(request, study)
    if cookie_participant is not None and (not pid or cookie_participant.prolific_pid == pid):
        return _with_cookie(redirect("study-run", slug=slug), study, cookie_participant)
    if request.method != "POST":
        # The same page whether or not the PROLIFIC_PID is known: the person it belongs to goes
        # back to where they were by agreeing again (a POST), never by the link alone.
        template = "survey/full.html" if P.study_is_full(study=study) else "survey/consent.html"
        links = L.switcher(request, study)
        return render(
            request, template, {"study": study, "external": external, "language_links": links}
        )
    ua = "".join(c for c in request.headers.get("User-Agent", "")[:400] if c.isprintable())
    if request.POST.get("consent") == "yes":
        if not (pid and P.pid_has_session(study=study, prolific_pid=pid)):
            refused = _refuse_new_participant(request, study)
            if refused is not None:
                return refused
        try:
            participant, _created = P.participant_start(
                study=study, user_agent=ua, language=language, **external
            )
        except P.ParticipationError as exc:
            if exc.code == "full":
                return render(request, "survey/full.html", {"study": study, "external": external})
            raise
        return _with_cookie(redirect("study-run", slug=slug), study, participant)
    refused = _refuse_new_participant(request, study)
    if refused is not None:
        return refused
    participant = P.participant_decline(study=study, user_agent=ua, language=language, **external)
    return _with_cookie(redirect("study-run", slug=slug), study, participant)


PROLIFIC_ID_RE = re.compile(r"[0-9a-f]{24}")


def _refuse_new_participant(request: HttpRequest, study: Study) -> HttpResponse | None:
    """The limits on new participants, over sliding windows: per client address and per study
    (the study's own cap on starts per minute, else the site's). A 429 page when one is reached."""
    if not settings.RATELIMIT_ENABLED:
        return None
    per_study = study.max_starts_per_minute or settings.RATELIMIT_STUDY_STARTS_PER_MIN
    if not T.hit(
        "starts-client",
        T.client_ip(request),
        limit=settings.RATELIMIT_STARTS_PER_CLIENT_PER_10MIN,
        window_s=600,
    ) or not T.hit("starts-study", str(study.pk), limit=per_study, window_s=60):
        resp = render(request, "survey/busy.html", {"study": study}, status=429)
        resp["Retry-After"] = "30"
        return resp
    return None


def _recruiter_home(study: Study) -> str:
    """The recruiting site's home (from the study's completion URL), for a participant whose
    study closed before they finished: there they can return or withdraw the submission."""
    parts = urlsplit(study.completion_redirect_url or "")
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}/"
    return ""


def _done_page(request: HttpRequest, study: Study, participant: Participant) -> HttpResponse:
    kinds: dict[str, str] = {
        Participant.Status.COMPLETED: "completed",
        Participant.Status.DECLINED: "declined",
        Participant.Status.SCREENED_OUT: "screened_out",
    }
    kind = kinds.get(participant.status, "ended")
    url = (
        P.redirect_url(study=study, code=participant.completion_code)
        if participant.completion_code
        else ""
    )
    return render(
        request,
        "survey/done.html",
        {
            "study": study,
            "participant": participant,
            "kind": kind,
            "redirect_url": url,
            # the page removes this participant's drafts from the browser's storage
            "storage_key": P.media_token(participant, "store", 0, "key")[:16],
        },
    )


@never_cache
@require_http_methods(["GET", "HEAD"])
@ensure_csrf_cookie  # every stage's page posts (trial pages by fetch): a fresh device needs it
@T.ratelimited("participant", limit=lambda: settings.RATELIMIT_PARTICIPANT_PER_MIN)
def study_run(request: HttpRequest, slug: str) -> HttpResponse:
    """The participant's current page; the server decides which it is."""
    study, participant = _study_and_participant(request, slug)
    if participant is None:
        return redirect("study-entry", slug=slug)
    L.activate(request, study, participant)
    if participant.stage == Participant.Stage.DONE or participant.status in (
        Participant.Status.COMPLETED,
        Participant.Status.DECLINED,
        Participant.Status.SCREENED_OUT,
    ):
        return _done_page(request, study, participant)
    if study.status != Study.Status.LIVE:
        closed = {"study": study, "participant": participant, "return_url": _recruiter_home(study)}
        return render(request, "survey/unavailable.html", closed, status=410)
    stage = participant.stage
    in_trials = stage == Participant.Stage.TRIALS
    if request.method == "GET":  # a HEAD (a link checker, a prefetch) is no visit
        P.participant_touch(
            participant=participant,
            page=stage,
            sequence_index=participant.progress if in_trials else None,
            item_shown=in_trials,
        )
    ctx: dict = {"study": study, "participant": participant}
    if stage == Participant.Stage.INSTRUCTIONS:
        return render(request, "survey/instructions.html", ctx)
    if stage == Participant.Stage.PRACTICE:
        return render(
            request,
            "survey/trial.html",
            {**ctx, "config": _practice_config(request, study, participant)},
        )
    if stage == Participant.Stage.HEADPHONE:
        ctx["hp_trials"] = [
            (i, reverse("study-headphone-audio", args=[slug, i])) for i in range(P.HEADPHONE_TRIALS)
        ]
        return render(request, "survey/headphone.html", ctx)
    if stage == Participant.Stage.TRIALS:
        item = P.participant_item(participant=participant, index=participant.progress)
        if item.kind == "annotation":
            return render(
                request,
                "survey/annotation.html",
                {**ctx, "config": _annotation_config(study, participant, item)},
            )
        return render(
            request, "survey/trial.html", {**ctx, "config": _item_config(study, participant, item)}
        )
    return render(request, "survey/questionnaire.html", ctx)


@functools.lru_cache(maxsize=256)
def _urls(script_prefix: str, slug: str) -> dict[str, str]:
    """A study's participant URLs, resolved once per process (and script prefix, which
    ``reverse`` reads): a trial submit's answer names eight of them."""
    return {
        "submit_url": reverse("study-submit", args=[slug]),
        "next_url": reverse("study-run", args=[slug]),
        "advance_url": reverse("study-advance", args=[slug]),
        # media tokens are hex (P.MEDIA_TOKEN_RE): appended as they are, nothing to quote
        "media": reverse("study-media", args=[slug, "0"])[:-1],
    }


def _study_urls(slug: str) -> dict[str, str]:
    return _urls(get_script_prefix(), slug)


def _media_url(slug: str, token: str) -> str:
    return _study_urls(slug)["media"] + token


def _base_config(study: Study, participant: Participant) -> dict:
    return {
        "question": study.text("question", participant.language),
        "min_label": study.text("scale_min_label", participant.language),
        "max_label": study.text("scale_max_label", participant.language),
        **{k: v for k, v in _study_urls(study.slug).items() if k != "media"},
        "storage_key": P.media_token(participant, "store", 0, "key")[:16],
        "min_trial_s": study.min_trial_s or 0,
    }


def _item_config(study: Study, participant: Participant, item: P.Item | P.RatingItem) -> dict:
    n_items = len(participant.trial_order)
    attention = item.kind == "attention"
    required = [
        0 if attention else P.required_listen_s(study=study, track=track) for track in item.tracks
    ]
    return {
        **_base_config(study, participant),
        "mode": item.kind,
        "index": item.index,
        "total": n_items,
        # What the page shows above the video: for an item shown without a page load.
        "progress_text": _("Video %(n)s of %(total)s") % {"n": item.index + 1, "total": n_items},
        "prompt": _("Attention check: whatever you hear, please set the slider below to 0.")
        if attention
        else study.text("question", participant.language),
        "video_url": _media_url(
            study.slug, P.media_token(participant, "item", item.index, "video")
        ),
        "tracks": [
            {
                "label": label,
                "audio_url": _media_url(
                    study.slug, P.media_token(participant, "item", item.index, label)
                ),
                "required_s": required_s,
            }
            for label, required_s in zip(item.labels, required, strict=True)
        ],
        "elapsed_s": 0,
    }


def _annotation_config(study: Study, participant: Participant, item: P.Item) -> dict:
    form = item.trial.form
    music = _media_url(study.slug, P.media_token(participant, "item", item.index, "music"))
    return {
        **_base_config(study, participant),
        "mode": "annotation",
        "index": item.index,
        "total": len(participant.trial_order),
        "media": form.annotation_media,
        # The clip's muted video is the player's clock even for audio-only forms (hidden there).
        "video_url": _media_url(
            study.slug, P.media_token(participant, "item", item.index, "video")
        ),
        "tracks": [
            {
                "label": "A",
                "audio_url": music,
                "required_s": P.required_listen_clip_s(study=study, trial=item.trial),
            }
        ],
        "min_chars": form.min_description_chars,
        "max_chars": P.MAX_DESCRIPTION_CHARS,
        "vocabulary": form.tag_vocabulary or {},
    }


def _practice_config(request: HttpRequest, study: Study, participant: Participant) -> dict:
    from generation.models import Track

    tracks = Track.objects.in_bulk(participant.practice_tracks)
    ordered = [tracks[i] for i in participant.practice_tracks if i in tracks]
    return {
        **_base_config(study, participant),
        "mode": "practice",
        "index": -1,
        "total": len(participant.trial_order),
        "video_url": _media_url(study.slug, P.media_token(participant, "practice", 0, "video")),
        "tracks": [
            {
                "label": P.LABELS[i],
                "audio_url": _media_url(
                    study.slug, P.media_token(participant, "practice", 0, P.LABELS[i])
                ),
                "required_s": P.required_listen_s(study=study, track=t),
            }
            for i, t in enumerate(ordered)
        ],
        "min_trial_s": 0,
    }


def _json_error(exc: P.ParticipationError) -> JsonResponse:
    return JsonResponse({"ok": False, "error": exc.message, "code": exc.code}, status=exc.status)


@require_POST
@T.ratelimited("participant", limit=lambda: settings.RATELIMIT_PARTICIPANT_PER_MIN)
def study_submit(request: HttpRequest, slug: str) -> JsonResponse:
    """A trial's ratings, as JSON:
    {index, submission_id, ratings: [{label, value, moved, listening_s}], events}."""
    study, participant = _study_and_participant(request, slug)
    L.activate(request, study, participant)
    if participant is None:
        return JsonResponse(
            {"ok": False, "error": _("Your session was not found."), "code": "no_session"},
            status=403,
        )
    try:
        if int(request.META.get("CONTENT_LENGTH") or 0) > submit_schema.SUBMIT_MAX_BYTES:
            raise submit_schema.SchemaError(
                f"the submit is larger than {submit_schema.SUBMIT_MAX_BYTES // 1024} kB",
                code="too_large",
            )
        sub = submit_schema.clean_submit(submit_schema.parse_body(request.body))
    except submit_schema.SchemaError as exc:
        return JsonResponse({"ok": False, "error": exc.message, "code": exc.code}, status=400)
    except ValueError:  # a CONTENT_LENGTH that is not a number
        return JsonResponse(
            {"ok": False, "error": "bad Content-Length", "code": "invalid"}, status=400
        )
    try:
        if sub.text is not None:
            result = P.submit_annotation(
                participant=participant,
                index=sub.index,
                submission_id=sub.submission_id,
                text=sub.text,
                tags=sub.tags,
                listening_s=sub.listening_s,
                events=sub.events,
            )
        else:
            result = P.submit_item(
                participant=participant,
                index=sub.index,
                submission_id=sub.submission_id,
                ratings=sub.ratings,
                events=sub.events,
                show_next=True,
            )
    except P.ParticipationError as exc:
        return _json_error(exc)
    if "next" in result:  # the trial page shows the next item in place, without a page load
        result["next"] = _item_config(study, participant, result["next"])
    return JsonResponse({"ok": True, **result, "next_url": _study_urls(slug)["next_url"]})


@require_POST
@T.ratelimited("participant", limit=lambda: settings.RATELIMIT_PARTICIPANT_PER_MIN)
def study_advance(request: HttpRequest, slug: str) -> HttpResponse:
    study, participant = _study_and_participant(request, slug)
    if participant is None:
        return redirect("study-entry", slug=slug)
    L.activate(request, study, participant)
    try:
        P.participant_advance(participant=participant, from_stage=request.POST.get("stage", ""))
    except P.ParticipationError as exc:
        return _json_error(exc)
    return redirect("study-run", slug=slug)


@require_POST
@T.ratelimited("participant", limit=lambda: settings.RATELIMIT_PARTICIPANT_PER_MIN)
def study_headphone(request: HttpRequest, slug: str) -> HttpResponse:
    study, participant = _study_and_participant(request, slug)
    if participant is None:
        return redirect("study-entry", slug=slug)
    L.activate(request, study, participant)
    try:
        answers = [int(request.POST.get(f"hp{i}", "-1")) for i in range(P.HEADPHONE_TRIALS)]
        P.submit_headphone(participant=participant, answers=answers)
    except ValueError:
        return redirect("study-run", slug=slug)
    except P.ParticipationError as exc:
        if exc.code == "bad_stage":
            return redirect("study-run", slug=slug)
        return render(
            request,
            "survey/headphone.html",
            {
                "study": study,
                "participant": participant,
                "error": ngettext(
                    "Please answer the question.",
                    "Please answer all %(n)d questions.",
                    P.HEADPHONE_TRIALS,
                )
                % {"n": P.HEADPHONE_TRIALS},
                "hp_trials": [
                    (i, reverse("study-headphone-audio", args=[slug, i]))
                    for i in range(P.HEADPHONE_TRIALS)
                ],
            },
            status=400,
        )
    return redirect("study-run", slug=slug)


@require_http_methods(["GET", "HEAD"])
@T.ratelimited("participant", limit=lambda: settings.RATELIMIT_PARTICIPANT_PER_MIN)
def study_headphone_audio(request: HttpRequest, slug: str, index: int) -> HttpResponse:
    study = _live_study(slug)
    participant = _participant(request, study)
    if participant is None or not 0 <= index < P.HEADPHONE_TRIALS:
        raise Http404
    data = P.headphone_stimulus(quiet_position=P.headphone_plan(participant)[index])
    resp = HttpResponse(data, content_type="audio/wav")
    resp["Cache-Control"] = "private, max-age=3600"
    return resp


@require_POST
@T.ratelimited("participant", limit=lambda: settings.RATELIMIT_PARTICIPANT_PER_MIN)
def study_questionnaire(request: HttpRequest, slug: str) -> HttpResponse:
    study, participant = _study_and_participant(request, slug)
    if participant is None:
        return redirect("study-entry", slug=slug)
    L.activate(request, study, participant)
    try:
        P.participant_complete(participant=participant, answers=request.POST)
    except P.ParticipationError as exc:
        return render(
            request,
            "survey/questionnaire.html",
            {"study": study, "participant": participant, "error": _questionnaire_error(exc)},
            status=exc.status,
        )
    return redirect("study-run", slug=slug)


def _questionnaire_error(exc: P.ParticipationError) -> str:
    if exc.code == "incomplete":
        return _("Some of your answers are not stored yet. Please go back and send them again.")
    return exc.message


@require_http_methods(["GET", "HEAD"])
@T.ratelimited("participant", limit=lambda: settings.RATELIMIT_PARTICIPANT_PER_MIN)
def study_media(request: HttpRequest, slug: str, token: str) -> HttpResponseBase:
    """A participant's media by opaque token; another participant's token opens nothing."""
    if not P.MEDIA_TOKEN_RE.fullmatch(token):
        return HttpResponseBadRequest(
            "malformed media link: a media token is 40 hexadecimal characters",
            content_type="text/plain; charset=utf-8",
        )
    study, participant = _study_and_participant(request, slug)
    if participant is None:
        raise Http404
    field = P.media_for_token(participant=participant, token=token)
    if field is None or not field:
        raise Http404
    name = field.name or ""  # a non-empty field has a name
    content_type = "video/mp4" if name.endswith(".mp4") else "audio/mp4"
    return ranged_file_response(request, default_storage, name, content_type=content_type)
