"""Each catalog's glossary (assets/locale/<catalog>/glossary.tsv, see docs/translating.md) is
kept: a translation whose English contains a glossary term uses that term's translation.

Glossaries are found on disk, so a language gains the check by gaining the file."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from kiosk.ui.i18n import LOCALE_DIR

HEADER = ["term", "translation", "forms", "note"]
# The minimum; a row counts for a concept when one of its English
# alternatives ("gate/turnstile" -> gate, turnstile) is one of the concept's.
REQUIRED = (
    "card",
    "city ID card",
    "staff",
    "kiosk",
    "valid",
    "benefit",
    "technician",
    "trust data",
    "out of date",
    "gate/turnstile",
    "pass",
    "camera",
    "language",
    "check",
    "refused/rejected",
    "specimen",
)
GLOSSARIES = sorted(LOCALE_DIR.glob("*/glossary.tsv"))


class GlossaryError(ValueError):
    pass


@dataclass(frozen=True)
class Term:
    term: str
    english: tuple[str, ...]
    forms: tuple[str, ...]

    def in_source(self, text: str) -> bool:
        # word boundaries so "pass" is not found in "passback"; an English plural counts
        return any(
            re.search(rf"\b{re.escape(word)}(?:s|es)?\b", text, re.IGNORECASE)
            for word in self.english
        )

    def in_translation(self, text: str) -> bool:
        # substrings, not words: inflected stems and scripts without spaces (CJK) must match
        folded = text.casefold()
        return any(form.casefold() in folded for form in self.forms)


def alternatives(term: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in term.split("/") if word.strip())


def read_glossary(path: Path) -> list[Term]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or rows[0] != HEADER:
        raise GlossaryError(f"{path}: the first line must be {'<tab>'.join(HEADER)}")
    terms: list[Term] = []
    seen: set[str] = set()
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(HEADER):
            raise GlossaryError(f"{path}:{number}: {len(row)} fields, expected {len(HEADER)}")
        term, translation, forms, _note = (cell.strip() for cell in row)
        if not term or not translation:
            raise GlossaryError(f"{path}:{number}: term and translation are required")
        if term.casefold() in seen:
            raise GlossaryError(f"{path}:{number}: {term!r} is listed twice")
        seen.add(term.casefold())
        accepted = [translation, *(form.strip() for form in forms.split("|") if form.strip())]
        terms.append(Term(term, alternatives(term), tuple(dict.fromkeys(accepted))))
    return terms


def strays(catalog: Catalog, terms: list[Term]) -> list[str]:
    """Every translation whose English uses a term while the translation uses none of its forms."""
    found = []
    for message in catalog:
        if not message.id:
            continue
        sources = (message.id,) if isinstance(message.id, str) else tuple(message.id)
        strings = message.string
        texts = (strings,) if isinstance(strings, str) else tuple(strings or ())
        for term in terms:
            if not any(term.in_source(source) for source in sources):
                continue
            for text in texts:
                if not term.in_translation(text):
                    found.append(f"{sources[0]!r} -> {text!r}: no form of {term.term!r}")
    return found


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def test_glossaries_exist() -> None:
    assert GLOSSARIES, f"no glossary.tsv under {LOCALE_DIR}"


@pytest.mark.parametrize("path", GLOSSARIES, ids=lambda path: path.parent.name)
def test_glossary_parses_and_covers_the_recurring_terms(path: Path) -> None:
    assert (path.parent / "LC_MESSAGES" / "kiosk.po").is_file(), "glossary without a catalog"
    listed = {word.casefold() for term in read_glossary(path) for word in term.english}
    missing = [need for need in REQUIRED if not listed & set(alternatives(need.casefold()))]
    assert not missing, f"{path.parent.name}: glossary lacks {missing}"


@pytest.mark.parametrize("path", GLOSSARIES, ids=lambda path: path.parent.name)
def test_catalog_follows_its_glossary(path: Path) -> None:
    catalog = read_catalog(path.parent / "LC_MESSAGES" / "kiosk.po")
    found = strays(catalog, read_glossary(path))
    assert not found, f"{path.parent.name}:\n" + "\n".join(found)


def test_a_translation_off_the_glossary_is_found(tmp_path: Path) -> None:
    glossary = tmp_path / "glossary.tsv"
    glossary.write_text(
        "term\ttranslation\tforms\tnote\n"
        "card\ttarjeta\ttarjeta|tarjetas\t\n"
        "pass\tpase\tpase|pases\t\n",
        encoding="utf-8",
    )
    catalog = Catalog(locale="en")
    catalog.add("This card has expired.", "Esta credencial está vencida.")
    catalog.add("Cards", "Tarjetas")
    catalog.add("Passback", "Antipassback")  # "pass" only as part of a word: not the term
    catalog.add(("{n} pass", "{n} passes"), ("{n} pase", "{n} boletos"))
    po = tmp_path / "kiosk.po"
    with po.open("wb") as f:
        write_po(f, catalog)
    assert strays(read_catalog(po), read_glossary(glossary)) == [
        "'This card has expired.' -> 'Esta credencial está vencida.': no form of 'card'",
        "'{n} pass' -> '{n} boletos': no form of 'pass'",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("term\ttranslation\n", "first line"),
        ("term\ttranslation\tforms\tnote\ncard\ttarjeta\n", ":2: 2 fields"),
        ("term\ttranslation\tforms\tnote\ncard\t\t\t\n", "required"),
        ("term\ttranslation\tforms\tnote\ncard\tt\t\t\nCard\tt\t\t\n", "listed twice"),
    ],
)
def test_a_broken_glossary_is_refused_with_its_line(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "glossary.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GlossaryError, match=problem):
        read_glossary(path)
