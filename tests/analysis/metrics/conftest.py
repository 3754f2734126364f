"""The audio metrics compare the sounds of a study's tracks: each clip's are ingested for real."""

from __future__ import annotations

import pytest


@pytest.fixture
def study_track(distinct_tracks):
    """A sound of its own per clip, so that the metrics have something to tell apart."""
    return distinct_tracks
