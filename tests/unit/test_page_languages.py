"""Which language a page speaks, and catalogs that translate every word the pages use."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from ledger.amounts import LANGUAGES
from mobile_web.i18n import choose, from_accept_language, translations
from mobile_web.visitor import local_path

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "mobile_web" / "translations"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("tr-TR,tr;q=0.9,en-US;q=0.8", "tr"),
        ("de-DE, en;q=0.5, ar;q=0.7", "ar"),
        ("en-GB;q=0.2, nl;q=0.1", "en"),
        ("fr, de", None),
        ("ar;q=0, en;q=0.1", "en"),
        ("en;q=banana, tr", "tr"),
        ("", None),
        (None, None),
    ],
)
def test_the_browsers_most_preferred_spoken_language_is_chosen(
    header: str | None, language: str | None
) -> None:
    assert from_accept_language(header) == language


def test_this_devices_choice_beats_the_persons_which_beats_the_browsers() -> None:
    assert choose("ar", "tr", "en") == "ar"
    assert choose(None, "tr", "en") == "tr"
    assert choose("xx", None, "en-GB") == "en"
    assert choose(None, None, None) == "nl"


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("/m/history?before=12", "/m/history?before=12"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/" + "a" * 300, "/"),
        (None, "/"),
    ],
)
def test_a_return_path_stays_on_this_site(path: str | None, kept: str) -> None:
    assert local_path(path) == kept


def _messages_in_the_sources() -> set[str]:
    method_map = [("mobile_web/**.py", "python"), ("mobile_web/templates/**.html", "jinja2")]
    options = {"mobile_web/templates/**.html": {"trim_blocks": "True", "lstrip_blocks": "True"}}
    keywords = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2)}
    found = extract_from_dir(str(ROOT), method_map, options, keywords=keywords)
    # A plural message is known by its singular id (its catalog entry holds both forms).
    return {message if isinstance(message, str) else message[0] for _, _, message, _, _ in found}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_of_the_pages_is_translated(language: str) -> None:
    wanted = _messages_in_the_sources()
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po)
    translated = {
        m.id if isinstance(m.id, str) else m.id[0]
        for m in catalog
        if m.id and m.string and all(m.string) and not m.fuzzy
    }

    assert len(wanted) > 50
    assert wanted - translated == set()
    assert translations(language).gettext("Pay") == catalog["Pay"].string
