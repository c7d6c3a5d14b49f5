"""The translation catalogs: complete, current with the source strings, and correct in
placeholders and plural forms."""

from __future__ import annotations

import gettext
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from kiosk.core.errors import ConfigError
from kiosk.ui import strings as S
from kiosk.ui.i18n import (
    BY_CODE,
    LANGUAGES,
    LOCALE_DIR,
    Texts,
    catalog_path,
    match_language,
    translations,
)

TRANSLATED = [lang for lang in LANGUAGES if lang.code != "en"]
FIELD = re.compile(r"\{(\w*)\}")
ROOT = Path(__file__).resolve().parent.parent


def catalog(lang_catalog: str):  # type: ignore[no-untyped-def]
    with (LOCALE_DIR / lang_catalog / "LC_MESSAGES" / "kiosk.po").open("rb") as f:
        return read_po(f)


def source_messages() -> set[str]:
    with (LOCALE_DIR / "kiosk.pot").open("rb") as f:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}


def test_template_is_current_with_the_source(tmp_path: Path) -> None:
    out = tmp_path / "kiosk.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "N_",
            "-k",
            "NP_:1,2",
            "--no-location",
            "-o",
            str(out),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with out.open("rb") as f:
        fresh = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    assert fresh == source_messages(), "run the extract command in docs/translating.md"


@pytest.mark.parametrize("lang", TRANSLATED, ids=lambda lang: lang.code)
def test_catalog_is_complete_and_clean(lang) -> None:  # type: ignore[no-untyped-def]
    cat = catalog(lang.catalog)
    assert not cat.fuzzy
    ids = set()
    for message in cat:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        ids.add(key)
        assert not message.fuzzy, key
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"untranslated: {key!r}"
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = sorted(FIELD.findall(sources[0]))
        for text in strings:
            assert sorted(FIELD.findall(text)) == wanted, f"{key!r} -> {text!r}"
        if isinstance(message.id, tuple):
            assert len(strings) == cat.num_plurals, key
    assert ids == source_messages()
    assert list(cat.check()) == []


@pytest.mark.parametrize("lang", TRANSLATED, ids=lambda lang: lang.code)
def test_compiled_catalog_is_current_with_its_source(lang) -> None:  # type: ignore[no-untyped-def]
    """The .mo the kiosk reads says what its .po says (rebuild: `make catalogs`)."""
    fresh = io.BytesIO()
    write_mo(fresh, catalog(lang.catalog), use_fuzzy=False)
    fresh.seek(0)
    want = gettext.GNUTranslations(fresh)
    with catalog_path(lang).open("rb") as f:
        built = gettext.GNUTranslations(f)
    assert built._catalog == want._catalog, f"{catalog_path(lang)} is stale: run `make catalogs`"  # type: ignore[attr-defined]
    assert [built.ngettext("a", "b", n) for n in range(202)] == [
        want.ngettext("a", "b", n) for n in range(202)
    ]


def test_a_missing_catalog_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import kiosk.ui.i18n as i18n

    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    translations.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"Polski \(pl\) catalog .*kiosk\.mo cannot be read"):
            translations(BY_CODE["pl"])
    finally:
        translations.cache_clear()


@pytest.mark.parametrize("lang", TRANSLATED, ids=lambda lang: lang.code)
def test_screens_speak_the_language(lang) -> None:  # type: ignore[no-untyped-def]
    t = Texts(lang)
    assert t(S.NOT_ACCEPTED) != S.NOT_ACCEPTED
    assert t(S.CANT_CHECK) not in {t(S.NOT_ACCEPTED), S.CANT_CHECK}
    assert "{" not in t.plural(S.BACK_TO_START, 5)


def test_plural_forms_follow_the_language() -> None:
    pl = Texts(BY_CODE["pl"])
    one, few, many = (pl.plural(S.BACK_TO_START, n) for n in (1, 3, 5))
    assert len({one, few, many}) == 3
    assert pl.plural(S.BACK_TO_START, 22) == few.replace("3", "22")
    ru = Texts(BY_CODE["ru"])
    assert ru.plural(S.BACK_TO_START, 21) == ru.plural(S.BACK_TO_START, 1).replace("1", "21")
    ar = Texts(BY_CODE["ar"])
    # Arabic: the dual (2), the plural of 3-10 and the counted singular of 11-99 all differ
    assert len({ar.plural(S.BENEFITS, n).replace(str(n), "#") for n in (2, 3, 11)}) == 3
    assert Texts(BY_CODE["en"]).plural(S.BACK_TO_START, 1) == "Back to the start in 1 second"


def test_numbers_and_dates_per_locale() -> None:
    from datetime import date

    day = date(2027, 3, 4)
    assert Texts(BY_CODE["en"]).date(day) == "March 4, 2027"
    assert Texts(BY_CODE["es"]).date(day) == "4 de marzo de 2027"
    assert Texts(BY_CODE["ko"]).date(day).startswith("2027년")
    assert Texts(BY_CODE["es"]).number(1234) == "1.234"
    assert Texts(BY_CODE["en"]).number(1234) == "1,234"


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("es", "es"),
        ("es-MX", "es"),
        ("zh-TW", "zh-Hant"),
        ("zh-Hant-HK", "zh-Hant"),
        ("zh-CN", "zh-Hans"),
        ("zh", "zh-Hans"),
        ("fil-PH", "tl"),
        ("AR", "ar"),
        ("uk-UA", "uk"),
    ],
)
def test_card_language_tags_match(tag: str, code: str) -> None:
    found = match_language(tag, LANGUAGES)
    assert found is not None and found.code == code


@pytest.mark.parametrize("tag", [None, "", "de", "x" * 40, "zh-Hant"])
def test_unoffered_languages_do_not_match(tag: str | None) -> None:
    offered = (BY_CODE["en"], BY_CODE["es"], BY_CODE["zh-Hans"])
    assert match_language(tag, offered) is None


def test_english_needs_no_catalog() -> None:
    assert translations(BY_CODE["en"]).gettext(S.WELCOME) == S.WELCOME
