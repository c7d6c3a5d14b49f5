"""Colours and proportions. Outcomes differ by shape, icon and words first; the colours are
chosen from the Okabe–Ito hues so that they also differ for red-green and blue-yellow colour
blindness, and every text colour is at least 7:1 against its background (WCAG AAA).

A result fills the whole screen with its colour, so it reads from across a lobby: light
green (dark text) for accepted, dark vermillion (white text) for not accepted, amber (dark
text) for can't check, dark grey for out of service. Accepted and refused also differ in
lightness, which every kind of colour vision sees."""

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
    accent: Colour  # icon fill (non-text: ≥ 3:1)
    icon_mark: Colour  # the check/cross/hourglass/spanner drawn on the icon
    stripe: Colour | None = None  # the band at the top edge; none where the field is the colour


WHITE: Colour = (255, 255, 255)
INK: Colour = (16, 18, 22)
QUIET_ON_DARK: Colour = (214, 218, 226)
SPECIMEN_BAND: Colour = (255, 214, 10)  # black text on it: 14:1
SELECTED: Colour = (255, 214, 10)

SKY: Colour = (86, 180, 233)  # Okabe–Ito sky blue
GREEN_FIELD: Colour = (0, 200, 140)  # Okabe–Ito bluish green, lightened for dark text
VERMILLION_FIELD: Colour = (160, 40, 0)  # Okabe–Ito vermillion, darkened for white text
AMBER_FIELD: Colour = (240, 170, 0)  # Okabe–Ito orange: "can't check" is never a refusal
GREY_FIELD: Colour = (50, 50, 56)

SCHEMES: dict[Outcome, Scheme] = {
    Outcome.IDLE: Scheme((17, 24, 39), WHITE, QUIET_ON_DARK, SKY, INK, SKY),
    Outcome.READING: Scheme((17, 24, 39), WHITE, QUIET_ON_DARK, SKY, INK, SKY),
    # On the light fields the secondary text stays ink: nothing lighter keeps 7:1.
    Outcome.ACCEPTED: Scheme(GREEN_FIELD, INK, INK, INK, GREEN_FIELD),
    Outcome.REJECTED: Scheme(VERMILLION_FIELD, WHITE, WHITE, WHITE, VERMILLION_FIELD),
    Outcome.CANT_CHECK: Scheme(AMBER_FIELD, INK, INK, INK, AMBER_FIELD),
    Outcome.OUT_OF_SERVICE: Scheme(GREY_FIELD, WHITE, QUIET_ON_DARK, WHITE, GREY_FIELD),
    Outcome.TECHNICIAN: Scheme((12, 12, 14), WHITE, QUIET_ON_DARK, SKY, INK, SKY),
}
# The outcomes that fill the screen with their colour.
FIELDS = (Outcome.ACCEPTED, Outcome.REJECTED, Outcome.CANT_CHECK, Outcome.OUT_OF_SERVICE)


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


# Proportions of the screen height (landscape; the width in portrait) used by the painter.
OUTCOME_WORD = 1 / 5  # the outcome word as large as its line allows...
OUTCOME_WORD_FLOOR = 1 / 8  # ...and never below 1/8 of the height (1/10 of a portrait width)
TITLE = 1 / 11
BODY = 1 / 15
ENGLISH = 1 / 20
SMALL = 1 / 22
LEAST = 1 / 40  # data of any length (a holder's name, a site's name) shrinks to this
