"""Outcome icons and the idle picture, drawn with pygame primitives (no image files), each
a distinct shape so the outcome reads without colour: a circle with a tick (accepted), an
octagon with a cross (not accepted), a diamond with an hourglass (can't check), a square
with a spanner (out of service)."""

from __future__ import annotations

import math
from functools import cache

import pygame
from PIL import Image

from kiosk.ui.theme import INK, Colour, Outcome

_SUPERSAMPLE = 3


def _canvas(size: int) -> tuple[pygame.Surface, int]:
    big = size * _SUPERSAMPLE
    return pygame.Surface((big, big), pygame.SRCALPHA), big


def _finish(canvas: pygame.Surface, size: int) -> pygame.Surface:
    """Averages the supersampled drawing down, alpha-weighted: a solid fill keeps its
    exact colour (pygame's smoothscale leaves white at 253 with alpha 253)."""
    big = Image.frombytes("RGBA", canvas.get_size(), pygame.image.tobytes(canvas, "RGBA"))
    small = big.resize((size, size), Image.Resampling.BOX)
    return pygame.image.frombytes(small.tobytes(), (size, size), "RGBA")


def _polygon(
    sides: int, centre: float, radius: float, rotation: float
) -> list[tuple[float, float]]:
    return [
        (
            centre + radius * math.cos(rotation + 2 * math.pi * k / sides),
            centre + radius * math.sin(rotation + 2 * math.pi * k / sides),
        )
        for k in range(sides)
    ]


@cache
def outcome_icon(outcome: Outcome, size: int, fill: Colour, mark: Colour) -> pygame.Surface:
    canvas, big = _canvas(size)
    c, r = big / 2, big / 2 * 0.96
    stroke = max(3, int(big * 0.1))
    if outcome is Outcome.ACCEPTED:
        pygame.draw.circle(canvas, fill, (c, c), r)
        points = [(big * 0.27, big * 0.52), (big * 0.43, big * 0.68), (big * 0.74, big * 0.34)]
        pygame.draw.lines(canvas, mark, False, points, stroke)
        for p in points:
            pygame.draw.circle(canvas, mark, p, stroke / 2)
    elif outcome is Outcome.REJECTED:
        pygame.draw.polygon(canvas, fill, _polygon(8, c, r, math.pi / 8))
        a, b = big * 0.32, big * 0.68
        pygame.draw.line(canvas, mark, (a, a), (b, b), stroke)
        pygame.draw.line(canvas, mark, (a, b), (b, a), stroke)
        for p in ((a, a), (b, b), (a, b), (b, a)):
            pygame.draw.circle(canvas, mark, p, stroke / 2)
    elif outcome is Outcome.CANT_CHECK:
        pygame.draw.polygon(canvas, fill, _polygon(4, c, r, 0))
        top, bottom, half = big * 0.3, big * 0.7, big * 0.14
        pygame.draw.polygon(canvas, mark, [(c - half, top), (c + half, top), (c, c)])
        pygame.draw.polygon(canvas, mark, [(c, c), (c + half, bottom), (c - half, bottom)])
        pygame.draw.line(canvas, mark, (c - half * 1.2, top), (c + half * 1.2, top), stroke // 3)
        pygame.draw.line(
            canvas, mark, (c - half * 1.2, bottom), (c + half * 1.2, bottom), stroke // 3
        )
    else:  # out of service: a spanner in a rounded square
        pygame.draw.rect(
            canvas, fill, (big * 0.04, big * 0.04, big * 0.92, big * 0.92), 0, int(big * 0.14)
        )
        start, end = (big * 0.33, big * 0.67), (big * 0.62, big * 0.38)
        pygame.draw.line(canvas, mark, start, end, stroke)
        pygame.draw.circle(canvas, mark, start, stroke * 0.6)
        pygame.draw.circle(canvas, mark, end, big * 0.13)
        pygame.draw.circle(canvas, fill, (end[0] + big * 0.06, end[1] - big * 0.06), big * 0.07)
    return _finish(canvas, size)


@cache
def present_card_picture(width: int, accent: Colour) -> pygame.Surface:
    """A card with its QR code held up to the camera above it."""
    height = int(width * 0.9)
    s = _SUPERSAMPLE
    canvas = pygame.Surface((width * s, height * s), pygame.SRCALPHA)
    W, H = width * s, height * s
    # camera at the top
    cam = pygame.Rect(int(W * 0.38), 0, int(W * 0.24), int(H * 0.14))
    pygame.draw.rect(canvas, (200, 206, 214), cam, 0, int(H * 0.03))
    pygame.draw.circle(canvas, INK, cam.center, cam.height * 0.34)
    pygame.draw.circle(canvas, accent, cam.center, cam.height * 0.2)
    # arrow from card to camera
    ax = W / 2
    pygame.draw.line(canvas, accent, (ax, H * 0.38), (ax, H * 0.2), int(W * 0.03))
    pygame.draw.polygon(
        canvas, accent, [(ax - W * 0.06, H * 0.22), (ax + W * 0.06, H * 0.22), (ax, H * 0.16)]
    )
    # the card, slightly tilted towards the viewer
    card = pygame.Rect(int(W * 0.08), int(H * 0.42), int(W * 0.84), int(H * 0.55))
    pygame.draw.rect(canvas, (245, 245, 240), card, 0, int(W * 0.04))
    pygame.draw.rect(canvas, accent, (card.x, card.y, card.w, int(card.h * 0.16)), 0, int(W * 0.04))
    qr = int(card.h * 0.68)
    qx, qy = card.right - qr - int(card.w * 0.06), card.y + int(card.h * 0.24)
    pygame.draw.rect(canvas, (255, 255, 255), (qx, qy, qr, qr))
    cell = qr / 21
    for row in range(21):
        for col in range(21):
            finder = any(
                r0 <= row < r0 + 7 and c0 <= col < c0 + 7 for r0, c0 in ((0, 0), (0, 14), (14, 0))
            )
            if finder:
                ring = max(abs(row % 14 - 3), abs(col % 14 - 3))
                dark = ring != 2
            else:
                dark = (row * 7 + col * 13 + row * col) % 3 == 0
            if dark:
                pygame.draw.rect(
                    canvas,
                    INK,
                    (qx + col * cell, qy + row * cell, math.ceil(cell), math.ceil(cell)),
                )
    # name lines on the card's left (no real data)
    for k in range(3):
        y = card.y + int(card.h * (0.34 + 0.16 * k))
        pygame.draw.rect(
            canvas, (150, 156, 166), (card.x + card.w * 0.07, y, card.w * 0.38, card.h * 0.07)
        )
    return pygame.transform.smoothscale(canvas, (width, height))


def spinner(size: int, colour: Colour, phase: float) -> pygame.Surface:
    surface = pygame.Surface((size, size), pygame.SRCALPHA)
    for k in range(12):
        angle = 2 * math.pi * k / 12
        fade = ((k - phase * 12) % 12) / 12
        c = (*colour, int(60 + 195 * fade))
        x = size / 2 + math.cos(angle) * size * 0.38
        y = size / 2 + math.sin(angle) * size * 0.38
        pygame.draw.circle(surface, c, (x, y), size * 0.07)
    return surface


@cache
def outcome_icon_on(
    outcome: Outcome, size: int, fill: Colour, mark: Colour, background: Colour
) -> pygame.Surface:
    """The icon composed once on the screen's colour: an opaque copy blits several times
    faster than blending its alpha on every paint."""
    plate = pygame.Surface((size, size))
    plate.fill(background)
    plate.blit(outcome_icon(outcome, size, fill, mark), (0, 0))
    return plate
