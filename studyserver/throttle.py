"""Rate limits: fixed windows counted in the cache (Redis when ``CACHE_URL`` is set, so that
every gunicorn worker and host shares them; process memory otherwise)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse


def client_ip(request: HttpRequest) -> str:
    """The client's address; behind a proxy, the last hop it appended to X-Forwarded-For."""
    if settings.BEHIND_PROXY:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def hit(scope: str, key: str, *, limit: int, window_s: int) -> bool:
    """Count one event; False once ``limit`` events happened in the current window."""
    bucket = int(time.time() // window_s)
    name = f"rl:{scope}:{key}:{bucket}"
    if cache.add(name, 1, timeout=window_s + 1):
        return True
    try:
        return cache.incr(name) <= limit
    except ValueError:  # expired between add and incr
        cache.add(name, 1, timeout=window_s + 1)
        return True


def ratelimited(scope: str, *, limit: Callable[[], int], window_s: int = 60):
    """Refuse a view with 429 after ``limit()`` requests per client address and window."""

    def wrap(view):
        @functools.wraps(view)
        def inner(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if settings.RATELIMIT_ENABLED and not hit(
                scope, client_ip(request), limit=limit(), window_s=window_s
            ):
                resp = JsonResponse(
                    {
                        "ok": False,
                        "error": "too many requests; please wait a moment",
                        "code": "rate_limited",
                    },
                    status=429,
                )
                resp["Retry-After"] = str(window_s)
                return resp
            return view(request, *args, **kwargs)

        return inner

    return wrap


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    """The admin login, refusing further tries after ``ADMIN_LOGIN_MAX_FAILURES`` failures per
    user name or per address in 15 minutes."""

    WINDOW_S = 15 * 60

    def clean(self):
        username = (self.data.get("username") or "").strip().lower()
        ip = client_ip(self.request) if self.request else ""
        keys = [f"user:{username}", f"ip:{ip}"]
        limit = settings.ADMIN_LOGIN_MAX_FAILURES
        if any((cache.get(self._key(k)) or 0) >= limit for k in keys):
            raise forms.ValidationError(
                "Too many failed logins. Try again in 15 minutes.", code="throttled"
            )
        try:
            return super().clean()
        except forms.ValidationError:
            for k in keys:
                if not cache.add(self._key(k), 1, timeout=self.WINDOW_S):
                    cache.incr(self._key(k))
            raise

    def _key(self, k: str) -> str:
        return f"login-fail:{k}:{int(time.time() // self.WINDOW_S)}"
