"""Every screen with sample content, by name: what `kiosk screens` renders for translators
and reviewers, and what the layout tests check in every language and size."""

from __future__ import annotations

from datetime import date

from kiosk.core.reasons import Reason
from kiosk.ui import strings as S
from kiosk.ui.i18n import LANGUAGES, Language
from kiosk.ui.screens import (
    Frame,
    Idle,
    OutOfService,
    Problem,
    Reading,
    Result,
    Screen,
    Staff,
    Technician,
)
from kiosk.ui.theme import Outcome

SITE = "Harold Washington Library Center, north entrance"

# Invented names in the scripts residents write them in (as on the specimen cards).
_NAMES = {
    "es": "Ana Sofía Reyes",
    "zh-Hans": "王小明",
    "zh-Hant": "陳美玲",
    "ar": "ليلى حداد",
    "ur": "عائشہ خان",
    "hi": "प्रिया शर्मा",
    "gu": "અમિત પટેલ",
    "ko": "김민지",
    "ru": "Ирина Петрова",
    "uk": "Олена Коваль",
    "vi": "Nguyễn Thị Hương",
    "tl": "Maria Santos",
    "pl": "Jan Kowalski",
}
_REFUSALS = [r for r in Reason if r not in (Reason.ACCEPTED, Reason.TRUST_STALE)]
TECHNICIAN_ITEMS = S.TECHNICIAN_ITEMS


def staff_sample(lang: Language) -> Staff:
    return Staff(
        name=_NAMES.get(lang.code, "Alex Morgan"),
        age_flags=("18+", "21+"),
        benefits=("library", "museum", "transit"),
        valid_until=date(2030, 6, 30),
    )


def long_staff_sample(lang: Language) -> Staff:
    """The most a card can put on the staff panel: a 64-character name (the card format's
    limit) in the language's script, every benefit and two codes the kiosk has no words for,
    and both dates."""
    return Staff(
        name=" ".join([_NAMES.get(lang.code, "Alex Morgan")] * 64)[:64],
        age_flags=("18+", "21+"),
        benefits=(*S.BENEFIT_NAMES, "food-pantry", "x" * 32),
        dob=date(1990, 5, 17),
        valid_until=date(2030, 6, 30),
    )


def sample(name: str, lang: Language, languages: tuple[Language, ...] = LANGUAGES) -> Screen:
    frame = Frame(site=SITE)
    if name == "idle":
        return Idle(languages, lang, frame)
    if name == "reading":
        return Reading(lang, frame)
    if name == "accepted":
        return Result(Outcome.ACCEPTED, Reason.ACCEPTED, lang, seconds_left=5, frame=frame)
    if name == "counter":
        return Result(
            Outcome.ACCEPTED,
            Reason.ACCEPTED,
            lang,
            counter=True,
            staff=staff_sample(lang),
            pass_printed=True,
            seconds_left=10,
            frame=frame,
        )
    if name == "counter-long":
        return Result(
            Outcome.ACCEPTED,
            Reason.ACCEPTED,
            lang,
            counter=True,
            staff=long_staff_sample(lang),
            pass_printed=True,
            seconds_left=10,
            frame=frame,
        )
    if name == "grace":
        return Result(
            Outcome.ACCEPTED, Reason.ACCEPTED, lang, stale_warning=True, seconds_left=5, frame=frame
        )
    if name == "specimen":
        return Result(
            Outcome.ACCEPTED,
            Reason.ACCEPTED,
            lang,
            seconds_left=5,
            frame=Frame(site=SITE, specimen=True),
        )
    if name == "cant-check":
        return Result(Outcome.CANT_CHECK, Reason.TRUST_STALE, lang, seconds_left=8, frame=frame)
    if name == "out-of-service":
        return OutOfService((Problem.CAMERA, Problem.GATE), lang, frame)
    if name == "technician":
        return Technician(
            TECHNICIAN_ITEMS,
            4,
            S.TRUST_STATUS,
            (
                "bundle v7, issued 2 h ago, expires in 28 d",
                "list 1: 131,072 slots, 3 h old",
                "clock floor 2026-11-25 09:12 UTC",
            ),
            language=lang,
            frame=frame,
        )
    if name.startswith("rejected"):
        reason = (
            Reason.EXPIRED if name == "rejected" else Reason[name[9:].upper().replace("-", "_")]
        )
        return Result(Outcome.REJECTED, reason, lang, seconds_left=5, frame=frame)
    raise KeyError(name)


def names() -> list[str]:
    return [
        "idle",
        "reading",
        "accepted",
        "counter",
        "counter-long",
        "grace",
        "specimen",
        "rejected",
        "cant-check",
        "out-of-service",
        "technician",
        *(f"rejected-{r.lower().replace('_', '-')}" for r in _REFUSALS),
    ]
