"""The outcome screens: accepted, not accepted, can't check (a `Result`) and out of service.

Read from across a lobby: the whole screen is the outcome's colour, with a large shape and
the outcome word; the sentences beneath, then the English, are one stack set at one size
per kind of line and centred with the shape, so the screen is balanced whatever the
language. When a translation is long, the shape gives room first, then the sentences
shrink together (to a floor); nothing is drawn over the countdown. At a staffed counter the
staff panel is in the site's staff language, whatever language the holder reads."""

from __future__ import annotations

from dataclasses import dataclass

import pygame

from kiosk.core.reasons import Reason
from kiosk.ui import strings as S
from kiosk.ui import theme
from kiosk.ui.i18n import ENGLISH, Texts
from kiosk.ui.paint import Canvas, Line
from kiosk.ui.placement import Kind, clearance
from kiosk.ui.screens import OutOfService, Problem, Result, Staff
from kiosk.ui.text import text_pad
from kiosk.ui.theme import Outcome

_PROBLEM_TEXT = {
    Problem.CAMERA: S.CAMERA_PROBLEM,
    Problem.GATE: S.GATE_PROBLEM,
    Problem.PRINTER: S.PRINTER_PROBLEM,
    Problem.TRUST: S.TRUST_PROBLEM,
}

# The shape's side as a share of the screen height (of the width in portrait), largest
# first: a long translation takes room from the shape before its sentences shrink.
_ICON_SHARES = (0.46, 0.38, 0.3)
_PORTRAIT_ICON_SHARES = (0.5, 0.4, 0.3)


@dataclass(frozen=True)
class _Fit:
    lines: tuple[Line, ...]  # at the sizes they will be set in
    heights: tuple[int, ...]
    gaps: tuple[int, ...]  # above each line
    fits: bool
    scale: float

    @property
    def height(self) -> int:
        return sum(self.heights) + sum(self.gaps)


def result(canvas: Canvas, screen: Result) -> None:
    word, lines = result_words(screen)
    stack = _stack(canvas, screen.language != ENGLISH, word, lines, Texts(screen.language))
    bottom = canvas.h - canvas.margin
    if screen.seconds_left > 0:
        bottom = _countdown(
            canvas, Texts(screen.language).plural(S.BACK_TO_START, screen.seconds_left)
        )
    area = pygame.Rect(
        canvas.margin, canvas.top + canvas.margin // 2, canvas.w - 2 * canvas.margin, 0
    )
    area.h = bottom - canvas.margin // 2 - area.y
    staff = screen.staff if screen.counter else None
    if staff is None:
        _icon_and_stack(canvas, screen.outcome, stack, area)
        return
    # The counter: the outcome for the holder on top, at its floor size, the staff panel
    # below it with the room that leaves.
    stack[0] = stack[0].at(canvas.word_floor)
    header = pygame.Rect(area.x, area.y, area.w, int(area.h * (0.36 if canvas.portrait else 0.5)))
    used = _icon_and_stack(canvas, screen.outcome, stack, header, shares=(0.26, 0.2), centre=False)
    top = used + canvas.margin // 2
    _staff_panel(canvas, screen, staff, pygame.Rect(area.x, top, area.w, area.bottom - top))


def out_of_service(canvas: Canvas, screen: OutOfService) -> None:
    lines = [_PROBLEM_TEXT.get(p, S.SEE_STAFF) for p in screen.problems] + [S.SEE_STAFF]
    stack = _stack(
        canvas, screen.language != ENGLISH, S.OUT_OF_SERVICE, lines, Texts(screen.language)
    )
    area = pygame.Rect(
        canvas.margin, canvas.top + canvas.margin // 2, canvas.w - 2 * canvas.margin, 0
    )
    area.h = canvas.h - canvas.margin - area.y
    _icon_and_stack(canvas, Outcome.OUT_OF_SERVICE, stack, area)


def _stack(canvas: Canvas, with_english: bool, word: str, lines: list[str], t: Texts) -> list[Line]:
    body = canvas.px(theme.BODY)
    english = canvas.px(theme.ENGLISH)
    stack = [
        Line(
            "outcome", t(word), int(canvas.unit * theme.OUTCOME_WORD), canvas.word_floor, bold=True
        )
    ]
    stack += [Line("body", t(line), body, int(body * 0.72)) for line in lines]
    if with_english:
        en = Texts(ENGLISH)
        text = " ".join([en(word) + "."] + [en(line) for line in lines])
        stack.append(
            Line(
                "english", text, english, int(english * 0.75), canvas.scheme.quiet, language=ENGLISH
            )
        )
    return stack


def _countdown(canvas: Canvas, text: str) -> int:
    """The countdown on the bottom line, on the start side; returns its top."""
    line = Line(
        "countdown",
        text,
        canvas.px(theme.SMALL),
        canvas.px(theme.SMALL) * 3 // 4,
        canvas.scheme.quiet,
    )
    width = canvas.w - 2 * canvas.margin
    _w, h = canvas.measure(line, width)
    box = pygame.Rect(canvas.margin, canvas.h - canvas.margin * 2 // 3 - h, width, h)
    canvas.place(line, box)
    return box.y


def _fit(canvas: Canvas, stack: list[Line], width: int, room: int) -> _Fit:
    """The word as large as it goes on one line (not below its floor), then the largest
    common scale of the other lines at which the whole stack is `room` high or less."""
    word, rest = stack[0], stack[1:]
    size = word.size
    while size > word.floor and (single := canvas.single_width(word, size)) > width:
        size = max(word.floor, int(size * min(0.95, width / single)))
    gaps = (
        0,
        *(
            canvas.margin // 3 if i == 0 or line.role == "english" else canvas.margin // 4
            for i, line in enumerate(rest)
        ),
    )
    scale = 1.0
    while True:
        lines = (word.at(size), *(line.at(int(line.size * scale)) for line in rest))
        heights = tuple(canvas.measure(line, width)[1] for line in lines)
        total = sum(heights) + sum(gaps)
        at_floor = all(line.size == line.floor for line in lines[1:])
        if total <= room or (at_floor and size == word.floor):
            return _Fit(lines, heights, gaps, total <= room, scale)
        if at_floor:
            size = word.floor  # the last resort: the word to its floor too
        # Wrapped text takes room as the square of its size: guess, then smaller steps.
        scale *= min(0.95, (room / total) ** 0.5)


def _icon_and_stack(
    canvas: Canvas,
    outcome: Outcome,
    stack: list[Line],
    area: pygame.Rect,
    shares: tuple[float, ...] | None = None,
    centre: bool = True,
) -> int:
    """The shape and the stack, side by side (stacked in portrait), centred in `area` (or
    at its top); returns the bottom of what was placed."""
    gap = canvas.margin
    fit, icon, column = None, 0, pygame.Rect(area)
    for share in shares or (_PORTRAIT_ICON_SHARES if canvas.portrait else _ICON_SHARES):
        if canvas.portrait:
            icon = min(int(canvas.w * share), area.h // 3)
            column = pygame.Rect(area.x, 0, area.w, area.h - icon - gap)
        else:
            icon = min(int(canvas.h * share), area.h)
            column = pygame.Rect(area.x + icon + gap, area.y, area.w - icon - gap, area.h)
        fit = _fit(canvas, stack, column.w, column.h)
        if fit.fits and fit.scale > 0.8:
            break
    assert fit is not None
    if canvas.portrait:
        group = icon + gap + fit.height
        top = area.y + (max(0, area.h - group) // 2 if centre else 0)
        icon_rect = pygame.Rect(area.x + (area.w - icon) // 2, top, icon, icon)
        y = icon_rect.bottom + gap
    else:
        tall = max(icon, fit.height)
        top = area.y + (max(0, area.h - tall) // 2 if centre else 0)
        icon_rect = canvas.box(area.x, top + (tall - icon) // 2, icon, icon)
        y = top + (tall - fit.height) // 2
    canvas.icon(outcome, icon_rect)
    bottom = icon_rect.bottom
    # Larger text has more room around its ink: its box starts that much earlier, so the
    # start edges of the word and the sentences line up.
    least = min(text_pad(line.size) for line in fit.lines)
    for line, height, above in zip(fit.lines, fit.heights, fit.gaps, strict=True):
        y += above
        extra = text_pad(line.size) - least
        box = canvas.box(column.x - extra, y, column.w + extra, height)
        rect = canvas.place(line, box)
        bottom = max(bottom, rect.bottom)
        y += height
    return bottom


def _staff_panel(canvas: Canvas, screen: Result, staff: Staff, panel: pygame.Rect) -> None:
    """Name, age flags and details for the staff, in the staff's language and direction,
    rows sized to the room left above the countdown; one size per kind of line."""
    lang = screen.staff_language
    t = Texts(lang)
    rtl = lang.rtl
    stroke = max(2, canvas.unit // 240)
    pygame.draw.rect(canvas.surface, canvas.scheme.quiet, panel, stroke, canvas.unit // 60)
    canvas.shape("staff-panel", panel, Kind.FRAME, stroke)
    inner = panel.inflate(-2 * (stroke + canvas.margin // 2), -2 * (stroke + canvas.margin // 5))
    chips = [_age_words(t, flag) for flag in staff.age_flags]
    if staff.under is not None and not staff.age_flags:
        chips.append(t(S.UNDER_18) if staff.under == 18 else t(S.UNDER_N).format(n=staff.under))
    details = []
    if staff.benefits:
        names = t.join([t(S.BENEFIT_NAMES.get(b, b)) for b in staff.benefits])
        details.append(f"{t.plural(S.BENEFITS, len(staff.benefits))}: {names}")
    else:
        details.append(t(S.NO_BENEFITS))
    if staff.valid_until is not None:
        details.append(t(S.VALID_UNTIL).format(date=t.date(staff.valid_until)))
    if staff.dob is not None:
        details.append(t(S.BORN).format(date=t.date(staff.dob)))
    if screen.language != lang:  # which language to greet the holder in
        details.append(f"{t(S.LANGUAGE)}: {screen.language.name}")
    # The chips' row is a detail row plus room for their outlines: flags and details are
    # set at one size.
    chip_stroke = max(2, canvas.unit // 160)
    chip_air = clearance(chip_stroke) + 1
    outlines = (2 * chip_air + 4) * bool(chips)
    weights = [1.4] * bool(staff.name) + [1.0] * bool(chips) + [1.0] * len(details)
    unit_h = (inner.h - outlines) / max(1.0, sum(weights))
    h = int(unit_h)
    # Holder data has no length a layout can plan for (a 64-character name, 32 benefits):
    # it shrinks to the smallest legible size before it may be shortened.
    least = canvas.px(theme.LEAST)
    rows = [
        Line(
            "detail",
            text,
            max(least, min(int(h * 0.62), canvas.px(theme.ENGLISH * 1.2))),
            least,
            private=True,
            language=lang,
        )
        for text in details
    ]
    size = canvas.common_size(rows, inner.w, h) if rows else 0
    y = float(inner.y)
    if staff.name:
        name_h = int(unit_h * 1.4)
        # a title's size at most: in a tall portrait panel the name would outgrow the outcome
        name = Line(
            "name",
            staff.name,
            max(least, min(int(name_h * 0.7), canvas.px(theme.TITLE))),
            least,
            bold=True,
            private=True,
            auto_direction=True,
            language=lang,
        )
        canvas.place(
            name, canvas.box(inner.x, int(y), inner.w, name_h, rtl), valign="centre", side_rtl=rtl
        )
        y += name_h
    if chips:
        row = pygame.Rect(inner.x, int(y), inner.w, h + outlines)
        _chips(
            canvas, [Line("flag", c, size, least, language=lang) for c in chips], row, chip_stroke
        )
        y += row.h
    for line in rows:
        canvas.place(
            line.at(size),
            canvas.box(inner.x, int(y), inner.w, h, rtl),
            valign="centre",
            side_rtl=rtl,
        )
        y += h


def _chips(canvas: Canvas, lines: list[Line], row: pygame.Rect, stroke: int) -> None:
    """Age flags as outlined chips at the details' size (smaller only if they must), their
    words clear of the outlines."""
    rtl = (lines[0].language or canvas.language).rtl
    air_y = clearance(stroke) + 1
    air_x = air_y + row.h // 5
    spacing = canvas.margin
    room = (row.w - spacing * (len(lines) - 1)) // len(lines) - 2 * air_x
    size = lines[0].size
    while size > lines[0].floor:  # each on one line
        widest = max(canvas.single_width(line, size) for line in lines)
        if widest <= room:
            break
        size = max(lines[0].floor, int(size * min(0.95, room / widest)))
    x = row.x
    for line in lines:
        text_w, text_h = canvas.measure(line, room, size)
        chip_h = text_h + 2 * air_y
        chip = canvas.box(x, row.y + (row.h - chip_h) // 2, text_w + 2 * air_x, chip_h, rtl)
        pygame.draw.rect(canvas.surface, canvas.scheme.text, chip, stroke, chip_h // 3)
        canvas.shape("chip", chip, Kind.FRAME, stroke)
        canvas.place(
            line.at(size),
            chip.inflate(-2 * air_x, -2 * air_y),
            align="centre",
            valign="centre",
            side_rtl=rtl,
        )
        x += chip.w + spacing


def _age_words(t: Texts, flag: str) -> str:
    """ "21+" -> "21 or older" in the staff's language (18 and 21 have their own strings)."""
    if flag == "18+":
        return t(S.AGE_18)
    if flag == "21+":
        return t(S.AGE_21)
    return t(S.AGE_N).format(n=flag.rstrip("+"))


def result_words(screen: Result) -> tuple[str, list[str]]:
    if screen.outcome is Outcome.ACCEPTED:
        word = S.VALID_CARD if screen.counter else S.WELCOME
        lines = (
            [S.TAKE_PASS if screen.pass_printed else S.GO_THROUGH]
            if not screen.counter or screen.pass_printed
            else []
        )
        if screen.stale_warning:
            lines.append(S.STALE_WARNING)
        return word, lines
    if screen.outcome is Outcome.CANT_CHECK:
        return S.CANT_CHECK, [S.CANT_CHECK_WHY, S.CANT_CHECK_NOT_YOU, S.SEE_STAFF]
    if screen.discreet and screen.reason in S.ABOUT_THE_HOLDER:
        return S.NOT_ACCEPTED, [S.SEE_STAFF]  # not "on hold" for everyone in the queue
    what, then = S.REASON_TEXT.get(screen.reason, S.REASON_TEXT[Reason.MALFORMED])
    return S.NOT_ACCEPTED, [what, then]
