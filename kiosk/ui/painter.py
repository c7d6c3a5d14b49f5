"""Paints one screen model: the idle and reading screens here (kiosk.ui.paint's canvas), the
outcome screens in kiosk.ui.outcome, the technician menu in kiosk.ui.menu. Apart from the
canvas they all draw on, so none of them imports another's caller."""

from __future__ import annotations

import time

import pygame

from kiosk.ui import menu, outcome
from kiosk.ui.paint import Canvas
from kiosk.ui.placement import Placement
from kiosk.ui.screens import Idle, OutOfService, Reading, Result, Screen
from kiosk.ui.text import TextEngine


class Painter:
    def __init__(self, engine: TextEngine | None = None) -> None:
        self.engine = engine or TextEngine()

    def paint(self, surface: pygame.Surface, screen: Screen, now: float | None = None) -> Placement:
        canvas = Canvas(surface, self.engine, screen, time.monotonic() if now is None else now)
        if isinstance(screen, Idle):
            canvas.idle(screen)
        elif isinstance(screen, Reading):
            canvas.reading(screen)
        elif isinstance(screen, Result):
            outcome.result(canvas, screen)
        elif isinstance(screen, OutOfService):
            outcome.out_of_service(canvas, screen)
        else:
            menu.technician(canvas, screen)
        return canvas.placed
