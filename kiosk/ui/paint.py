"""Draws a screen model on a surface of any size, landscape or portrait, mirrored for
right-to-left languages. Every text is measured before it is placed, so lines of one kind
share one size and nothing is drawn over anything else; what was placed is returned (a
`Placement`), so tests and `kiosk screens` check every box against every other, and the
display knows where the language buttons are."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pygame
import unicode_segmentation_rs as segmentation

from kiosk.ui import strings as S
from kiosk.ui import theme
from kiosk.ui.fonts import FontChain, chain_for
from kiosk.ui.i18n import ENGLISH, Language, Texts
from kiosk.ui.icons import outcome_icon_on, present_card_picture, spinner
from kiosk.ui.placement import Kind, Placed, Placement, clearance
from kiosk.ui.screens import Frame, Idle, Reading, Screen
from kiosk.ui.text import TextEngine, text_pad
from kiosk.ui.theme import INK, SCHEMES, SPECIMEN_BAND, Colour, Outcome, Scheme

__all__ = ["Canvas", "Line", "Placed", "Placement", "scheme_of"]

SMALLEST = 6  # px: the kiosk's own words shrink to this, not to nothing, where they must


def scheme_of(screen: Screen) -> Scheme:
    return SCHEMES[screen.outcome]


@dataclass(frozen=True)
class Line:
    """One paragraph of a stack of text: measured at sizes between `size` and `floor`."""

    role: str
    text: str
    size: int
    floor: int
    colour: Colour | None = None
    bold: bool = False
    language: Language | None = None
    private: bool = False  # holder data: never cached
    auto_direction: bool = False

    def at(self, size: int) -> Line:
        return Line(
            self.role,
            self.text,
            max(self.floor, size),
            self.floor,
            self.colour,
            self.bold,
            self.language,
            self.private,
            self.auto_direction,
        )


class Canvas:
    """One paint of one screen: geometry and text helpers, plus the simpler screens (the
    outcome screens are in `kiosk.ui.outcome`, the technician menu in `kiosk.ui.menu`)."""

    def __init__(self, surface: pygame.Surface, engine: TextEngine, screen: Screen, now: float):
        self.surface, self.engine, self.now = surface, engine, now
        self.w, self.h = surface.get_size()
        self.portrait = self.h > self.w
        self.unit = min(self.h, self.w) if self.portrait else self.h
        self.margin = int(self.unit * 0.05)
        # The outcome word is never smaller than 1/8 of the screen height (1/10 of the width
        # in portrait, where long words must still fit across).
        self.word_floor = (
            int(self.unit / (10 if self.portrait else 1 / theme.OUTCOME_WORD_FLOOR)) + 1
        )
        self.scheme = scheme_of(screen)
        self.language: Language = getattr(screen, "language", ENGLISH)
        self.rtl = self.language.rtl
        self.placed = Placement((self.w, self.h))
        # Sizes of holder data measured in this paint: the engine never keeps them, and
        # this canvas is gone with the paint.
        self._private: dict[tuple[object, ...], tuple[int, int]] = {}
        surface.fill(self.scheme.background)
        self.top = self._frame(screen.frame)

    # -- geometry -----------------------------------------------------------------------

    def px(self, share: float) -> int:
        return max(8, int(self.unit * share))

    def box(self, x: int, y: int, w: int, h: int, rtl: bool | None = None) -> pygame.Rect:
        """A box given in left-to-right terms, mirrored for right-to-left languages."""
        if self.rtl if rtl is None else rtl:
            x = self.w - x - w
        return pygame.Rect(x, y, w, h)

    def shape(self, role: str, rect: pygame.Rect, kind: Kind = Kind.SHAPE, stroke: int = 0) -> None:
        self.placed.append(Placed(role, "", rect, pygame.Rect(rect), kind=kind, stroke=stroke))

    # -- text ---------------------------------------------------------------------------

    def _chain_and_rtl(
        self, language: Language, chain: FontChain | None, rtl: bool | None, auto: bool
    ) -> tuple[FontChain, bool | None]:
        return chain or chain_for(language.script), (
            None if auto else language.rtl if rtl is None else rtl
        )

    def measure(self, line: Line, width: int, size: int | None = None) -> tuple[int, int]:
        """The rendered size of a line set `width` wide (wrapped inside its padding)."""
        used = line.size if size is None else size
        chain, rtl = self._chain_and_rtl(
            line.language or self.language, None, None, line.auto_direction
        )
        wrap = max(1, width - 2 * text_pad(used))
        return self._measure(line.text, used, chain, line.bold, rtl, wrap, line.private)

    def _measure(
        self,
        text: str,
        size: int,
        chain: FontChain,
        bold: bool,
        rtl: bool | None,
        wrap: int,
        private: bool,
        break_words: bool = False,
    ) -> tuple[int, int]:
        if not private:
            return self.engine.measure(
                text, size, chain, bold=bold, rtl=rtl, max_width=wrap, break_words=break_words
            )
        key = (text, size, chain, bold, rtl, wrap, break_words)
        found = self._private.get(key)
        if found is None:
            found = self._private[key] = self.engine.measure(
                text,
                size,
                chain,
                bold=bold,
                rtl=rtl,
                max_width=wrap,
                cache=False,
                break_words=break_words,
            )
        return found

    def single_width(self, line: Line, size: int) -> int:
        """The line's width unwrapped."""
        return self.measure(line, 10**6, size)[0]

    def common_size(self, lines: list[Line], width: int, height: int) -> int:
        """The largest size (from the first line's, down to its floor) at which every line
        fits `width` × `height`: lines of one kind share one size. Text grows about in
        proportion to its size, so the first guess is the ratio; then smaller steps."""
        size, floor = lines[0].size, lines[0].floor
        measured = [self.measure(line, width, size) for line in lines]
        ratio = min(min(width / w, height / h) for w, h in measured)
        if ratio >= 1:
            return size
        size = max(floor, int(size * ratio))
        while size > floor and not all(
            w <= width and h <= height for w, h in (self.measure(n, width, size) for n in lines)
        ):
            size = max(floor, int(size * 0.95))
        return size

    def place(
        self,
        line: Line,
        box: pygame.Rect,
        *,
        align: str = "start",
        valign: str = "top",
        side_rtl: bool | None = None,
    ) -> pygame.Rect:
        return self.text(
            line.role,
            line.text,
            box,
            line.size,
            language=line.language,
            colour=line.colour,
            bold=line.bold,
            align=align,
            valign=valign,
            min_size=line.floor,
            private=line.private,
            auto_direction=line.auto_direction,
            side_rtl=side_rtl,
        )

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
        side_rtl: bool | None = None,
        shorten: bool = False,
    ) -> pygame.Rect:
        """Set `text` in `box`, shrinking it (to `min_size`) until it fits.

        `align` start/end is the start of the screen's direction (`side_rtl`, by default the
        screen language's), not the text's own: an English line under Arabic is set right,
        with the lines above it. `auto_direction`: the text's own first strong letter sets
        its direction (names and the site's name, which may be in another script).

        What does not fit at `min_size` never runs over anything else. Data of any length
        (`shorten`, and holder data) is shortened to end in "…"; the kiosk's own sentences
        shrink further instead, as "स्वीकार नहीं…" cut to "स्वीकार…" would say the opposite."""
        box = box.clip(self.surface.get_rect())
        language = language or self.language
        chain, rtl = self._chain_and_rtl(language, chain, rtl, auto_direction)
        colour = colour or self.scheme.text
        floor = min_size or max(8, int(size * 0.6))
        shorten = shorten or private
        least = floor if shorten else min(floor, SMALLEST)
        used, break_words = size, False
        while True:
            wrap = max(1, box.w - 2 * text_pad(used))
            width, height = self._measure(text, used, chain, bold, rtl, wrap, private, break_words)
            if width <= box.w and height <= box.h:
                break
            if used <= floor and width > box.w and not break_words:
                # Words shrink before they break; only at the floor is a too-long word (a
                # name with no spaces) broken between characters.
                break_words = True
                continue
            if used <= least:
                break
            # Far too large (a panel many times taller than wide): jump close to the size
            # that fits rather than step down from a size FreeType would render for seconds.
            ratio = min(box.w / width, (box.h / height) ** 0.5)
            step = ratio if ratio < 0.5 else 0.9
            used = max(floor if used > floor else least, int(used * step))
        shown = text
        if shorten and (width > box.w or height > box.h):
            shown = self._shortened(text, used, chain, bold, rtl, wrap, private, break_words, box)
        right = self.rtl if side_rtl is None else side_rtl
        side = "centre" if align == "centre" else "right" if (align == "start") == right else "left"
        surf = self.engine.render(
            shown,
            used,
            colour,
            chain,
            bold=bold,
            rtl=rtl,
            max_width=wrap,
            align=side,
            cache=not private,
            break_words=break_words,
        )
        if side == "centre":
            x = box.x + (box.w - surf.get_width()) // 2
        elif side == "right":
            x = box.right - surf.get_width()
        else:
            x = box.x
        y = box.y
        if valign == "centre":
            y = box.y + (box.h - surf.get_height()) // 2
        elif valign == "bottom":
            y = box.bottom - surf.get_height()
        rect = pygame.Rect(x, y, surf.get_width(), surf.get_height())
        # Never a pixel outside the box, whatever the text: what still does not fit (a box
        # too small for even "…") is cut at its edge, and reported by the placement check.
        drawn = rect.clip(box)
        self.surface.blit(surf, drawn.topleft, drawn.move(-x, -y))
        self.placed.append(
            Placed(role, shown, box, rect, used, size, cut=shown != text, floor=floor)
        )
        return rect

    def _shortened(
        self,
        text: str,
        size: int,
        chain: FontChain,
        bold: bool,
        rtl: bool | None,
        wrap: int,
        private: bool,
        break_words: bool,
        box: pygame.Rect,
    ) -> str:
        """The longest start of `text` (whole grapheme clusters) that fits the box with "…"
        after it: a technician's long error line, a name no size can hold."""
        ends = [0, *itertools.accumulate(len(g) for g in segmentation.graphemes(text, True))]

        def fits(n: int) -> bool:
            shown = self._cut(text, ends[n])
            w, h = self._measure(shown, size, chain, bold, rtl, wrap, private, break_words)
            return w <= box.w and h <= box.h

        low, high = 0, len(ends) - 1  # fits(low) is assumed: "…" alone, cut at the edge if not
        while low < high:
            mid = (low + high + 1) // 2
            if fits(mid):
                low = mid
            else:
                high = mid - 1
        return self._cut(text, ends[low])

    @staticmethod
    def _cut(text: str, end: int) -> str:
        return text[:end].rstrip() + "…"

    # -- frame and icons ----------------------------------------------------------------

    def _frame(self, frame: Frame) -> int:
        """The stripe, the site name and the specimen band; returns where content starts."""
        stripe = max(4, int(self.unit * 0.018))
        if self.scheme.stripe is not None:
            pygame.draw.rect(self.surface, self.scheme.stripe, (0, 0, self.w, stripe))
        band = int(self.unit * 0.085)
        if frame.specimen:
            plate = pygame.Rect(0, stripe, self.w, band)
            pygame.draw.rect(self.surface, SPECIMEN_BAND, plate)
            self.shape("specimen-band", plate, Kind.FRAME)
            t = Texts(self.language)
            self.text(
                "specimen",
                f"{t(S.SPECIMEN)} · {t(S.SPECIMEN_NOTE)}",
                plate.inflate(-2 * self.margin, -6),
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
                min_size=self.px(theme.LEAST),  # a site's name may be 200 characters long
                auto_direction=True,
                shorten=True,
            )
        return stripe + band

    def icon(self, outcome: Outcome, rect: pygame.Rect) -> None:
        scheme = self.scheme
        surf = outcome_icon_on(outcome, rect.w, scheme.accent, scheme.icon_mark, scheme.background)
        self.surface.blit(surf, rect)
        self.shape("icon", rect)

    # -- idle ---------------------------------------------------------------------------

    def idle(self, screen: Idle) -> None:
        t = Texts(screen.language)
        title_y = self.top + self.margin // 2
        title_h = self.px(0.2)
        self.text(
            "title",
            t(S.IDLE_TITLE),
            self.box(self.margin, title_y, self.w - 2 * self.margin, title_h),
            self.px(theme.TITLE * 1.25),
            bold=True,
        )
        body_top = title_y + title_h + self.margin // 2
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
        self.shape("picture", pic_rect)
        step = self.px(theme.BODY * 1.1)
        lines = [
            Line("step", t(S.IDLE_HOLD), step, int(step * 0.7)),
            Line("step", t(S.IDLE_STILL), step, int(step * 0.7), self.scheme.quiet),
        ]
        gap = self.margin // 3
        size = self.common_size(lines, steps.w, (steps.h - gap) // 2)
        y = steps.y
        for line in lines:
            _w, h = self.measure(line, steps.w, size)
            rect = self.place(line.at(size), pygame.Rect(steps.x, y, steps.w, h))
            y = rect.bottom + gap
        self.language_buttons(
            screen, pygame.Rect(self.margin, buttons_top, self.w - 2 * self.margin, buttons_h), rows
        )

    def language_buttons(self, screen: Idle, area: pygame.Rect, rows: int) -> None:
        """Every name at one size (bold, as the chosen one is drawn), each button as wide as
        its name needs and the rows spread to the full width: a long autonym such as
        "Українська" is not set smaller than the others."""
        count = len(screen.languages)
        per_row = -(-count // rows)
        gap = max(4, self.margin // 3)
        bh = (area.h - gap * (rows - 1)) // rows
        stroke = max(2, bh // 20)
        air_x, air_y = clearance(stroke) + bh // 6, clearance(stroke) + 1
        names = [
            Line(
                f"language:{lang.code}",
                lang.name,
                int(bh * 0.45),
                int(bh * 0.2),
                bold=True,
                language=lang,
            )
            for lang in screen.languages
        ]
        rows_of = [names[i : i + per_row] for i in range(0, count, per_row)]

        def widths(size: int) -> list[list[int]]:
            return [[self.measure(n, 10**6, size)[0] + 2 * air_x for n in row] for row in rows_of]

        size = names[0].size
        while True:  # widths grow with the size: a guess from the ratio, then check
            tall = max(self.measure(n, 10**6, size)[1] for n in names)
            wide = max(sum(row) + gap * (len(row) - 1) for row in widths(size))
            ratio = min(area.w / wide, (bh - 2 * air_y) / tall)
            if ratio >= 1 or size == names[0].floor:
                break
            size = max(names[0].floor, int(size * min(ratio, 0.97)))
        for r, (row, natural) in enumerate(zip(rows_of, widths(size), strict=True)):
            spare = (area.w - sum(natural) - gap * (len(row) - 1)) // len(row)
            x = area.x
            for name, width in zip(row, natural, strict=True):
                lang = screen.languages[names.index(name)]
                rect = self.box(x, area.y + r * (bh + gap), width + spare, bh)
                x += width + spare + gap
                chosen = lang == screen.language
                plate = 0 if chosen else stroke
                pygame.draw.rect(
                    self.surface,
                    theme.SELECTED if chosen else self.scheme.quiet,
                    rect,
                    plate,
                    bh // 5,
                )
                self.shape(name.role, rect, Kind.FRAME, plate)  # all of it touchable
                self.text(
                    name.role,
                    name.text,
                    rect.inflate(-2 * air_x, -2 * air_y),
                    size,
                    language=lang,
                    min_size=name.floor,
                    colour=INK if chosen else self.scheme.text,
                    align="centre",
                    valign="centre",
                    bold=chosen,
                )

    # -- reading ------------------------------------------------------------------------

    def reading(self, screen: Reading) -> None:
        t = Texts(screen.language)
        room = pygame.Rect(self.margin, self.top + self.margin // 2, self.w - 2 * self.margin, 0)
        room.h = self.h - self.margin - room.y
        size = int(room.h * 0.45) if not self.portrait else int(self.w * 0.5)
        if self.portrait:
            spin = pygame.Rect((self.w - size) // 2, room.y + self.margin, size, size)
            column = pygame.Rect(
                room.x, spin.bottom + self.margin, room.w, room.bottom - spin.bottom - self.margin
            )
        else:
            spin = self.box(room.x, room.y + (room.h - size) // 2, size, size)
            x = room.x + size + self.margin
            column = self.box(x, room.y, room.right - x, room.h)
        self.surface.blit(spinner(size, self.scheme.accent, self.now % 1.0), spin)
        self.shape("spinner", spin)
        word = int(self.unit * theme.OUTCOME_WORD * 0.8)
        lines = [
            Line("outcome", t(S.READING), word, self.word_floor, bold=True),
            Line("body", t(S.HOLD_STILL), self.px(theme.BODY), self.px(theme.BODY)),
        ]
        heights = [self.measure(line, column.w)[1] for line in lines]
        gap = self.margin // 2
        y = column.y + max(0, (column.h - sum(heights) - gap) // 2)
        for line, h in zip(lines, heights, strict=True):
            self.place(line, pygame.Rect(column.x, y, column.w, h))
            y += h + gap
