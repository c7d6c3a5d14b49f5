"""Colours and proportions. Outcomes differ by shape, icon and words first; the colours are
chosen from the Okabe–Ito set so that they also differ for red-green and blue-yellow colour
blindness, and every text colour is at least 7:1 against its background (WCAG AAA)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

Colour = tuple[int, int, int]


class Outcome(StrEnum):
    IDLE = "idle"
    READING = "reading"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANT_CHECK = "cant-check"
    OUT_OF_SERVICE = "out-of-service"
    TECHNICIAN = "technician"


@dataclass(frozen=True)
class Scheme:
    background: Colour
    text: Colour  # main text
    quiet: Colour  # secondary text (English beneath, countdown)
    accent: Colour  # icon fill and the band at the top edge (non-text: ≥ 3:1)
    icon_mark: Colour  # the check/cross/question drawn on the icon


WHITE: Colour = (255, 255, 255)
INK: Colour = (16, 18, 22)
QUIET_ON_DARK: Colour = (214, 218, 226)
SPECIMEN_BAND: Colour = (255, 214, 10)  # black text on it: 14:1
SELECTED: Colour = (255, 214, 10)

SCHEMES: dict[Outcome, Scheme] = {
    Outcome.IDLE: Scheme((17, 24, 39), WHITE, QUIET_ON_DARK, (86, 180, 233), INK),
    Outcome.READING: Scheme((17, 24, 39), WHITE, QUIET_ON_DARK, (86, 180, 233), INK),
    # Okabe–Ito bluish green on a deep teal
    Outcome.ACCEPTED: Scheme((0, 66, 56), WHITE, QUIET_ON_DARK, (0, 158, 115), WHITE),
    # Okabe–Ito vermillion on a deep brown-red
    Outcome.REJECTED: Scheme((92, 20, 8), WHITE, QUIET_ON_DARK, (213, 94, 0), WHITE),
    # Okabe–Ito orange-yellow on deep blue: "can't check" must not look like a refusal
    Outcome.CANT_CHECK: Scheme((22, 38, 92), WHITE, QUIET_ON_DARK, (230, 159, 0), INK),
    Outcome.OUT_OF_SERVICE: Scheme((40, 40, 44), WHITE, QUIET_ON_DARK, (204, 204, 204), INK),
    Outcome.TECHNICIAN: Scheme((12, 12, 14), WHITE, QUIET_ON_DARK, (86, 180, 233), INK),
}


def relative_luminance(colour: Colour) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: Colour, b: Colour) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


# Proportions of the screen height (landscape) used by the painter.
OUTCOME_WORD = 1 / 7  # the outcome word: at least 1/8 of the screen height, by test
TITLE = 1 / 11
BODY = 1 / 15
ENGLISH = 1 / 20
SMALL = 1 / 22
