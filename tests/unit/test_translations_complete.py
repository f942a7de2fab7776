"""Every interface string is translated into lb, fr, de and en, and the catalogues are up to date."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("lb", "fr", "de", "en")
DOMAINS = ("django", "djangojs")
SOURCES = ("manage.py", "assistant", "ingestion", "portal", "review", "templates", "static")
MAKEMESSAGES_IGNORES = ("--ignore=.venv", "--ignore=var", "--ignore=tests")


def _live(po: polib.POFile) -> list[polib.POEntry]:
    return [e for e in po if not e.obsolete]


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_has_no_untranslated_or_fuzzy_entry(language: str, domain: str) -> None:
    po = polib.pofile(str(ROOT / "locale" / language / "LC_MESSAGES" / f"{domain}.po"))
    assert not po.metadata_is_fuzzy, "the header is fuzzy: compilemessages would drop its plural rule"
    untranslated = [e.msgid for e in _live(po) if not e.translated()]
    fuzzy = [e.msgid for e in _live(po) if "fuzzy" in e.flags]
    empty_plurals = [e.msgid for e in _live(po) if e.msgid_plural and not all(e.msgstr_plural.values())]
    assert untranslated == [] and fuzzy == [] and empty_plurals == []


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_compiled_catalogue_matches_its_po_file(language: str, domain: str) -> None:
    folder = ROOT / "locale" / language / "LC_MESSAGES"
    po = {(e.msgid, e.msgstr) for e in _live(polib.pofile(str(folder / f"{domain}.po"))) if not e.msgid_plural}
    mo = {(e.msgid, e.msgstr) for e in polib.mofile(str(folder / f"{domain}.mo")) if not e.msgid_plural}
    assert po - mo == set(), "run `manage.py compilemessages --ignore=.venv`"


def test_makemessages_would_add_no_new_string(tmp_path: Path) -> None:
    """Run makemessages on a copy of the sources: the committed catalogues must already hold every msgid."""
    copy = tmp_path / "project"
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "demo_kb"))
        else:
            copy.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    shutil.copytree(ROOT / "locale" / "en", copy / "locale" / "en")
    env = {**os.environ, "VAR_DIR": str(tmp_path / "var"), "DJANGO_SECRET_KEY": "translations-test"}
    for domain in DOMAINS:
        subprocess.run(
            [sys.executable, "manage.py", "makemessages", "-l", "en", "-d", domain, *MAKEMESSAGES_IGNORES, "-v0"],
            cwd=copy,
            env=env,
            check=True,
        )
        regenerated = {e.msgid for e in _live(polib.pofile(str(copy / "locale/en/LC_MESSAGES" / f"{domain}.po")))}
        committed = {e.msgid for e in _live(polib.pofile(str(ROOT / "locale/en/LC_MESSAGES" / f"{domain}.po")))}
        assert regenerated - committed == set(), f"new {domain} strings: run makemessages and translate them"
        assert committed - regenerated == set(), f"stale {domain} strings: run makemessages"
