"""Throttles of the admin login and the researcher API: per address and account, keyed on the
address the proxy saw, and failed token logins counted."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    settings.RATELIMIT_ENABLED = True
    settings.BEHIND_PROXY = True
    cache.clear()
    yield
    cache.clear()


def _login(client, username, password):
    return client.post(reverse("admin:login"), {"username": username, "password": password})


def test_failures_from_one_address_do_not_lock_the_account_for_everyone(charlie, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 3
    attacker = Client(HTTP_X_FORWARDED_FOR="203.0.113.9")
    for _ in range(3):
        assert "Please enter the correct" in _login(attacker, "charlie", "wrong").content.decode()
    assert "Too many failed logins" in _login(attacker, "charlie", "password").content.decode()
    owner = Client(HTTP_X_FORWARDED_FOR="198.51.100.7")
    _login(owner, "charlie", "password")
    assert "_auth_user_id" in owner.session  # charlie, from their own address, gets in


def test_one_address_guessing_many_accounts_is_refused(charlie, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES_PER_IP = 4
    guesser = Client(HTTP_X_FORWARDED_FOR="203.0.113.9")
    for name in ("a", "b", "c", "d"):
        _login(guesser, name, "x")
    assert "Too many failed logins" in _login(guesser, "charlie", "password").content.decode()


def test_the_anonymous_api_throttle_ignores_a_client_chosen_forwarded_prefix():
    from django.test import RequestFactory
    from rest_framework.request import Request
    from rest_framework.throttling import AnonRateThrottle

    from survey.throttle import ClientAnonRateThrottle

    def allowed(throttle_class) -> list[bool]:
        out = []
        for i in range(5):
            raw = RequestFactory().get("/api/", HTTP_X_FORWARDED_FOR=f"10.9.9.{i}, 203.0.113.9")
            throttle = throttle_class()
            throttle.rate = "3/minute"
            throttle.num_requests, throttle.duration = throttle.parse_rate(throttle.rate)
            out.append(throttle.allow_request(Request(raw), view=None))
        return out

    assert allowed(AnonRateThrottle) == [True] * 5  # DRF's key: the whole header, reset at will
    cache.clear()
    assert allowed(ClientAnonRateThrottle) == [True, True, True, False, False]


def test_wrong_api_tokens_are_throttled_per_address(db, settings):
    settings.API_TOKEN_MAX_FAILURES = 3
    guesser = Client(HTTP_X_FORWARDED_FOR="203.0.113.9")
    codes = [
        guesser.get("/api/studies/", HTTP_AUTHORIZATION=f"Token wrong{i}").status_code
        for i in range(5)
    ]
    assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429]


def test_the_api_refuses_one_client_whatever_forwarded_prefix_it_sends(db, monkeypatch):
    # end to end, through the site's REST_FRAMEWORK settings (not the throttle class alone)
    from survey.throttle import ClientAnonRateThrottle

    monkeypatch.setattr(ClientAnonRateThrottle, "THROTTLE_RATES", {"anon": "3/minute"})
    codes = [
        Client(HTTP_X_FORWARDED_FOR=f"10.9.9.{i}, 203.0.113.9").get("/api/schema/").status_code
        for i in range(5)
    ]
    assert codes == [200, 200, 200, 429, 429]
    assert Client(HTTP_X_FORWARDED_FOR="198.51.100.7").get("/api/schema/").status_code == 200
