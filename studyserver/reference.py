"""The settings and command reference of the documentation, generated from the code.

`mkdocs build` calls :func:`settings_markdown`, :func:`commands_markdown` and :func:`api_markdown`
(through ``docs/_gen/reference.py``), so the pages list exactly the environment variables the code
reads, the management commands Django registers (with their ``--help``) and the API the OpenAPI
schema describes. Descriptions of the variables are kept in ``docs/_data/settings.yml``; a test
checks that every variable read has one and that no description names a variable nobody reads.
"""

from __future__ import annotations

import ast
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# The settings module and the few places that read the environment directly (gunicorn's config,
# the demo command, the model hub...). Each is scanned for the typed readers of studyserver.env
# and for os.environ.get / os.environ[...] / os.getenv with a literal name.
SCANNED = [
    "studyserver/settings.py",
    "studyserver/gunicorn.conf.py",
    "studyserver/ops.py",
    "studyserver/dotenv.py",
    "survey/management/commands/demo.py",
    "modeling/hub.py",
    "modeling/captioners/composer.py",
    "analysis/metrics/text.py",
    "analysis/metrics/embeddings.py",
]
READERS = {
    "env_str": "text",
    "env_bool": "boolean",
    "env_int": "integer",
    "env_float": "number",
    "env_list": "comma-separated list",
    "env_choice": "one of",
}
DESCRIPTIONS = BASE_DIR / "docs" / "_data" / "settings.yml"
# Variables read through a name held in a field (not a literal at the read), with the file that
# names them; a test checks that each name still appears in its file.
INDIRECT = {
    "MUSISCENE_LLM_API_KEY": "modeling/captioners/composer.py",
}
# Variables of the platform or other libraries that the code reads but does not own.
NOT_OURS = {"XDG_CACHE_HOME"}


@dataclass
class EnvVar:
    name: str
    kind: str
    default: str
    where: list[str] = field(default_factory=list)


def _literal_name(node: ast.AST, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    return None


def _is_environ(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def scan_file(path: Path) -> list[EnvVar]:
    """Every environment variable that ``path`` reads, with its reader and default as written."""
    source = path.read_text()
    tree = ast.parse(source)
    rel = str(path.relative_to(BASE_DIR))
    # module-level NAME = "VARIABLE" constants (modeling/hub.py: MODEL_DIR_ENV = ...)
    constants: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant):
                if isinstance(node.value.value, str) and re.fullmatch(
                    r"[A-Z][A-Z0-9_]+", node.value.value
                ):
                    constants[target.id] = node.value.value
    found: list[EnvVar] = []

    def seg(node: ast.AST | None) -> str:
        return "" if node is None else (ast.get_source_segment(source, node) or "")

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            fname = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if fname in READERS and node.args:
                name = _literal_name(node.args[0], constants)
                if name:
                    default = seg(node.args[1]) if len(node.args) > 1 else ""
                    for kw in node.keywords:
                        if kw.arg == "default":
                            default = seg(kw.value)
                    kind = READERS[fname]
                    if fname == "env_choice" and len(node.args) > 2:
                        kind = "one of " + seg(node.args[2])
                    found.append(EnvVar(name, kind, default or "(required)", [rel]))
                continue
            # os.environ.get("X", default) / os.getenv("X") / os.environ.setdefault("X", ...)
            is_get = (
                isinstance(func, ast.Attribute)
                and func.attr in ("get", "setdefault")
                and _is_environ(func.value)
            ) or (
                isinstance(func, ast.Attribute)
                and func.attr == "getenv"
                and isinstance(func.value, ast.Name)
                and func.value.id == "os"
            )
            if is_get and node.args:
                name = _literal_name(node.args[0], constants)
                if name and name != "DJANGO_SETTINGS_MODULE":
                    default = seg(node.args[1]) if len(node.args) > 1 else "(unset)"
                    found.append(EnvVar(name, "text", default, [rel]))
        elif isinstance(node, ast.Subscript) and _is_environ(node.value):
            name = _literal_name(node.slice, constants)
            if name:
                found.append(EnvVar(name, "text", "(required)", [rel]))
    return found


def environment_variables() -> dict[str, EnvVar]:
    """Every variable read by the scanned files, by name (sorted), with every place that reads
    it."""
    merged: dict[str, EnvVar] = {}
    for rel in SCANNED:
        path = BASE_DIR / rel
        if not path.exists():
            continue
        for var in scan_file(path):
            if var.name in NOT_OURS:
                continue
            if var.name in merged:
                known = merged[var.name]
                for w in var.where:
                    if w not in known.where:
                        known.where.append(w)
            else:
                merged[var.name] = var
    for name, rel in INDIRECT.items():
        merged.setdefault(name, EnvVar(name, "text", "(unset)", [rel]))
    return dict(sorted(merged.items()))


def settings_variables() -> set[str]:
    """The names read in studyserver/settings.py itself (what the test holds the page to)."""
    return {v.name for v in scan_file(BASE_DIR / "studyserver" / "settings.py")}


def load_descriptions() -> dict[str, dict]:
    """``docs/_data/settings.yml``: NAME -> {group, text} (a tiny YAML subset, no dependency)."""
    out: dict[str, dict] = {}
    group = "Other"
    current: str | None = None
    for raw in DESCRIPTIONS.read_text().splitlines():
        line = raw.rstrip()
        if not line or line.lstrip().startswith("#"):
            continue
        if line.startswith("== ") and line.endswith(" =="):
            group = line[3:-3]
            continue
        m = re.match(r"^([A-Z][A-Z0-9_]*):\s*(.*)$", line)
        if m:
            current = m.group(1)
            out[current] = {"group": group, "text": m.group(2).strip()}
        elif current and line.startswith("  "):
            out[current]["text"] = (out[current]["text"] + " " + line.strip()).strip()
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def settings_markdown() -> str:
    variables = environment_variables()
    notes = load_descriptions()
    groups: dict[str, list[str]] = {}
    for name in variables:
        groups.setdefault(notes.get(name, {}).get("group", "Not yet described"), []).append(name)
    order = list(dict.fromkeys(n["group"] for n in notes.values())) + ["Not yet described"]
    buf = io.StringIO()
    buf.write(
        "# Settings (environment variables)\n\n"
        "This page is generated when the site is built: it lists every environment variable "
        "that `studyserver/settings.py` and the few modules that read the environment directly "
        f"read ({len(variables)} variables). The reader gives the type and the default as "
        "written in the code; a malformed value stops the process with a message naming the "
        "variable.\n\n"
        "Where the values come from, strongest first: the process environment (what systemd, "
        "Docker or your shell sets), then a `.env` file in the project folder (written by "
        "`make demo` on a laptop, see [Local set-up](../how-to/local-env.md)), then the "
        "defaults below. Production reads the real environment; a variable set there always "
        "wins over `.env`.\n\n"
    )
    for group in order:
        names = groups.get(group)
        if not names:
            continue
        buf.write(
            f"## {group}\n\n| variable | type | default | what it does |\n|---|---|---|---|\n"
        )
        for name in names:
            v = variables[name]
            text = notes.get(name, {}).get("text", "")
            where = ", ".join(f"`{w}`" for w in v.where)
            if v.where != ["studyserver/settings.py"]:
                text = f"{text} (read in {where})" if text else f"read in {where}"
            buf.write(f"| `{name}` | {_cell(v.kind)} | `{_cell(v.default)}` | {_cell(text)} |\n")
        buf.write("\n")
    return buf.getvalue()


# --- management commands ------------------------------------------------------------------------

# Django's own commands that the documentation uses; the project's commands are all listed.
DJANGO_COMMANDS_DOCUMENTED = (
    "migrate",
    "createsuperuser",
    "changepassword",
    "drf_create_token",
    "collectstatic",
    "check",
    "runserver",
    "spectacular",
)
PROJECT_APPS = ("studyserver", "generation", "survey", "analysis", "modeling")


def management_commands() -> dict[str, tuple[str, str]]:
    """name -> (app, help text) for the project's commands and the Django ones the docs use."""
    from django.core.management import get_commands, load_command_class
    from django.core.management.base import CommandParser, DjangoHelpFormatter

    out: dict[str, tuple[str, str]] = {}
    for name, app in sorted(get_commands().items()):
        project = app.split(".")[0] in PROJECT_APPS
        if not project and name not in DJANGO_COMMANDS_DOCUMENTED:
            continue
        command = load_command_class(app, name)
        # The command's own arguments only; Django's common options (--verbosity, --settings,
        # --traceback, ...) are the same for every command and are described once on the page.
        parser = CommandParser(
            prog=f"manage.py {name}",
            description=command.help or None,
            formatter_class=DjangoHelpFormatter,
            called_from_command_line=False,
        )
        command.add_arguments(parser)
        out[name] = (app, parser.format_help())
    return out


def commands_markdown() -> str:
    commands = management_commands()
    buf = io.StringIO()
    buf.write(
        "# Management commands\n\n"
        "This page is generated when the site is built, from Django's command registry: each "
        "command's arguments as `python manage.py COMMAND --help` prints them. The "
        "project's own commands come first, then the Django commands the guides use.\n\n"
        "Run them from the project folder as `.venv/bin/python manage.py COMMAND` (or "
        "`python manage.py COMMAND` with the virtual environment active). After `make demo` a "
        "`.env` supplies the settings, so they work as written; in production the environment "
        "does.\n\n"
        "Every command also takes Django's common options, left out below: `-v {0,1,2,3}` "
        "(verbosity), `--settings`, `--pythonpath`, `--traceback`, `--no-color`, "
        "`--force-color`, `--skip-checks` and `--version`.\n\n"
    )
    own = [n for n, (app, _) in commands.items() if app.split(".")[0] in PROJECT_APPS]
    django = [n for n in commands if n not in own]
    for title, names in (("The project's commands", own), ("Django's commands", django)):
        buf.write(f"## {title}\n\n")
        for name in names:
            app, text = commands[name]
            buf.write(f"### {name}\n\nFrom `{app}`.\n\n```text\n{text.rstrip()}\n```\n\n")
    return buf.getvalue()


# --- the researcher API -------------------------------------------------------------------------


def openapi_schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def api_markdown(schema: dict) -> str:
    info = schema.get("info", {})
    buf = io.StringIO()
    buf.write(
        f"# The researcher API\n\n"
        f"{info.get('description', '')}\n\n"
        "This page is generated when the site is built from the OpenAPI schema that the server "
        "itself serves at `/api/schema/` (the schema is also [here as JSON](openapi.json)). "
        "Every endpoint needs a token (`Authorization: Token ...`) or an admin session; a "
        "researcher sees only the studies they are on. How to get a token: "
        "[Accounts](../how-to/researcher/accounts.md).\n\n"
        "```bash\n"
        'curl -H "Authorization: Token $TOKEN" http://127.0.0.1:8000/api/studies/\n'
        "```\n\n"
    )
    for path, ops in sorted(schema.get("paths", {}).items()):
        for method, op in ops.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            buf.write(f"## `{method.upper()} {path}`\n\n")
            text = (op.get("description") or op.get("summary") or "").strip()
            if text:
                buf.write(text + "\n\n")
            params = op.get("parameters", [])
            if params:
                buf.write(
                    "| parameter | in | required | type | description |\n|---|---|---|---|---|\n"
                )
                for p in params:
                    sch = p.get("schema", {})
                    typ = sch.get("type", "")
                    if "enum" in sch:
                        typ += " (" + ", ".join(str(e) for e in sch["enum"]) + ")"
                    buf.write(
                        f"| `{p['name']}` | {p.get('in', '')} | "
                        f"{'yes' if p.get('required') else 'no'} | {_cell(typ)} | "
                        f"{_cell(p.get('description', ''))} |\n"
                    )
                buf.write("\n")
            responses = op.get("responses", {})
            if responses:
                buf.write("Responses: ")
                buf.write(
                    ", ".join(
                        f"`{code}`"
                        + (f" {_cell(r.get('description', ''))}" if r.get("description") else "")
                        for code, r in responses.items()
                    )
                )
                buf.write(".\n\n")
    return buf.getvalue()
