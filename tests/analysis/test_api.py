"""The exports and the report through the researcher API and the admin: the owner gets them,
another researcher gets a 404, an anonymous visitor a 401/403."""

from __future__ import annotations

import io
import json
import zipfile

import pandas as pd
import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from analysis.exports import IDENTIFYING_COLUMNS, RATING_COLUMNS, pseudonymise
from survey.simulation import simulate_participants

NEW_ENDPOINTS = ["api-report", "api-participants"]


@pytest.fixture
def study(three_way_study):
    simulate_participants(three_way_study, 4, seed=5, careless=0.0)
    return three_way_study


@pytest.fixture
def api(alice):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=alice).key}")
    return client


def _url(name: str, **query) -> str:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return reverse(name, args=["three-way"]) + (f"?{q}" if q else "")


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet"])
def test_the_ratings_endpoint_serves_each_format(api, study, fmt):
    resp = api.get(_url("api-ratings", **{"as": fmt}))
    assert resp.status_code == 200
    if fmt == "json":
        df = pd.DataFrame(resp.json())
    elif fmt == "csv":
        assert resp["Content-Type"].startswith("text/csv")
        df = pd.read_csv(io.BytesIO(b"".join(resp.streaming_content)))
    else:
        assert resp["Content-Type"] == "application/vnd.apache.parquet"
        assert resp["Content-Disposition"] == 'attachment; filename="three-way-ratings.parquet"'
        df = pd.read_parquet(io.BytesIO(resp.content))
    published = list(pseudonymise(pd.DataFrame(columns=list(RATING_COLUMNS))).columns)
    assert list(df.columns) == published and len(df) == 4 * 12 + 4
    assert not set(IDENTIFYING_COLUMNS) & set(df.columns)  # the API publishes no recruiter ids
    assert int(df["is_attention"].astype(str).isin(["True", "true"]).sum()) == 4


def test_an_unknown_format_is_a_400(api, study):
    resp = api.get(_url("api-ratings", **{"as": "xlsx"}))
    assert resp.status_code == 400 and "xlsx" in resp.json()["detail"]
    assert api.get(_url("api-report", **{"as": "pdf"})).status_code == 400
    assert api.get(_url("api-report", seed=-1)).status_code == 400
    assert api.get(_url("api-report", seed="x")).status_code == 400


def test_the_participants_endpoint(api, study):
    rows = api.get(_url("api-participants")).json()
    assert len(rows) == 4 and {r["status"] for r in rows} == {"completed"}
    assert all(r["age_range"] for r in rows) and all(r["n_ratings"] == 12 for r in rows)


def test_the_report_endpoint_serves_the_page_and_its_tables(api, study):
    resp = api.get(_url("api-report", seed=1))
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/html")
    page = resp.content.decode()
    assert (
        "<section id='mixed'>" in page
        and "<section id='provenance'>" in page
        and "Three-way" in page
    )
    resp = api.get(_url("api-report", **{"as": "zip"}))
    assert resp.status_code == 200 and resp["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        assert "ratings.csv" in zf.namelist()
        assert json.loads(zf.read("settings.json"))["n_boot"] == 10_000


@pytest.mark.parametrize("name", NEW_ENDPOINTS + ["api-ratings"])
def test_each_new_endpoint_hides_other_researchers_studies(study, bob, name):
    client = APIClient()
    client.force_authenticate(bob)
    assert client.get(_url(name)).status_code == 404
    assert (
        client.get(_url(name, **{"as": "parquet" if name != "api-report" else "zip"})).status_code
        == 404
    )


@pytest.mark.parametrize("name", NEW_ENDPOINTS)
def test_each_new_endpoint_needs_authentication(client, study, name):
    assert client.get(_url(name)).status_code in (401, 403)


def test_the_schema_lists_the_new_endpoints(api):
    resp = api.get("/api/schema/")
    assert (
        b"/api/studies/{slug}/report/" in resp.content
        and b"/api/studies/{slug}/participants/" in resp.content
    )


# -- admin -------------------------------------------------------------------------------------


def test_the_admin_links_the_report_and_serves_it(client, charlie, study):
    client.force_login(charlie)
    changelist = client.get(reverse("admin:survey_study_changelist")).content.decode()
    report_url = reverse("admin:survey_study_report", args=[study.pk])
    assert report_url in changelist
    resp = client.get(report_url)
    assert resp.status_code == 200 and "<section id='exclusions'>" in resp.content.decode()
    resp = client.get(reverse("admin:survey_study_report_bundle", args=[study.pk]))
    assert resp.status_code == 200 and zipfile.is_zipfile(io.BytesIO(resp.content))
    resp = client.get(
        reverse("admin:survey_study_export", args=[study.pk]) + "?table=participants&format=json"
    )
    assert resp.status_code == 200 and len(json.loads(resp.content)) == 4
    resp = client.get(reverse("admin:survey_study_export", args=[study.pk]) + "?format=parquet")
    assert len(pd.read_parquet(io.BytesIO(resp.content))) == 52
    resp = client.get(
        reverse("admin:survey_study_export", args=[study.pk]) + "?format=xlsx", follow=True
    )
    assert "Unknown format" in resp.content.decode()


def test_the_admin_report_is_only_for_the_studys_researchers(client, bob, study):
    from django.contrib.auth.models import Permission

    bob.user_permissions.set(Permission.objects.filter(content_type__app_label="survey"))
    client.force_login(bob)
    for name in (
        "admin:survey_study_report",
        "admin:survey_study_report_bundle",
        "admin:survey_study_export",
    ):
        assert client.get(reverse(name, args=[study.pk])).status_code == 404
    client.logout()
    resp = client.get(reverse("admin:survey_study_report", args=[study.pk]))
    assert resp.status_code == 302 and "/login/" in resp["Location"]


def test_the_report_page_brings_its_own_content_security_policy(api, study):
    """The site's policy forbids inline scripts, which would leave the page without figures:
    the report allows exactly its own scripts, by hash, and nothing from the network."""
    import base64
    import hashlib
    import re

    resp = api.get(_url("api-report"))
    csp = resp["Content-Security-Policy"]
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", resp.content.decode(), re.S)
    assert len(scripts) > 4
    for body in scripts:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert (
        "default-src 'none'" in csp and "connect-src 'none'" in csp and "'unsafe-eval'" not in csp
    )


@pytest.mark.browser
def test_the_report_draws_its_figures_offline_under_its_policy(api, study):
    import os
    import shutil

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    resp = api.get(_url("api-report"))
    body, csp = resp.content, resp["Content-Security-Policy"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            # the page is served with its policy; any other request (the network) is refused
            page.route(
                "**/*",
                lambda route: (
                    route.fulfill(
                        status=200,
                        body=body,
                        headers={"Content-Type": "text/html", "Content-Security-Policy": csp},
                    )
                    if route.request.url.endswith("/report/")
                    else route.abort()
                ),
            )
            page.goto("http://report.invalid/report/")
            page.wait_for_function(
                "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4", timeout=15_000
            )
        finally:
            browser.close()
    assert errors == []
