"""Text to pixels: itemised by font, ordered by UAX #9, shaped by HarfBuzz (Pillow + raqm).

A string is split into runs of one face and one bidi level; each run is shaped by raqm in
its own direction and language, and the runs are placed in visual order on one baseline.
pygame-ce's own shaping reverses digit runs inside right-to-left text and cannot fall back
between fonts, so pygame only receives the finished pixels. Rendered text is cached: the
screens ask for the same few hundred strings over and over.
"""

from __future__ import annotations

import math
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from threading import Lock

import numpy as np
import pygame
import unicode_segmentation_rs as segmentation
from PIL import Image, ImageDraw, ImageFont

from kiosk.ui.bidi import embedding_levels, visual_order
from kiosk.ui.fonts import Face, FontChain, coverage

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Run:
    text: str
    face: Face
    rtl: bool
    width: float


@dataclass(frozen=True)
class Line:
    runs: tuple[Run, ...]  # visual order, left to right
    width: int
    ascent: int
    descent: int


@dataclass(frozen=True)
class Block:
    """Laid-out lines of one paragraph at one size."""

    lines: tuple[Line, ...]
    rtl: bool
    line_gap: int

    @property
    def width(self) -> int:
        return max((line.width for line in self.lines), default=0)

    @property
    def height(self) -> int:
        return sum(line.ascent + line.descent for line in self.lines) + self.line_gap * max(
            0, len(self.lines) - 1
        )


# Bidi embeddings, overrides and isolates: a holder's name must not reorder the text around
# it (or itself, to spoof another name); the kiosk's own strings never need them.
_BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def displayable(text: str) -> str:
    """The text as drawn: control characters and line/paragraph separators (tabs, newlines,
    NUL, U+2028/9...) become spaces, bidi controls are dropped and lone surrogates become
    U+FFFD; raqm refuses some of them outright."""
    text = text.translate(_BIDI_CONTROLS)
    return "".join(_SHOWN_AS.get(unicodedata.category(c), c) for c in text)


_SHOWN_AS = {"Cc": " ", "Zl": " ", "Zp": " ", "Cs": "\ufffd"}


def _hangul(char: str) -> bool:
    code = ord(char)
    return (
        0xAC00 <= code <= 0xD7A3  # syllables
        or 0x1100 <= code <= 0x11FF  # jamo
        or 0x3130 <= code <= 0x318F  # compatibility jamo
        or 0xA960 <= code <= 0xA97F
        or 0xD7B0 <= code <= 0xD7FF
    )


def break_opportunities(text: str) -> list[int]:
    """Where a line may end, as character offsets (the text's length last): the Unicode line
    breaking algorithm (UAX #14, the Rust unicode-linebreak crate), so no-break spaces, CJK
    punctuation and quotation marks are kept right in every script. Tailored as CSS
    `word-break: keep-all` does for Korean, which is written with spaces between words:
    Hangul breaks at those spaces, never between the syllables of a word."""
    char_at: dict[int, int] = {}
    offset = 0
    for i, char in enumerate(text):
        offset += len(char.encode("utf-8"))
        char_at[offset] = i + 1
    found = []
    for byte, _mandatory in segmentation.line_breaks(text):
        i = char_at[byte]
        if 0 < i < len(text) and _inside_a_korean_word(text[i - 1], text[i]):
            continue
        found.append(i)
    return found


def _inside_a_korean_word(before: str, after: str) -> bool:
    if not (_hangul(before) or _hangul(after)):
        return False
    return all(_hangul(c) or unicodedata.category(c)[0] in "LN" for c in (before, after))


class TextEngine:
    """Lays out and renders text; one instance per display, used from the loop's thread."""

    def __init__(self, cache_size: int = 1024, max_bytes: int = 96 * 2**20) -> None:
        self._fonts: dict[tuple[Face, int, bool], ImageFont.FreeTypeFont] = {}
        self._surfaces: OrderedDict[tuple[object, ...], pygame.Surface] = OrderedDict()
        self._blocks: dict[tuple[object, ...], Block] = {}  # layouts, shared by measure/render
        self._advances: dict[tuple[Face, int, bool, str], float] = {}
        self._lengths: dict[tuple[object, ...], float] = {}  # words' advances, runs' ink
        self._bytes = 0
        self._max_bytes = max_bytes
        self._cache_size = cache_size
        self._lock = Lock()
        self.hits = 0
        self.misses = 0

    def font(self, face: Face, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
        size = max(4, size)
        key = (face, size, bold)
        found = self._fonts.get(key)
        if found is None:
            found = ImageFont.truetype(
                str(face.path(bold)),
                round(size * face.scale),
                index=face.index,
                layout_engine=ImageFont.Layout.RAQM,
            )
            self._fonts[key] = found
        return found

    # -- layout -------------------------------------------------------------------------

    def layout(
        self,
        text: str,
        size: int,
        chain: FontChain,
        *,
        bold: bool = False,
        rtl: bool | None = None,
        max_width: int | None = None,
        break_words: bool = False,
        remember: bool = False,
    ) -> Block:
        """`remember`: keep the advances of its words for the next layout of the same text
        (another width or size); never for holder data."""
        memo = self._lengths if remember else {}
        text = displayable(text)
        levels, paragraph_rtl = embedding_levels(text, rtl)
        faces = self._faces(text, chain)
        lines = []
        for start, end in self._wrap(text, levels, faces, size, bold, max_width, break_words, memo):
            lines.append(self._line(text, levels, faces, start, end, size, bold, memo))
        return Block(tuple(lines), paragraph_rtl, line_gap=size // 5)

    def _faces(self, text: str, chain: FontChain) -> list[Face]:
        """A face per character; neutrals (spaces, digits, punctuation) stay in the face
        around them when it has them, so runs are not broken needlessly."""
        faces: list[Face] = []
        current = chain.primary
        for char in text:
            from_font = chain.face_for(char)
            if from_font is None:
                faces.append(current)  # drawn as the face's .notdef box; tests forbid this
                continue
            if unicodedata.category(char)[0] in "LM":  # a letter or mark starts its face's run
                current = from_font
            elif not _covers(current, char):
                faces.append(from_font)  # a neutral the run's face lacks
                if not char.isspace():
                    current = from_font
                continue
            faces.append(current)
        return faces

    def _runs(
        self,
        text: str,
        levels: list[int],
        faces: list[Face],
        start: int,
        end: int,
        size: int,
        bold: bool,
        memo: dict[tuple[object, ...], float],
    ) -> Iterator[tuple[Run, int]]:
        i = start
        while i < end:
            j = i + 1
            while j < end and levels[j] == levels[i] and faces[j] == faces[i]:
                j += 1
            piece = text[i:j]
            rtl = bool(levels[i] % 2)
            key = (piece, faces[i], size, bold, rtl)
            width = memo.get(key)
            if width is None:
                width = memo[key] = self.font(faces[i], size, bold).getlength(
                    piece, direction="rtl" if rtl else "ltr", language=faces[i].language
                )
            yield Run(piece, faces[i], rtl, width), levels[i]
            i = j

    def _width(
        self,
        text: str,
        levels: list[int],
        faces: list[Face],
        start: int,
        end: int,
        size: int,
        bold: bool,
        memo: dict[tuple[object, ...], float],
    ) -> float:
        runs = self._runs(text, levels, faces, start, end, size, bold, memo)
        return sum(run.width for run, _ in runs)

    def _wrap(
        self,
        text: str,
        levels: list[int],
        faces: list[Face],
        size: int,
        bold: bool,
        max_width: int | None,
        break_words: bool,
        memo: dict[tuple[object, ...], float],
    ) -> list[tuple[int, int]]:
        if (
            max_width is None
            or round(self._width(text, levels, faces, 0, len(text), size, bold, memo)) <= max_width
        ):
            return [_trim(text, 0, len(text))]
        starts = [0, *break_opportunities(text)]
        pieces = [(a, b) for a, b in pairwise(starts) if b > a]
        if break_words and any(
            self._width(text, levels, faces, a, b, size, bold, memo) > max_width for a, b in pieces
        ):
            # A word wider than the line (a long name with no spaces): break it between
            # grapheme clusters rather than overflow.
            pieces = [
                p
                for a, b in pieces
                for p in self._split_wide(text, a, b, levels, faces, size, bold, max_width, memo)
            ]
        lines: list[tuple[int, int]] = []
        line_start, line_width = pieces[0][0], 0.0
        for a, b in pieces:
            # A piece's spaces end it (UAX #14) and take no room at the end of a line: the
            # piece fits by its ink; the spaces count only when more follows on the line.
            inked = b
            while inked > a and text[inked - 1].isspace():
                inked -= 1
            width = self._width(text, levels, faces, a, inked, size, bold, memo)
            if line_width and round(line_width + width) > max_width:
                lines.append(_trim(text, line_start, a))
                line_start, line_width = a, 0.0
            line_width += width + sum(
                self._advance(faces[i], size, bold, text[i]) for i in range(inked, b)
            )
        lines.append(_trim(text, line_start, len(text)))
        return lines

    def _advance(self, face: Face, size: int, bold: bool, char: str) -> float:
        """A space's advance, kept per face and size (spaces are shaped alike anywhere)."""
        key = (face, size, bold, char)
        found = self._advances.get(key)
        if found is None:
            found = self._advances[key] = self.font(face, size, bold).getlength(char)
        return found

    def _split_wide(
        self,
        text: str,
        start: int,
        end: int,
        levels: list[int],
        faces: list[Face],
        size: int,
        bold: bool,
        max_width: int,
        memo: dict[tuple[object, ...], float],
    ) -> list[tuple[int, int]]:
        if self._width(text, levels, faces, start, end, size, bold, memo) <= max_width:
            return [(start, end)]
        clusters, i = [], start
        for cluster in segmentation.graphemes(text[start:end], True):  # marks, ZWJ emoji whole
            clusters.append((i, i + len(cluster)))
            i += len(cluster)
        return clusters

    def _line(
        self,
        text: str,
        levels: list[int],
        faces: list[Face],
        start: int,
        end: int,
        size: int,
        bold: bool,
        memo: dict[tuple[object, ...], float],
    ) -> Line:
        pairs = list(self._runs(text, levels, faces, start, end, size, bold, memo))
        order = visual_order([level for _, level in pairs])
        runs = tuple(pairs[i][0] for i in order)
        # Line height from the ink of the runs (Nastaliq's declared metrics are several
        # times its real extent), never less than a Latin line's.
        ascent, descent = int(size * 0.8), int(size * 0.25)
        for run in runs:
            key = ("ink", run.text, run.face, size, bold, run.rtl)
            if key not in memo:
                _left, top, _right, bottom = self.font(run.face, size, bold).getbbox(
                    run.text,
                    anchor="ls",
                    direction="rtl" if run.rtl else "ltr",
                    language=run.face.language,
                )
                memo[key], memo[(*key, "below")] = -top, bottom
            ascent = max(ascent, math.ceil(memo[key]))
            descent = max(descent, math.ceil(memo[(*key, "below")]))
        return Line(runs, round(sum(r.width for r in runs)), ascent, descent)

    # -- pixels -------------------------------------------------------------------------

    def mask(self, block: Block, size: int, bold: bool, align: str = "start") -> Image.Image:
        """The block as an 8-bit coverage image; `align` start/centre/end follows the
        paragraph direction (start is the right edge for Arabic and Urdu), left/right do
        not (an English line under Arabic is set right, with the text above it)."""
        width = max(1, block.width)
        pad = text_pad(size)  # glyph ink can reach past the advances (Nastaliq, Devanagari)
        right = align == "right" or (align in ("start", "end") and (align == "start") == block.rtl)
        image = Image.new("L", (width + 2 * pad, max(1, block.height)), 0)
        draw = ImageDraw.Draw(image)
        y = 0
        for line in block.lines:
            if align == "centre":
                x = pad + (width - line.width) / 2
            elif right:
                x = pad + width - line.width
            else:
                x = pad
            baseline = y + line.ascent
            for run in line.runs:
                draw.text(
                    (x, baseline),
                    run.text,
                    fill=255,
                    font=self.font(run.face, size, bold),
                    anchor="ls",
                    direction="rtl" if run.rtl else "ltr",
                    language=run.face.language,
                )
                x += run.width
            y += line.ascent + line.descent + block.line_gap
        return image

    def render(
        self,
        text: str,
        size: int,
        colour: Colour,
        chain: FontChain,
        *,
        bold: bool = False,
        rtl: bool | None = None,
        max_width: int | None = None,
        align: str = "start",
        cache: bool = True,
        break_words: bool = False,
    ) -> pygame.Surface:
        """`cache=False` for holder data: it must not outlive the screen that shows it."""
        key = (text, size, colour, chain.faces, bold, rtl, max_width, align, break_words)
        with self._lock:
            cached = self._surfaces.get(key)
            if cached is not None:
                self._surfaces.move_to_end(key)
                self.hits += 1
                return cached
        self.misses += 1
        block = self._laid_out(text, size, chain, bold, rtl, max_width, break_words, cache)
        coverage = np.asarray(self.mask(block, size, bold, align))
        surface = pygame.Surface((coverage.shape[1], coverage.shape[0]), pygame.SRCALPHA)
        surface.fill((*colour, 0))
        alpha = pygame.surfarray.pixels_alpha(surface)
        alpha[:] = coverage.T
        del alpha  # unlocks the surface
        if not cache:
            return surface
        with self._lock:
            self._surfaces[key] = surface
            self._bytes += _size_of(surface)
            while len(self._surfaces) > self._cache_size or self._bytes > self._max_bytes:
                _, old = self._surfaces.popitem(last=False)
                self._bytes -= _size_of(old)
        return surface

    def measure(
        self,
        text: str,
        size: int,
        chain: FontChain,
        *,
        bold: bool = False,
        rtl: bool | None = None,
        max_width: int | None = None,
        cache: bool = True,
        break_words: bool = False,
    ) -> tuple[int, int]:
        """The size `render` would give, without drawing (the layout is kept for it)."""
        block = self._laid_out(text, size, chain, bold, rtl, max_width, break_words, cache)
        return max(1, block.width) + 2 * text_pad(size), max(1, block.height)

    def _laid_out(
        self,
        text: str,
        size: int,
        chain: FontChain,
        bold: bool,
        rtl: bool | None,
        max_width: int | None,
        break_words: bool,
        cache: bool,
    ) -> Block:
        key = (text, size, chain.faces, bold, rtl, max_width, break_words)
        block = self._blocks.get(key)
        if block is None:
            block = self.layout(
                text,
                size,
                chain,
                bold=bold,
                rtl=rtl,
                max_width=max_width,
                break_words=break_words,
                remember=cache,
            )
            if len(self._lengths) > self._cache_size * 16:
                self._lengths.clear()
            if cache:
                self._blocks[key] = block
                if len(self._blocks) > self._cache_size * 4:
                    del self._blocks[next(iter(self._blocks))]  # oldest first
        return block

    def preload(self, chains: list[FontChain]) -> None:
        """Read every face's cmap now, not during the first card's result."""
        for chain in chains:
            for face in chain.faces:
                coverage(face)

    def clear(self) -> None:
        with self._lock:
            self._surfaces.clear()
            self._blocks.clear()
            self._lengths.clear()
            self._bytes = 0


def text_pad(size: int) -> int:
    """The room left and right of a rendered text for ink past its advances."""
    return max(1, size // 10)


def _size_of(surface: pygame.Surface) -> int:
    width, height = surface.get_size()
    return width * height * 4


def _covers(face: Face, char: str) -> bool:
    return ord(char) in coverage(face)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
