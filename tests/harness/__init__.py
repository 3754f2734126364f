"""What the tests and the benchmarks both drive the platform with, importable from one place:

- ``tests.harness.bots.Bot``: a participant through the real pages with Django's test client;
- ``tests.harness.load``: participants over HTTP (a small client, ``run_phase``);
- ``tests.harness.gunicorn.Gunicorn``: the project's gunicorn, to kill and restart.
"""
