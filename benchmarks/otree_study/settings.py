"""oTree settings of the 15 x 3 rating study that benchmarks/otree_baseline.py serves with
``otree prodserver`` (oTree 6.0.15): one session config, one app. The benchmark sets the admin
password, the REST key (to create the session) and the secret key in the environment."""

from os import environ

SESSION_CONFIGS = [
    dict(
        name="rating",
        display_name="15 videos x 3 soundtracks, one rating per soundtrack",
        app_sequence=["rating"],
        num_demo_participants=1,
    ),
]

SESSION_CONFIG_DEFAULTS = dict(real_world_currency_per_point=1.00, participation_fee=0.00, doc="")

PARTICIPANT_FIELDS = ["clip_order"]
SESSION_FIELDS: list[str] = []

LANGUAGE_CODE = "en"
REAL_WORLD_CURRENCY_CODE = "GBP"
USE_POINTS = True

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = environ.get("OTREE_ADMIN_PASSWORD")

DEMO_PAGE_INTRO_HTML = ""

SECRET_KEY = environ.get("OTREE_SECRET_KEY", "")
