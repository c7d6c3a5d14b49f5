"""What a paint placed where, and what is wrong with it: text outside its box or the screen
(the painter cuts its pixels at the box, but the layout failed), text shortened with "…" or
set under its smallest size, two things drawn over each other, a label touching the outline
around it.

The painter records every text, shape (icon, picture) and frame (an outline or a filled
plate that holds text) it draws; `Placement.problems` checks every one against every other,
so `kiosk screens` and the tests catch a translation that runs into the next line."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import StrEnum

import pygame


class Kind(StrEnum):
    TEXT = "text"
    SHAPE = "shape"  # an icon, the idle picture, the camera preview
    FRAME = "frame"  # an outline (stroke > 0) or a filled plate (stroke 0) with text inside


@dataclass(frozen=True)
class Placed:
    role: str
    text: str
    box: pygame.Rect  # where it was allowed to go
    rect: pygame.Rect  # where its pixels went
    size: int = 0  # text: font size in px actually used
    wanted: int = 0  # text: font size asked for
    kind: Kind = Kind.TEXT
    stroke: int = 0  # frame: the outline's width, 0 for a filled plate
    cut: bool = False  # text: shortened with "…" to fit its box (`text` is what is shown)
    floor: int = 0  # text: the smallest size it should be set at

    @property
    def fits(self) -> bool:
        return self.box.contains(self.rect)

    def label(self) -> str:
        return f"{self.role} {self.text[:30]!r}" if self.text else self.role


def clearance(stroke: int) -> int:
    """How far text inside a frame keeps from its edge: past the stroke, and a little air."""
    return stroke + max(2, stroke)


class Placement(list[Placed]):
    """The placed items of one paint of one screen size."""

    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__()
        self.size = size

    def problems(self) -> list[str]:
        screen = pygame.Rect(0, 0, *self.size)
        found = []
        for p in self:
            if p.kind is Kind.TEXT and not p.fits:
                found.append(
                    f"overflow: {p.label()} {_xywh(p.rect)} outside its box {_xywh(p.box)}"
                )
            if p.cut:
                found.append(f"cut: {p.label()} shortened to fit its box {_xywh(p.box)}")
            if p.kind is Kind.TEXT and p.size < p.floor:
                found.append(f"too small: {p.label()} set at {p.size} px, under {p.floor} px")
            if not screen.contains(p.rect):
                found.append(f"off screen: {p.label()} {_xywh(p.rect)}")
        ink = [p for p in self if p.kind is not Kind.FRAME]
        for a, b in itertools.combinations(ink, 2):
            if a.rect.colliderect(b.rect):
                found.append(
                    f"overlap: {a.label()} {_xywh(a.rect)} and {b.label()} {_xywh(b.rect)}"
                )
        frames = [p for p in self if p.kind is Kind.FRAME]
        for frame in frames:
            for p in ink:
                if p.rect.colliderect(frame.rect) and not _inside(frame).contains(p.rect):
                    found.append(f"touches its frame: {p.label()} {_xywh(p.rect)}, {frame.label()}")
        for a, b in itertools.combinations(frames, 2):
            nested = _inside(a).contains(b.rect) or _inside(b).contains(a.rect)
            if a.rect.colliderect(b.rect) and not nested:
                found.append(f"frames cross: {a.label()} {_xywh(a.rect)} and {b.label()}")
        return found


def _inside(frame: Placed) -> pygame.Rect:
    return frame.rect.inflate(-2 * clearance(frame.stroke), -2 * clearance(frame.stroke))


def _xywh(rect: pygame.Rect) -> str:
    return f"({rect.x},{rect.y} {rect.w}x{rect.h})"
