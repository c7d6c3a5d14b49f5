"""Draws a screen model on a surface of any size, landscape or portrait, mirrored for
right-to-left languages. Every text is placed in a box and shrunk until it fits; what was
placed is returned, so tests measure the real boxes and the display knows where the
language buttons are."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pygame

from kiosk.reasons import Reason
from kiosk.ui import strings as S
from kiosk.ui import theme
from kiosk.ui.fonts import FontChain, chain_for
from kiosk.ui.i18n import ENGLISH, Language, Texts
from kiosk.ui.icons import outcome_icon, present_card_picture, spinner
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
from kiosk.ui.text import TextEngine
from kiosk.ui.theme import INK, SCHEMES, SPECIMEN_BAND, Colour, Outcome, Scheme

_PROBLEM_TEXT = {
    Problem.CAMERA: S.CAMERA_PROBLEM,
    Problem.GATE: S.GATE_PROBLEM,
    Problem.PRINTER: S.PRINTER_PROBLEM,
    Problem.TRUST: S.TRUST_PROBLEM,
}


@dataclass(frozen=True)
class Placed:
    role: str
    text: str
    box: pygame.Rect  # where it was allowed to go
    rect: pygame.Rect  # where its pixels went
    size: int  # font size in px actually used
    wanted: int  # font size asked for

    @property
    def fits(self) -> bool:
        return self.box.contains(self.rect)


class Painter:
    def __init__(self, engine: TextEngine | None = None) -> None:
        self.engine = engine or TextEngine()

    def paint(
        self, surface: pygame.Surface, screen: Screen, now: float | None = None
    ) -> list[Placed]:
        canvas = _Canvas(surface, self.engine, screen, time.monotonic() if now is None else now)
        if isinstance(screen, Idle):
            canvas.idle(screen)
        elif isinstance(screen, Reading):
            canvas.reading(screen)
        elif isinstance(screen, Result):
            canvas.result(screen)
        elif isinstance(screen, OutOfService):
            canvas.out_of_service(screen)
        else:
            canvas.technician(screen)
        return canvas.placed


def scheme_of(screen: Screen) -> Scheme:
    return SCHEMES[screen.outcome]


class _Canvas:
    """One paint of one screen: geometry helpers plus a method per screen."""

    def __init__(self, surface: pygame.Surface, engine: TextEngine, screen: Screen, now: float):
        self.surface, self.engine, self.now = surface, engine, now
        self.w, self.h = surface.get_size()
        self.portrait = self.h > self.w
        self.unit = min(self.h, self.w) if self.portrait else self.h
        self.margin = int(self.unit * 0.05)
        # The outcome word is never smaller than 1/8 of the screen height (1/10 of the width
        # in portrait, where long words must still fit across).
        self.word_floor = int(self.unit / (10 if self.portrait else 8)) + 1
        self.scheme = scheme_of(screen)
        self.language: Language = getattr(screen, "language", ENGLISH)
        self.rtl = self.language.rtl
        self.placed: list[Placed] = []
        surface.fill(self.scheme.background)
        self.top = self._frame(screen.frame)

    # -- geometry -----------------------------------------------------------------------

    def px(self, share: float) -> int:
        return max(8, int(self.unit * share))

    def box(self, x: int, y: int, w: int, h: int) -> pygame.Rect:
        """A box given in left-to-right terms, mirrored for right-to-left languages."""
        if self.rtl:
            x = self.w - x - w
        return pygame.Rect(x, y, w, h)

    def text(
        self,
        role: str,
        text: str,
        box: pygame.Rect,
        size: int,
        *,
        language: Language | None = None,
        chain: FontChain | None = None,
        rtl: bool | None = None,
        colour: Colour | None = None,
        bold: bool = False,
        align: str = "start",
        min_size: int | None = None,
        valign: str = "top",
        private: bool = False,
        auto_direction: bool = False,
    ) -> pygame.Rect:
        """`auto_direction`: the text's own first strong letter sets its direction (names
        and the site's name, which may be in another script than the screen)."""
        box = box.clip(self.surface.get_rect())
        language = language or self.language
        chain = chain or chain_for(language.script)
        if not auto_direction and rtl is None:
            rtl = language.rtl
        colour = colour or self.scheme.text
        floor = min_size or max(8, int(size * 0.6))
        used = size
        while True:
            width, height = self.engine.measure(
                text, used, chain, bold=bold, rtl=rtl, max_width=box.w, cache=not private
            )
            if (width <= box.w and height <= box.h) or used <= floor:
                break
            used = max(floor, int(used * 0.9))
        # Words shrink before they break; only at the floor is a too-long word (a name with
        # no spaces) broken between characters.
        break_words = width > box.w
        surf = self.engine.render(
            text,
            used,
            colour,
            chain,
            bold=bold,
            rtl=rtl,
            max_width=box.w,
            align=align,
            cache=not private,
            break_words=break_words,
        )
        paragraph_rtl = self.rtl if rtl is None else rtl
        if align == "centre":
            x = box.x + (box.w - surf.get_width()) // 2
        elif (align == "start") == paragraph_rtl:
            x = box.right - surf.get_width()
        else:
            x = box.x
        y = box.y
        if valign == "centre":
            y = box.y + (box.h - surf.get_height()) // 2
        elif valign == "bottom":
            y = box.bottom - surf.get_height()
        self.surface.blit(surf, (x, y))
        rect = pygame.Rect(x, y, surf.get_width(), surf.get_height())
        self.placed.append(Placed(role, text, box, rect, used, size))
        return rect

    def _frame(self, frame: Frame) -> int:
        """The accent stripe, the site name and the specimen band; returns where content starts."""
        stripe = max(4, int(self.unit * 0.018))
        pygame.draw.rect(self.surface, self.scheme.accent, (0, 0, self.w, stripe))
        band = int(self.unit * 0.085)
        if frame.specimen:
            pygame.draw.rect(self.surface, SPECIMEN_BAND, (0, stripe, self.w, band))
            t = Texts(self.language)
            label = f"{t(S.SPECIMEN)} · {t(S.SPECIMEN_NOTE)}"
            self.text(
                "specimen",
                label,
                pygame.Rect(self.margin, stripe, self.w - 2 * self.margin, band),
                self.px(0.045),
                colour=INK,
                bold=True,
                align="centre",
                valign="centre",
            )
        elif frame.site:
            self.text(
                "site",
                frame.site,
                self.box(self.margin, stripe, self.w - 2 * self.margin, band),
                self.px(theme.SMALL),
                colour=self.scheme.quiet,
                valign="centre",
                auto_direction=True,
            )
        return stripe + band

    def icon(self, outcome: Outcome, x: int, y: int, size: int) -> pygame.Rect:
        surf = outcome_icon(outcome, size, self.scheme.accent, self.scheme.icon_mark)
        rect = self.box(x, y, size, size)
        self.surface.blit(surf, rect)
        return rect

    def columns(self, icon_share: float) -> tuple[pygame.Rect, pygame.Rect]:
        """Icon square and text column: side by side in landscape, stacked in portrait."""
        top = self.top + self.margin // 2
        if self.portrait:
            size = int(self.w * icon_share * 1.2)
            icon = pygame.Rect((self.w - size) // 2, top, size, size)
            text = pygame.Rect(
                self.margin,
                icon.bottom + self.margin // 2,
                self.w - 2 * self.margin,
                self.h - icon.bottom - self.margin,
            )
            return icon, text
        size = int(self.h * icon_share)
        x_text = self.margin * 2 + size
        return (
            pygame.Rect(self.margin, top + self.margin // 2, size, size),
            pygame.Rect(x_text, top, self.w - x_text - self.margin, self.h - top - self.margin),
        )

    def stack(self, column: pygame.Rect, y: int, height: int) -> pygame.Rect:
        rect = pygame.Rect(column.x, y, column.w, height)
        return self.box(rect.x, rect.y, rect.w, rect.h)

    # -- screens ------------------------------------------------------------------------

    def idle(self, screen: Idle) -> None:
        t = Texts(screen.language)
        title_y = self.top + self.margin // 2
        self.text(
            "title",
            t(S.IDLE_TITLE),
            self.box(self.margin, title_y, self.w - 2 * self.margin, self.px(0.2)),
            self.px(theme.TITLE * 1.25),
            bold=True,
        )
        body_top = title_y + self.px(0.2) + self.margin // 2
        rows = 1 if len(screen.languages) <= 6 else 2
        if self.portrait:
            rows += 1
        buttons_h = self.px(0.11) * rows
        buttons_top = self.h - self.margin - buttons_h
        picture_w = int(
            min(self.w * (0.6 if self.portrait else 0.32), (buttons_top - body_top) / 0.95)
        )
        picture = present_card_picture(picture_w, self.scheme.accent)
        if self.portrait:
            pic_rect = pygame.Rect(
                (self.w - picture_w) // 2, body_top, picture_w, picture.get_height()
            )
            steps = pygame.Rect(
                self.margin,
                pic_rect.bottom + self.margin // 2,
                self.w - 2 * self.margin,
                buttons_top - pic_rect.bottom - self.margin,
            )
        else:
            pic_rect = self.box(self.margin, body_top, picture_w, picture.get_height())
            x = self.margin * 2 + picture_w
            steps = self.box(
                x, body_top, self.w - x - self.margin, buttons_top - body_top - self.margin // 2
            )
        self.surface.blit(picture, pic_rect)
        step_size = self.px(theme.BODY * 1.1)
        half = steps.h // 2
        self.text("step", t(S.IDLE_HOLD), pygame.Rect(steps.x, steps.y, steps.w, half), step_size)
        self.text(
            "step",
            t(S.IDLE_STILL),
            pygame.Rect(steps.x, steps.y + half, steps.w, steps.h - half),
            step_size,
            colour=self.scheme.quiet,
        )
        self.language_buttons(
            screen, pygame.Rect(self.margin, buttons_top, self.w - 2 * self.margin, buttons_h), rows
        )

    def language_buttons(self, screen: Idle, area: pygame.Rect, rows: int) -> None:
        count = len(screen.languages)
        per_row = -(-count // rows)
        gap = max(4, self.margin // 3)
        bw = (area.w - gap * (per_row - 1)) // per_row
        bh = (area.h - gap * (rows - 1)) // rows
        for i, lang in enumerate(screen.languages):
            row, col = divmod(i, per_row)
            if self.rtl:
                col = per_row - 1 - col
            rect = pygame.Rect(area.x + col * (bw + gap), area.y + row * (bh + gap), bw, bh)
            chosen = lang == screen.language
            pygame.draw.rect(
                self.surface,
                theme.SELECTED if chosen else self.scheme.quiet,
                rect,
                0 if chosen else max(2, bh // 20),
                bh // 5,
            )
            inner = rect.inflate(-bh // 4, -bh // 6)
            self.text(
                f"language:{lang.code}",
                lang.name,
                inner,
                int(bh * 0.45),
                language=lang,
                min_size=int(bh * 0.2),
                colour=INK if chosen else self.scheme.text,
                align="centre",
                valign="centre",
                bold=chosen,
            )

    def reading(self, screen: Reading) -> None:
        t = Texts(screen.language)
        icon, column = self.columns(0.34)
        self.surface.blit(spinner(icon.w, self.scheme.accent, self.now % 1.0), self.box(*icon))
        word = int(self.unit * theme.OUTCOME_WORD * 0.8)
        self.text(
            "outcome", t(S.READING), self.stack(column, column.y, int(word * 2.6)), word, bold=True
        )
        self.text(
            "body",
            t(S.HOLD_STILL),
            self.stack(column, column.y + int(word * 2.8), self.px(0.12)),
            self.px(theme.BODY),
        )

    def result(self, screen: Result) -> None:
        t, en = Texts(screen.language), Texts(ENGLISH)
        staff = screen.staff if screen.counter else None
        icon, column = self.columns(0.22 if staff else 0.34)
        self.icon(screen.outcome, icon.x, icon.y, icon.w)
        word, lines = _result_words(screen)
        word_size = self.word_floor + (
            1 if staff else int(self.unit * (theme.OUTCOME_WORD - 1 / 8))
        )
        y = column.y
        outcome_rect = self.text(
            "outcome",
            t(word),
            self.stack(column, y, int(word_size * 2.4)),
            word_size,
            bold=True,
            min_size=self.word_floor,
        )
        y = outcome_rect.bottom + self.margin // 3
        body = self.px(theme.BODY)
        for line in lines:
            rect = self.text("body", t(line), self.stack(column, y, int(body * 2.6)), body)
            y = rect.bottom + self.margin // 4
        if screen.with_english:
            english = " ".join([en(word) + "."] + [en(line) for line in lines])
            rect = self.text(
                "english",
                english,
                self.stack(column, y, int(self.px(theme.ENGLISH) * 3.2)),
                self.px(theme.ENGLISH),
                language=ENGLISH,
                colour=self.scheme.quiet,
            )
            y = rect.bottom + self.margin // 3
        if staff is not None:
            self.staff_panel(screen, staff, max(y, icon.bottom + self.margin // 2))
        if screen.seconds_left > 0:
            self.text(
                "countdown",
                t.plural(S.BACK_TO_START, screen.seconds_left),
                self.box(
                    self.margin,
                    self.h - self.margin - self.px(0.07),
                    self.w - 2 * self.margin,
                    self.px(0.07) + self.margin // 2,
                ),
                self.px(theme.SMALL),
                colour=self.scheme.quiet,
            )

    def staff_panel(self, screen: Result, staff: Staff, top: int) -> None:
        """Name, age flags and details in rows sized to the room left above the countdown."""
        t = Texts(screen.language)
        bottom = self.h - self.margin - self.px(0.07)
        panel = pygame.Rect(self.margin, top, self.w - 2 * self.margin, max(0, bottom - top))
        pygame.draw.rect(
            self.surface, self.scheme.quiet, panel, max(2, self.unit // 240), self.unit // 60
        )
        inner = panel.inflate(-self.margin, -self.margin // 3)
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
        rows = [("name", 1.4)] * bool(staff.name) + [("flags", 1.3)] * bool(chips)
        rows += [("detail", 1.0)] * len(details)
        unit_h = inner.h / sum(weight for _, weight in rows)
        y = float(inner.y)
        detail_lines = iter(details)
        for role, weight in rows:
            h = int(unit_h * weight)
            if role == "name" and staff.name:
                self.text(
                    "name",
                    staff.name,
                    self.box(inner.x, int(y), inner.w, h),
                    int(h * 0.7),
                    private=True,
                    auto_direction=True,
                    bold=True,
                    valign="centre",
                    min_size=h // 4,
                )
            elif role == "flags":
                x, chip_w = inner.x, inner.w // max(2, len(chips))
                for words in chips:
                    rect = self.text(
                        "flag",
                        words,
                        self.box(x + h // 6, int(y) + h // 8, chip_w - h // 2, h - h // 4),
                        int(h * 0.5),
                        valign="centre",
                        min_size=h // 4,
                    )
                    pygame.draw.rect(
                        self.surface,
                        self.scheme.text,
                        rect.inflate(h // 4, h // 10),
                        max(2, h // 16),
                        h // 5,
                    )
                    x += chip_w
            else:
                self.text(
                    "detail",
                    next(detail_lines),
                    self.box(inner.x, int(y), inner.w, h),
                    min(int(h * 0.62), self.px(theme.ENGLISH * 1.2)),
                    valign="centre",
                    min_size=h // 4,
                    private=True,
                )
            y += h

    def out_of_service(self, screen: OutOfService) -> None:
        t, en = Texts(screen.language), Texts(ENGLISH)
        icon, column = self.columns(0.3)
        self.icon(Outcome.OUT_OF_SERVICE, icon.x, icon.y, icon.w)
        word = int(self.unit * theme.OUTCOME_WORD)
        lines_room = 3.6 if self.portrait else 2.5
        rect = self.text(
            "outcome",
            t(S.OUT_OF_SERVICE),
            self.stack(column, column.y, int(word * lines_room)),
            word,
            bold=True,
            min_size=self.word_floor,
        )
        y = rect.bottom + self.margin // 3
        body = self.px(theme.BODY)
        lines = [_PROBLEM_TEXT.get(p, S.SEE_STAFF) for p in screen.problems] + [S.SEE_STAFF]
        for line in lines:
            rect = self.text("body", t(line), self.stack(column, y, int(body * 2.6)), body)
            y = rect.bottom + self.margin // 4
        if screen.language != ENGLISH:
            english = " ".join(en(x) for x in [S.OUT_OF_SERVICE + ".", *lines])
            self.text(
                "english",
                english,
                self.stack(column, y, max(self.px(0.05), column.bottom - y)),
                self.px(theme.ENGLISH),
                language=ENGLISH,
                colour=self.scheme.quiet,
            )

    def preview(self, image: tuple[int, int, bytes], pane: pygame.Rect, y: int, below: int) -> int:
        """The decoder's view, scaled into the pane; returns where the text goes on."""
        width, height, pixels = image
        gray = pygame.image.frombuffer(pixels, (width, height), "P")
        gray.set_palette([(v, v, v) for v in range(256)])
        room_h = max(16, pane.bottom - y - below - self.margin // 4)
        scale = min(pane.w / width, room_h / height)
        size = (max(1, int(width * scale)), max(1, int(height * scale)))
        rect = self.surface.blit(pygame.transform.scale(gray, size), (pane.x, y))
        return rect.bottom + self.margin // 4

    def technician(self, screen: Technician) -> None:
        t = Texts(screen.language)
        title_h = self.px(0.13)
        self.text(
            "title",
            t(S.TECHNICIAN_MENU),
            self.box(self.margin, self.top, self.w - 2 * self.margin, title_h),
            self.px(theme.BODY),
            bold=True,
            valign="centre",
        )
        top = self.top + title_h + self.margin // 2
        list_w = int(self.w * (0.42 if self.portrait else 0.3))
        item_h = min(self.px(0.09), (self.h - top - self.margin) // max(1, len(screen.items)))
        for i, item in enumerate(screen.items):
            rect = self.box(self.margin, top + i * item_h, list_w, item_h - 4)
            chosen = i == screen.selected
            if chosen:
                pygame.draw.rect(self.surface, theme.SELECTED, rect, 0, item_h // 6)
            self.text(
                f"item:{i}",
                t(item),
                rect.inflate(-self.margin // 2, -4),
                int(item_h * 0.5),
                colour=INK if chosen else self.scheme.text,
                valign="centre",
            )
        pane_x = self.margin * 2 + list_w
        pane = self.box(pane_x, top, self.w - pane_x - self.margin, self.h - top - self.margin)
        pygame.draw.rect(self.surface, self.scheme.quiet, pane, 2, 8)
        inner = pane.inflate(-self.margin // 2, -self.margin // 2)
        rect = self.text(
            "pane-title",
            t(screen.pane_title),
            pygame.Rect(inner.x, inner.y, inner.w, self.px(0.08)),
            self.px(theme.ENGLISH * 1.2),
            bold=True,
        )
        y = rect.bottom + self.margin // 4
        line_h = self.px(0.05)
        if screen.preview is not None:
            y = self.preview(screen.preview, inner, y, len(screen.pane_lines) * line_h)
        size = int(self.px(theme.SMALL) * 0.85)
        for line in screen.pane_lines:
            if not line:
                continue
            if y + line_h > inner.bottom:
                break
            # long lines wrap (up to three lines) rather than shrink
            rect = self.text(
                "pane",
                line,
                pygame.Rect(inner.x, y, inner.w, min(inner.bottom - y, line_h * 3)),
                size,
                language=ENGLISH,
                rtl=False,
                min_size=size * 2 // 3,
            )
            y = rect.bottom + line_h // 5


def _age_words(t: Texts, flag: str) -> str:
    """ "21+" -> "21 or older" in the screen's language (18 and 21 have their own strings)."""
    if flag == "18+":
        return t(S.AGE_18)
    if flag == "21+":
        return t(S.AGE_21)
    return t(S.AGE_N).format(n=flag.rstrip("+"))


def _result_words(screen: Result) -> tuple[str, list[str]]:
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
