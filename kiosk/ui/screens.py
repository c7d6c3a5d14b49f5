"""What each screen shows, as plain data. The app builds these from its state; the painter
draws them. Holder data appears only in `Staff`, which the app fills from the policy's
holder view (so only what the mode may show) and drops when the screen goes back to idle."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from kiosk.core.reasons import Reason
from kiosk.ui.i18n import ENGLISH, Language
from kiosk.ui.theme import Outcome


class Problem:
    CAMERA = "camera"
    GATE = "gate"
    PRINTER = "printer"
    TRUST = "trust"


@dataclass(frozen=True)
class Frame:
    """What every screen has around it."""

    site: str = ""
    specimen: bool = False  # a specimen card is shown, or the kiosk runs a specimen city


@dataclass(frozen=True)
class Idle:
    languages: tuple[Language, ...]
    language: Language  # the one the instructions are shown in now
    frame: Frame = Frame()
    outcome: Outcome = Outcome.IDLE


@dataclass(frozen=True)
class Reading:
    language: Language
    frame: Frame = Frame()
    outcome: Outcome = Outcome.READING


@dataclass(frozen=True, repr=False)
class Staff:
    """The counter view of the holder, as the policy allows it (all optional)."""

    name: str | None = None
    age_flags: tuple[str, ...] = ()  # "18+", "21+"
    under: int | None = None  # the lowest configured age flag the holder is under
    benefits: tuple[str, ...] = ()
    dob: date | None = None
    valid_until: date | None = None

    def __repr__(self) -> str:
        return "Staff(<holder data redacted>)"


@dataclass(frozen=True)
class Result:
    """Accepted, rejected or can't check."""

    outcome: Outcome
    reason: Reason
    language: Language
    counter: bool = False  # attended: "Valid card" rather than "Welcome"
    staff: Staff | None = None
    pass_printed: bool = False
    stale_warning: bool = False
    seconds_left: int = 0
    frame: Frame = Frame()
    discreet: bool = False  # a refusal about the holder says only "please see staff"
    staff_language: Language = ENGLISH  # the counter's staff panel is read in this one

    @property
    def with_english(self) -> bool:
        return self.language != ENGLISH


@dataclass(frozen=True)
class OutOfService:
    problems: tuple[str, ...]
    language: Language
    frame: Frame = Frame()
    outcome: Outcome = Outcome.OUT_OF_SERVICE


@dataclass(frozen=True)
class Technician:
    """The technician menu's frame: a list of items and a pane the app fills."""

    items: tuple[str, ...]
    selected: int
    pane_title: str
    pane_lines: tuple[str, ...] = ()
    # the camera view: the decoder's live input, blurred outside the QR (width, height, pixels)
    preview: tuple[int, int, bytes] | None = field(default=None, repr=False)
    language: Language = ENGLISH
    frame: Frame = field(default_factory=Frame)
    outcome: Outcome = Outcome.TECHNICIAN


Screen = Idle | Reading | Result | OutOfService | Technician
