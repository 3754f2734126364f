"""The suite's guard: a 5xx the app answers during a test fails that test (tests/conftest.py)."""

from __future__ import annotations

import logging
import sys

import pytest
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import path

from studyserver import testing


def _broken(request):
    raise RuntimeError("a bug in a view")


def _unavailable(request):
    return HttpResponse("down", status=503, content_type="text/plain")


def _fine(request):
    return HttpResponse("fine")


urlpatterns = [
    path("broken/", _broken),
    path("unavailable/", _unavailable),
    path("fine/", _fine),
]

here = override_settings(ROOT_URLCONF=__name__)


def _check(request):
    from tests.conftest import _server_errors_check

    _server_errors_check(request.node)


@pytest.fixture(autouse=True)
def _this_module_is_importable():
    assert sys.modules.get(__name__) is not None


@here
def test_a_500_that_the_test_never_looks_at_fails_the_test(db, request):
    client = Client(raise_request_exception=False)
    assert client.get("/broken/").status_code == 500
    assert client.get("/fine/").status_code == 200  # the test moves on to "the next page"
    with pytest.raises(pytest.fail.Exception) as failed:
        _check(request)
    message = str(failed.value)
    assert "answered 1 error(s)" in message  # the response and its log record are one error
    assert "500 GET /broken/" in message and "RuntimeError: a bug in a view" in message
    assert testing.take() == []  # reported once, then forgotten


@here
def test_an_unexpected_503_fails_the_test_too(db, request):
    assert Client().get("/unavailable/").status_code == 503
    with pytest.raises(pytest.fail.Exception, match="503 GET /unavailable/"):
        _check(request)


@here
@pytest.mark.allows_5xx(503)
def test_a_test_that_provokes_a_503_on_purpose_says_so(db, request):
    assert Client().get("/unavailable/").status_code == 503
    _check(request)  # allowed: no failure
    assert Client(raise_request_exception=False).get("/broken/").status_code == 500
    with pytest.raises(pytest.fail.Exception, match="500 GET /broken/"):
        _check(request)  # only the codes it names


def test_an_error_logged_by_django_request_counts(request, rf):
    logging.getLogger("django.request").error(
        "Internal Server Error: /x/", extra={"status_code": 502, "request": rf.post("/x/")}
    )
    logging.getLogger("django.request").warning(
        "Not Found: /y/", extra={"status_code": 404, "request": rf.get("/y/")}
    )
    with pytest.raises(pytest.fail.Exception, match=r"(?s)1 error\(s\).*502 POST /x/"):
        _check(request)


def test_a_live_server_500_is_recorded(live_server, request):
    import urllib.error
    import urllib.request

    with override_settings(ROOT_URLCONF=__name__):
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(live_server.url + "/broken/", timeout=10)
    assert answer.value.code == 500
    with pytest.raises(pytest.fail.Exception, match="500 GET /broken/"):
        _check(request)
