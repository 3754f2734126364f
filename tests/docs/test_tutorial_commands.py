"""Every shell command the tutorials show works as written (issue 19: no dead ends).

The commands are read from the ```bash blocks of docs/tutorials/*.md, so a tutorial that changes
is tested as it reads. They run in a fresh folder with nothing but the `.env` that `make env`
writes (no DEBUG or SECRET_KEY in the environment, its own SQLite database and media), with the
project's Python first on PATH, one tutorial after the other, as a newcomer would type them:

- `docs/tutorials/demo.md` and `docs/tutorials/musiscene-tiny.md` run every command for real,
  on a demo made smaller by appending `--clips 3 --duration 2` to `manage.py demo` (argparse
  keeps the last value; the full demo only takes longer);
- `docs/tutorials/first-study.md` needs clicks in the admin between its commands: the commands
  that bring in clips and captions before the first click (`migrate`, `demo_clips`, made smaller
  with `--count 2 --duration 1`, `import_media`, `import_captions`) run for real, with `~` the
  sandbox, and the others with `--help` (the browser walk test takes the rest end to end);
- `make TARGET` is checked with `make -n TARGET` (the target exists and its recipe expands), and
  commands that never return (`runserver`) or ask questions (`createsuperuser`) with `--help`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "docs" / "tutorials"
RUN = ["demo.md", "musiscene-tiny.md"]  # in this order: the tiny tutorial uses the demo's data
HELP_ONLY = ["first-study.md"]
SMALL_DEMO = ["--clips", "3", "--duration", "2"]
#: first-study.md's commands that run for real (the rest need the admin first: `--help`)
FIRST_STUDY_RUN = {"migrate", "demo_clips", "import_media", "import_captions"}
SMALL_DEMO_CLIPS = ["--count", "2", "--duration", "1"]
NEVER_RETURNS_OR_ASKS = {"runserver", "createsuperuser", "changepassword", "shell"}


def bash_commands(markdown: str) -> list[str]:
    """The commands of the ```bash blocks: continuations joined, comments and blanks dropped."""
    commands: list[str] = []
    for block in re.findall(r"^\s*```bash\n(.*?)^\s*```", markdown, flags=re.S | re.M):
        text = re.sub(r"\s*\\\n\s*", " ", block)
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            # a trailing comment ("make demo      # set up ...") is not part of the command
            line = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
            commands.append(line)
    return commands


def test_the_parser_reads_blocks_continuations_and_comments():
    md = (
        "text\n```bash\n# a comment\nmake demo   # serve\n"
        "python -m x --a 1 \\\n    --b 2\n```\n```text\nnot a command\n```\n"
        "    ```bash\n    make test\n    ```\n"
    )
    assert bash_commands(md) == ["make demo", "python -m x --a 1 --b 2", "make test"]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A fresh folder and an environment with nothing a newcomer would not have."""
    home = tmp_path_factory.mktemp("newcomer")
    (home / "manage.py").symlink_to(ROOT / "manage.py")
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "DEBUG",
            "SECRET_KEY",
            "DATABASE_URL",
            "DJANGO_SETTINGS_MODULE",
            "MUSISCENE_NO_DOTENV",
            "CELERY_BROKER_URL",
        )
        and not k.startswith("MUSISCENE_TEST_VAR_DIR")
        and not k.startswith("PYTEST")
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
        VAR_DIR=str(home / "var"),
        MUSISCENE_DOTENV=str(home / ".env"),
        HF_HUB_OFFLINE="1",
    )
    # what `make env` does (make demo runs it): the only configuration a newcomer has
    made = subprocess.run(
        [sys.executable, "-m", "studyserver.dotenv", str(home / ".env")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrated.returncode == 0, migrated.stderr
    return home, env


def _run(line: str, cwd: Path, env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _check(line: str, result: subprocess.CompletedProcess, ran: str) -> None:
    assert result.returncode == 0, (
        f"documented command failed: {line}\n(ran: {ran})\n"
        f"--- stdout ---\n{result.stdout[-3000:]}\n--- stderr ---\n{result.stderr[-3000:]}"
    )


def _as_help(words: list[str]) -> str:
    """`python manage.py NAME ...` -> `python manage.py NAME --help`; `python -m M ...` likewise."""
    if words[:2] == ["python", "manage.py"]:
        return shlex.join(words[:3] + ["--help"])
    if words[:2] == ["python", "-m"]:
        return shlex.join(words[:3] + ["--help"])
    raise AssertionError(f"no --help form for {shlex.join(words)}")


def _execute(line: str, home: Path, env: dict, *, help_only: bool) -> None:
    words = shlex.split(line)
    if words[0] == "make":
        result = _run(f"make -n {shlex.join(words[1:])}", ROOT, env, timeout=120)
        _check(line, result, "make -n")
        return
    if words[0] == "source":
        assert words[1] == ".venv/bin/activate", line
        assert (Path(sys.prefix) / "bin" / "activate").exists(), "no virtual environment here"
        return
    if words[0] == "export":
        for assignment in words[1:]:
            name, _, value = assignment.partition("=")
            env[name] = value
        return
    assert words[0] == "python", f"a tutorial command this test does not know: {line}"
    command_name = words[2] if len(words) > 2 else ""
    if help_only and words[:2] == ["python", "manage.py"] and command_name in FIRST_STUDY_RUN:
        help_only = False
    if help_only or command_name in NEVER_RETURNS_OR_ASKS:
        ran = _as_help(words)
        result = _run(ran, home, env, timeout=300)
        _check(line, result, ran)
        assert "usage:" in result.stdout
        return
    ran = line
    if words[:3] == ["python", "manage.py", "demo"]:
        ran = shlex.join(words + SMALL_DEMO)
    if words[:3] == ["python", "manage.py", "demo_clips"]:
        ran = f"{line} {shlex.join(SMALL_DEMO_CLIPS)}"
    result = _run(ran, home, env)
    _check(line, result, ran)


def test_every_tutorial_command_works_as_written(sandbox):
    home, env = sandbox
    env = dict(env)
    pages = {p.name for p in TUTORIALS.glob("*.md")}
    assert pages == set(RUN) | set(HELP_ONLY), "a new tutorial: add it to RUN or HELP_ONLY"
    for name in RUN:
        commands = bash_commands((TUTORIALS / name).read_text())
        assert commands, f"{name} shows no command"
        for line in commands:
            _execute(line, home, env, help_only=False)
    # what the demo tutorial promises to leave behind
    assert (home / "report.html").stat().st_size > 100_000
    assert (home / "tables.zip").exists()
    assert (home / "var" / "runs" / "msi" / "best").is_dir()
    first_env = dict(env, HOME=str(home))  # `~/clips` is the sandbox's
    first = bash_commands((TUTORIALS / "first-study.md").read_text())
    assert [c for c in first if c.split()[2:3] and c.split()[2] in FIRST_STUDY_RUN]
    for line in first:
        _execute(line, home, first_env, help_only=True)
    # what steps 2 and 3 leave: clips with a caption of every kind the paper's conditions use
    counted = _run(
        'python manage.py shell -c "from generation.models import Caption, Clip; '
        "print(Clip.objects.count(), sorted(set(Caption.objects.filter("
        "status='approved').values_list('kind', flat=True))))\"",
        home,
        first_env,
        timeout=120,
    )
    _check("count the imported clips and captions", counted, "manage.py shell -c")
    assert counted.stdout.split("\n")[-2] == "2 ['fusion', 'msi_pred', 'music', 'video']"


def test_the_readme_shows_only_commands_the_demo_tutorial_runs():
    readme = bash_commands((ROOT / "README.md").read_text())
    tested = set(bash_commands((TUTORIALS / "demo.md").read_text()))
    for line in readme:
        if line in tested:
            continue
        words = shlex.split(line)
        assert words[0] == "make", f"README command no test runs: {line}"
        dry = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, timeout=60)
        assert dry.returncode == 0, f"README: {line} is not a make target"
