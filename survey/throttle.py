"""Rate limits over sliding windows, counted in the cache (Redis when ``CACHE_URL`` is set, so
that every gunicorn worker and host shares them; process memory otherwise).

A window of ``window_s`` seconds is kept as ``SLOTS`` counters of ``window_s / SLOTS`` seconds
each. A request is let through when the requests of the current slot and of the ``SLOTS``
slots before it, this one included, are at most the limit: every interval of ``window_s``
seconds lies inside those slots, so no ``window_s`` seconds ever see more than ``limit``
requests (a fixed window lets ``2 * limit`` through across its edge). One cache round trip
reads the slots (``get_many``); the count itself is an atomic ``incr``. A refused request is
taken back off the count, so a client that keeps retrying is let in again as its old requests
leave the window.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.throttling import AnonRateThrottle

SLOTS = 10


def client_ip(request: HttpRequest) -> str:
    """The client's address. Behind a proxy, the last hop the proxy appended to
    X-Forwarded-For (the one entry the client cannot choose; a client-sent prefix is ignored),
    when it is an IP address; otherwise the connection's address."""
    if settings.BEHIND_PROXY:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            last = forwarded.split(",")[-1].strip()
            try:
                return str(ipaddress.ip_address(last))
            except ValueError:
                pass
    return request.META.get("REMOTE_ADDR", "")


def _slot_keys(scope: str, key: str, window_s: float, now: float) -> list[str]:
    width = window_s / SLOTS
    current = int(now // width)
    return [f"rl2:{scope}:{key}:{window_s:g}:{s}" for s in range(current - SLOTS, current + 1)]


def hit(scope: str, key: str, *, limit: int, window_s: float, now: float | None = None) -> bool:
    """Count one event of ``key``; False (and not counted) when the sliding window of
    ``window_s`` seconds already holds ``limit`` events."""
    if limit <= 0:
        return False
    keys = _slot_keys(scope, key, window_s, time.time() if now is None else now)
    current = keys[-1]
    timeout = int(window_s * (SLOTS + 2) / SLOTS) + 1
    if not cache.add(current, 1, timeout=timeout):
        try:
            cache.incr(current)
        except ValueError:  # expired between add and incr
            cache.add(current, 1, timeout=timeout)
    counts = cache.get_many(keys)
    if sum(int(v) for v in counts.values()) <= limit:
        return True
    try:
        cache.decr(current)
    except ValueError:
        pass
    return False


def count(scope: str, key: str, *, window_s: float, now: float | None = None) -> int:
    """Events of ``key`` in the sliding window (for tests and the admin)."""
    keys = _slot_keys(scope, key, window_s, time.time() if now is None else now)
    return sum(int(v) for v in cache.get_many(keys).values())


def too_many(window_s: float) -> JsonResponse:
    resp = JsonResponse(
        {"ok": False, "error": "too many requests; please wait a moment", "code": "rate_limited"},
        status=429,
    )
    resp["Retry-After"] = str(int(window_s / SLOTS) + 1)
    return resp


def ratelimited(scope: str, *, limit: Callable[[], int], window_s: int = 60):
    """Refuse a view with 429 after ``limit()`` requests per client address in any
    ``window_s`` seconds: a page (``survey/error.html``, in the participant's language) to a
    link or a form, JSON to a script's JSON request."""

    def wrap(view):
        @functools.wraps(view)
        def inner(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if settings.RATELIMIT_ENABLED and not hit(
                scope, client_ip(request), limit=limit(), window_s=window_s
            ):
                from survey import error_pages  # views -> throttle: imported when used

                if error_pages.wants_page(request):  # a page in the participant's language
                    return error_pages.render_error(
                        request, 429, retry_after=str(int(window_s / SLOTS) + 1)
                    )
                return too_many(window_s)
            return view(request, *args, **kwargs)

        return inner

    return wrap


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    """The admin login. Failed logins are counted per address and per (address, account): an
    address that fails ``ADMIN_LOGIN_MAX_FAILURES`` times for one account is refused for that
    account for 15 minutes, and one that fails ``ADMIN_LOGIN_MAX_FAILURES_PER_IP`` times for any
    accounts is refused altogether; nobody else is locked out of their account. A guesser spread
    over many addresses meets the per-account limit across addresses
    (``ADMIN_LOGIN_MAX_FAILURES_PER_ACCOUNT``, high enough that one attacker cannot reach it
    alone from a few addresses quickly, and counted only while it keeps failing)."""

    WINDOW_S = 15 * 60

    def clean(self):
        username = (self.data.get("username") or "").strip().lower()[:150]
        ip = client_ip(self.request) if self.request else ""
        limits = [
            (f"ip-user:{ip}:{username}", settings.ADMIN_LOGIN_MAX_FAILURES),
            (f"ip:{ip}", settings.ADMIN_LOGIN_MAX_FAILURES_PER_IP),
            (f"user:{username}", settings.ADMIN_LOGIN_MAX_FAILURES_PER_ACCOUNT),
        ]
        if any(count("login-fail", k, window_s=self.WINDOW_S) >= limit for k, limit in limits):
            raise forms.ValidationError(
                "Too many failed logins. Try again in 15 minutes.", code="throttled"
            )
        try:
            return super().clean()
        except forms.ValidationError:
            for k, _limit in limits:
                hit("login-fail", k, limit=10**9, window_s=self.WINDOW_S)
            raise


# -- the researcher API (Django REST framework) -------------------------------------------------


class ClientAnonRateThrottle(AnonRateThrottle):
    """DRF's anonymous throttle keyed on :func:`client_ip`: DRF's own key is the whole
    X-Forwarded-For header, which a client resets by sending a prefix of its choosing."""

    def get_ident(self, request) -> str:
        return client_ip(request)


class ThrottledTokenAuthentication(TokenAuthentication):
    """Token authentication that refuses an address after ``API_TOKEN_MAX_FAILURES`` wrong
    tokens in any 15 minutes (a guesser gets 429, not endless tries)."""

    WINDOW_S = 15 * 60

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.lower().startswith("token "):
            return None
        ip = client_ip(request)
        limit = settings.API_TOKEN_MAX_FAILURES
        if settings.RATELIMIT_ENABLED and count("token-fail", ip, window_s=self.WINDOW_S) >= limit:
            raise drf_exceptions.Throttled(detail="Too many failed token logins; try again later.")
        try:
            return super().authenticate(request)
        except drf_exceptions.AuthenticationFailed:
            hit("token-fail", ip, limit=10**9, window_s=self.WINDOW_S)
            raise
