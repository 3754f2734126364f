"""A participant driven through the real pages with Django's test client."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

from django.test import Client

from survey.models import Participant


def _longest_listening(payload: dict) -> float:
    claims = [
        r.get("listening_s")
        for r in (payload.get("ratings") if isinstance(payload.get("ratings"), list) else [])
        if isinstance(r, dict)
    ] + [payload.get("listening_s")]
    numbers = [float(c) for c in claims if isinstance(c, int | float) and not isinstance(c, bool)]
    return max([n for n in numbers if 0 < n < 10**6], default=0.0)


class Bot:
    """A participant driven through the real pages with Django's test client."""

    def __init__(self, study, **query):
        self.study = study
        self.client = Client(enforce_csrf_checks=False)
        self.query = query

    @property
    def participant(self) -> Participant:
        code = self.client.cookies[f"msp_{self.study.pk}"].value.split(":")[0]
        return Participant.objects.get(code=code)

    def consent(self, answer: str = "yes"):
        base = f"/s/{self.study.slug}/"
        resp = self.client.get(base, self.query)
        assert resp.status_code == 200, resp.content
        return self.client.post(base, {**self.query, "consent": answer})

    def page(self):
        return self.client.get(f"/s/{self.study.slug}/run/")

    def let_time_pass(self, seconds: float) -> None:
        """As if the current item had been open ``seconds`` longer (the server bounds the
        listening a submit claims by the time since the item was shown)."""
        if f"msp_{self.study.pk}" not in self.client.cookies or seconds <= 0:
            return
        p = self.participant
        if p.item_started_at is not None:
            Participant.objects.filter(pk=p.pk).update(
                item_started_at=p.item_started_at - timedelta(seconds=seconds)
            )

    def advance(self, stage: str):
        return self.client.post(f"/s/{self.study.slug}/run/advance/", {"stage": stage})

    def config(self) -> dict:
        html = self.page().content.decode()
        m = re.search(
            r'<script id="trial-config" type="application/json">(.*?)</script>', html, re.S
        )
        assert m, html[:2000]
        return json.loads(m.group(1))

    def submit(self, cfg: dict, *, values=None, sid=None, wait: bool = True, **overrides):
        """Submit item ``cfg``; with ``wait``, first let as much time pass as the listening claimed
        (a bot answers at once; the server refuses more listening than time on the item)."""
        ratings = [
            {
                "label": t["label"],
                "value": (values or {}).get(t["label"], 50 + i),
                "moved": True,
                "listening_s": t["required_s"],
            }
            for i, t in enumerate(cfg["tracks"])
        ]
        payload = {
            "index": cfg["index"],
            "submission_id": sid or str(uuid.uuid4()),
            "ratings": ratings,
            "events": [{"type": "switch", "t": 1}],
            **overrides,
        }
        if wait:
            self.let_time_pass(_longest_listening(payload))
        return self.client.post(
            f"/s/{self.study.slug}/run/submit/",
            json.dumps(payload),
            content_type="application/json",
        )

    def to_trials(self):
        self.consent()
        self.advance("instructions")
        self.advance("practice")

    def complete(self):
        self.to_trials()
        while True:
            html = self.page().content.decode()
            if 'id="trial-config"' not in html:
                break
            assert self.submit(self.config()).status_code == 200
        return self.client.post(
            f"/s/{self.study.slug}/run/questionnaire/",
            {"age_range": "25-34", "device": "headphones", "music_training": "some"},
        )
