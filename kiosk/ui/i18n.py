"""Languages of the screens: gettext catalogs (compiled to .mo when the kiosk is built), plurals,
numbers and dates per locale (Babel/CLDR), and BCP 47 matching of the card's `lang` claim."""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.lists import format_list
from babel.numbers import format_decimal

from kiosk import asset
from kiosk.core.errors import ConfigError

LOCALE_DIR = asset("locale")
DOMAIN = "kiosk"


@dataclass(frozen=True)
class Language:
    code: str  # BCP 47, as in config and on cards
    catalog: str  # folder under assets/locale
    cldr: str  # Babel locale for plurals, numbers and dates
    script: str  # ISO 15924 code that picks the font chain
    name: str  # autonym, shown on the language button

    @property
    def rtl(self) -> bool:
        return self.script in {"Arab", "Aran"}

    @property
    def locale(self) -> Locale:
        return Locale.parse(self.cldr)


LANGUAGES: tuple[Language, ...] = (
    Language("en", "en", "en", "Latn", "English"),
    Language("es", "es", "es", "Latn", "Español"),
    Language("pl", "pl", "pl", "Latn", "Polski"),
    Language("zh-Hans", "zh_Hans", "zh_Hans", "Hans", "简体中文"),
    Language("zh-Hant", "zh_Hant", "zh_Hant", "Hant", "繁體中文"),
    Language("ar", "ar", "ar", "Arab", "العربية"),
    Language("hi", "hi", "hi", "Deva", "हिन्दी"),
    Language("ur", "ur", "ur", "Aran", "اردو"),
    Language("tl", "tl", "fil", "Latn", "Tagalog"),
    Language("ko", "ko", "ko", "Kore", "한국어"),
    Language("gu", "gu", "gu", "Gujr", "ગુજરાતી"),
    Language("ru", "ru", "ru", "Cyrl", "Русский"),
    Language("uk", "uk", "uk", "Cyrl", "Українська"),
    Language("vi", "vi", "vi", "Latn", "Tiếng Việt"),
)
BY_CODE = {lang.code: lang for lang in LANGUAGES}
_BY_LOWER = {lang.code.lower(): lang for lang in LANGUAGES}
ENGLISH = BY_CODE["en"]

# Tags that name a supported language differently (BCP 47 regions, scripts, legacy codes).
_ALIASES = {
    "zh": "zh-Hans",
    "zh-cn": "zh-Hans",
    "zh-sg": "zh-Hans",
    "zh-my": "zh-Hans",
    "zh-tw": "zh-Hant",
    "zh-hk": "zh-Hant",
    "zh-mo": "zh-Hant",
    "fil": "tl",
}


def language(code: str) -> Language:
    """A configured language code; unknown ones are a configuration error."""
    try:  # BCP 47 tags are case-insensitive: zh-hans is zh-Hans
        return BY_CODE[code] if code in BY_CODE else _BY_LOWER[code.lower()]
    except KeyError:
        raise ConfigError(
            f"unknown language {code!r}: supported are {', '.join(BY_CODE)}"
        ) from None


def match_language(tag: str | None, offered: tuple[Language, ...]) -> Language | None:
    """The offered language a card's BCP 47 `lang` tag asks for, or None.

    `es-MX` → `es`, `zh-TW` → `zh-Hant`, `zh-Hans-CN` → `zh-Hans`, `fil-PH` → `tl`.
    """
    if not tag or len(tag) > 35:
        return None
    subtags = tag.replace("_", "-").lower().split("-")
    candidates = ["-".join(subtags[:n]) for n in range(len(subtags), 0, -1)]
    if len(subtags) >= 2 and len(subtags[1]) == 4:  # language-Script
        candidates.insert(0, f"{subtags[0]}-{subtags[1]}")
    by_lower = {lang.code.lower(): lang for lang in offered}
    resolved = [_ALIASES.get(c, c).lower() for c in candidates]
    # A tag that names a script (itself or through its region) never falls back to another
    # script of the language: Traditional is not shown in Simplified characters.
    scripted = next((r for r in resolved if "-" in r and len(r.split("-")[1]) == 4), None)
    for candidate in resolved:
        if scripted and candidate != scripted and candidate.split("-")[0] == scripted.split("-")[0]:
            continue
        found = by_lower.get(candidate)
        if found is not None:
            return found
    return None


@cache
def translations(lang: Language) -> gettext.NullTranslations:
    """The language's catalog, as the build compiled it (setup.py; `make catalogs` in a
    checkout after editing a .po)."""
    if lang.code == "en":
        return gettext.NullTranslations()
    mo = catalog_path(lang)
    try:
        with mo.open("rb") as f:
            return gettext.GNUTranslations(f)
    except OSError as exc:  # a broken build: the kiosk will not show English instead
        raise ConfigError(
            f"the {lang.name} ({lang.code}) catalog {mo} cannot be read"
            f" ({exc.strerror or exc}): build the kiosk with pip, or run `make catalogs`"
        ) from None


def catalog_path(lang: Language) -> Path:
    """Where the language's compiled catalog is (the .po beside it is its source)."""
    return LOCALE_DIR / lang.catalog / "LC_MESSAGES" / f"{DOMAIN}.mo"


@dataclass(frozen=True)
class Texts:
    """The screens' words in one language."""

    lang: Language

    def __call__(self, message: str) -> str:
        return translations(self.lang).gettext(message)

    def plural(self, forms: tuple[str, str], n: int) -> str:
        text = translations(self.lang).ngettext(forms[0], forms[1], n)
        return text.format(n=self.number(n))

    def number(self, n: int) -> str:
        return format_decimal(n, locale=self.lang.locale)

    def join(self, items: list[str]) -> str:
        return format_list(items, locale=self.lang.locale)

    def date(self, day: date) -> str:
        return format_date(day, format="long", locale=self.lang.locale)
