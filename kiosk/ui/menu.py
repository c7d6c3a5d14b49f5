"""The technician menu: its items on the start side and a pane the app fills with the
kiosk's own English (diagnostics, trust status, the camera's view)."""

from __future__ import annotations

import pygame

from kiosk.ui import strings as S
from kiosk.ui import theme
from kiosk.ui.i18n import ENGLISH, Texts
from kiosk.ui.paint import Canvas, Line
from kiosk.ui.placement import Kind, clearance
from kiosk.ui.screens import Technician
from kiosk.ui.theme import INK


def preview(
    canvas: Canvas, image: tuple[int, int, bytes], pane: pygame.Rect, y: int, below: int
) -> int:
    """The decoder's view, scaled into the pane; returns where the text goes on."""
    width, height, pixels = image
    gray = pygame.image.frombuffer(pixels, (width, height), "P")
    gray.set_palette([(v, v, v) for v in range(256)])
    room_h = max(16, pane.bottom - y - below - canvas.margin // 4)
    scale = min(pane.w / width, room_h / height)
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    rect = canvas.surface.blit(pygame.transform.scale(gray, size), (pane.x, y))
    canvas.shape("preview", rect)
    return rect.bottom + canvas.margin // 4


def technician(canvas: Canvas, screen: Technician) -> None:
    t = Texts(screen.language)
    title_h = canvas.px(0.13)
    canvas.text(
        "title",
        t(S.TECHNICIAN_MENU),
        canvas.box(canvas.margin, canvas.top, canvas.w - 2 * canvas.margin, title_h),
        canvas.px(theme.BODY),
        bold=True,
        valign="centre",
    )
    top = canvas.top + title_h + canvas.margin // 2
    list_w = int(canvas.w * (0.42 if canvas.portrait else 0.3))
    item_h = min(canvas.px(0.09), (canvas.h - top - canvas.margin) // max(1, len(screen.items)))
    air_x, air_y = max(4, item_h // 5), clearance(0) + 1  # clear of the plate's edge
    items = [
        Line(f"item:{i}", t(item), int(item_h * 0.5), int(item_h * 0.3))
        for i, item in enumerate(screen.items)
    ]
    inset = (-2 * air_x, -2 * air_y)
    item_size = canvas.common_size(items, list_w + inset[0], item_h - 4 + inset[1])
    for i, item in enumerate(items):
        rect = canvas.box(canvas.margin, top + i * item_h, list_w, item_h - 4)
        chosen = i == screen.selected
        if chosen:
            pygame.draw.rect(canvas.surface, theme.SELECTED, rect, 0, item_h // 6)
            canvas.shape(item.role, rect, Kind.FRAME)
        canvas.text(
            item.role,
            item.text,
            rect.inflate(*inset),
            item_size,
            colour=INK if chosen else canvas.scheme.text,
            valign="centre",
            min_size=item.floor,
        )
    pane_x = canvas.margin * 2 + list_w
    bottom = canvas.h - canvas.margin
    pane = canvas.box(pane_x, top, canvas.w - pane_x - canvas.margin, bottom - top)
    pygame.draw.rect(canvas.surface, canvas.scheme.quiet, pane, 2, 8)
    canvas.shape("pane", pane, Kind.FRAME, 2)
    inner = pane.inflate(-canvas.margin // 2 - 8, -canvas.margin // 2 - 8)
    rect = canvas.text(
        "pane-title",
        t(screen.pane_title),
        pygame.Rect(inner.x, inner.y, inner.w, canvas.px(0.08)),
        canvas.px(theme.ENGLISH * 1.2),
        bold=True,
    )
    y = rect.bottom + canvas.margin // 4
    # The pane's lines are the kiosk's own English (codes, paths, versions): as large as
    # the menu's items, so they read as well as the items in any script.
    size = item_size
    line_h = int(size * 1.3)
    if screen.preview is not None:
        y = preview(canvas, screen.preview, inner, y, len(screen.pane_lines) * line_h)
    for text in screen.pane_lines:
        if not text:
            continue
        if y + line_h > inner.bottom:
            break
        # long lines wrap (up to three lines) rather than shrink
        rect = canvas.text(
            "pane",
            text,
            pygame.Rect(inner.x, y, inner.w, min(inner.bottom - y, line_h * 3)),
            size,
            language=ENGLISH,
            rtl=False,
            min_size=size * 2 // 3,
            shorten=True,  # a device's error can be a paragraph
        )
        y = rect.bottom + line_h // 5
