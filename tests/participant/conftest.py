from tests.bots import Bot  # noqa: F401  (kept importable from here)
