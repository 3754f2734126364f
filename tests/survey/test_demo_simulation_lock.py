"""On SQLite, a real participant takes the demo while ``manage.py demo --simulate-participants``
runs in another process: the simulation commits step by step and leaves the write lock free
between participants, so no request of the participant waits out its busy timeout (a 503).

Two processes on one SQLite file, as in the demo tutorial (the server and the simulation). The
busy timeout is 5 s here (20 s by default) so that a simulation holding the lock shows in seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PARTICIPANT = r"""
import json, os, sys, time
import django
django.setup()
from django.test.utils import setup_test_environment
setup_test_environment()
from django.test import Client
from survey.models import Participant, Study

sim_pid, slug = int(sys.argv[1]), "musiscene-demo"

def simulating():
    try:
        os.kill(sim_pid, 0)
    except ProcessLookupError:
        return False
    return not os.path.exists(sys.argv[2])

deadline = time.time() + 120
while time.time() < deadline and not Participant.objects.filter(
    prolific_pid__startswith="SIM-"
).exists():
    time.sleep(0.05)
answers, sims = [], []
while simulating() and time.time() < deadline:
    sims.append(Participant.objects.filter(prolific_pid__startswith="SIM-").count())
    client = Client()
    for method, path, data in (
        ("post", f"/s/{slug}/", {"consent": "yes"}),
        ("post", f"/s/{slug}/run/advance/", {"stage": "instructions"}),
        ("get", f"/s/{slug}/run/", None),
    ):
        t0 = time.perf_counter()
        status = getattr(client, method)(path, data).status_code
        answers.append([method, path, status, round(time.perf_counter() - t0, 2)])
    time.sleep(0.2)
print(json.dumps({"answers": answers, "simulated_seen": sims}))
"""


def test_a_participant_is_served_while_the_demo_simulates(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studyserver.settings",
        "MUSISCENE_NO_DOTENV": "1",
        "DEBUG": "1",
        "SECRET_KEY": "x",
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SQLITE_BUSY_TIMEOUT_S": "5",
        "RATELIMIT_ENABLED": "0",
        "LOG_LEVEL": "ERROR",
        "PYTHONPATH": str(ROOT),
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=ROOT, check=True)
    seed = [*manage, "demo", "--no-serve", "--clips", "3", "--duration", "2"]
    subprocess.run(seed, env=env, cwd=ROOT, check=True, capture_output=True)
    done = tmp_path / "simulation-done"
    sim = subprocess.Popen(
        [
            *manage,
            "demo",
            "--no-serve",
            "--clips",
            "3",
            "--duration",
            "2",
            "--simulate-participants",
            "40",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        person = subprocess.run(
            [sys.executable, "-c", PARTICIPANT, str(sim.pid), str(done)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=240,
        )
        out, _ = sim.communicate(timeout=240)
    finally:
        done.touch()
        if sim.poll() is None:
            sim.kill()
    assert sim.returncode == 0, out[-2000:]
    assert "40 simulated participants started, 40 completed" in out
    result = json.loads(person.stdout.strip().splitlines()[-1]), person.stderr[-2000:]
    answers, seen = result[0]["answers"], result[0]["simulated_seen"]
    # the participant's requests ran while the simulation was adding people
    assert len(answers) >= 6 and seen[0] < 40 and seen[-1] > seen[0], (seen, answers)
    assert all(status < 500 for _, _, status, _ in answers), answers
    assert {status for method, _, status, _ in answers if method == "post"} == {302}, answers
