"""The shipped translations: complete, not fuzzy, compiled, and covering every text the
participant pages use (templates, Python, and the scripts' texts embedded from survey.texts)."""

from __future__ import annotations

import gettext
import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_python
from babel.messages.pofile import read_po
from django.conf import settings
from django.utils.translation import to_locale
from django.utils.translation.template import templatize

ROOT = Path(settings.BASE_DIR)
LOCALES = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
#: Where the participant pages' texts live; makemessages reads the same (docs: languages.md).
SOURCES = sorted((ROOT / "templates" / "survey").glob("*.html")) + sorted(
    (ROOT / "survey").glob("*.py")
)
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
GETTEXT_FUNCS = ["_", "gettext", "gettext_lazy", "ngettext", "pgettext"]


def _catalog(code: str):
    path = ROOT / "locale" / to_locale(code) / "LC_MESSAGES" / "django.po"
    assert path.exists(), f"no translation for {code}: {path}"
    with path.open("rb") as f:
        return path, read_po(f)


def _used_msgids() -> set[str]:
    """Every msgid the participant pages' sources ask for (singular of a plural pair)."""
    used: set[str] = set()
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".html":
            text = templatize(text, origin=str(path))
        for _line, _func, args, _comments in extract_python(
            io.BytesIO(text.encode()), GETTEXT_FUNCS, [], {}
        ):
            first = args[0] if isinstance(args, tuple) else args
            if isinstance(first, str) and first:
                used.add(first)
    return used


@pytest.mark.parametrize("code", LOCALES)
def test_it_ships_every_text_translated_and_none_fuzzy(code):
    path, catalog = _catalog(code)
    assert not catalog.fuzzy, f"{path}: the header is marked fuzzy"
    problems = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        if isinstance(message.id, tuple) and len(strings) != catalog.num_plurals:
            problems.append(f"{len(strings)} forms, {catalog.num_plurals} wanted: {message.id!r}")
        if not all(s.strip() for s in strings):
            problems.append(f"untranslated: {message.id!r}")
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for s in strings:
            got = set(PLACEHOLDER.findall(s))
            # a form for exactly one may leave out the count ("the question"); nothing else may
            if not got <= wanted or (len(ids) == 1 and got != wanted):
                problems.append(f"placeholders {sorted(got)} vs {sorted(wanted)}: {s!r}")
    assert not problems, f"{path}:\n" + "\n".join(problems)


@pytest.mark.parametrize("code", LOCALES)
def test_the_compiled_catalog_matches_its_source(code):
    """The committed .mo is the .po compiled (after editing a .po: compilemessages)."""
    path, catalog = _catalog(code)
    with path.with_suffix(".mo").open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            for n in (1, 2, 3, 11, 100):
                index = gettext.c2py(catalog.plural_expr)(n)  # the catalog's Plural-Forms
                assert compiled.ngettext(*message.id, n) == message.string[index], (code, n)
        else:
            assert compiled.gettext(message.id) == message.string, (code, message.id)


@pytest.mark.parametrize("code", LOCALES)
def test_every_text_the_pages_use_is_in_the_catalog(code):
    _path, catalog = _catalog(code)
    have = {m.id[0] if isinstance(m.id, tuple) else m.id for m in catalog if m.id}
    missing = sorted(_used_msgids() - have)
    assert not missing, (
        f"not in locale/{to_locale(code)}: {missing} (run makemessages, translate, compilemessages)"
    )


def test_the_scripts_take_every_text_from_the_page():
    """The participant scripts show no English of their own: their texts come from the page
    (``survey.texts``, embedded as JSON), so they are translated with everything else."""
    english_literal = re.compile(r'textContent\s*=\s*"[A-Za-z]')
    for path in sorted((ROOT / "static" / "survey").glob("*.js")):
        assert not english_literal.search(path.read_text(encoding="utf-8")), path.name
