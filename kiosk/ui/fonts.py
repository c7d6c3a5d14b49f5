"""Fonts: the Noto families (OFL), installed as Debian packages (fonts-noto-core,
fonts-noto-cjk; on Raspberry Pi OS too), chained per script with full fallback.

Each language gets a chain whose first face is its own script's (Naskh for Arabic, Nastaliq
for Urdu, the CJK face of the right region for Chinese and Korean), followed by every other
face, so a holder's name in any script still finds its glyphs. Coverage comes from the
faces' cmap tables (fontTools), read lazily: the CJK collection is only opened for text that
needs it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fontTools.ttLib import TTFont

from kiosk.core.errors import ConfigError

FONT_DIRS: tuple[Path, ...] = (
    Path(__file__).resolve().parent.parent / "assets" / "fonts",
    Path("/usr/share/fonts/truetype/noto"),
    Path("/usr/share/fonts/opentype/noto"),
    Path("/usr/share/fonts/truetype/dejavu"),
)


@dataclass(frozen=True)
class Face:
    """One font file (and face index in a collection), regular and bold."""

    name: str
    regular: str
    bold: str
    index: int = 0
    language: str | None = None  # OpenType language for shaping (Urdu forms, CJK variants)
    scale: float = 1.0  # Naskh draws small at a given em size: matched to Noto Sans by eye

    def path(self, bold: bool = False) -> Path:
        file = self.bold if bold else self.regular
        for folder in FONT_DIRS:
            if (folder / file).is_file():
                return folder / file
        raise ConfigError(
            f"font {file} not found in {', '.join(map(str, FONT_DIRS))}: "
            "install fonts-noto-core and fonts-noto-cjk (scripts/setup.sh does)"
        )

    @property
    def installed(self) -> bool:
        try:
            self.path()
        except ConfigError:
            return False
        return True


LATIN = Face("Noto Sans", "NotoSans-Regular.ttf", "NotoSans-Bold.ttf")
NASKH = Face(
    "Noto Naskh Arabic", "NotoNaskhArabic-Regular.ttf", "NotoNaskhArabic-Bold.ttf", 0, "ar", 1.2
)
NASTALIQ = Face(
    "Noto Nastaliq Urdu", "NotoNastaliqUrdu-Regular.ttf", "NotoNastaliqUrdu-Bold.ttf", 0, "ur"
)
DEVANAGARI = Face(
    "Noto Sans Devanagari", "NotoSansDevanagari-Regular.ttf", "NotoSansDevanagari-Bold.ttf"
)
GUJARATI = Face("Noto Sans Gujarati", "NotoSansGujarati-Regular.ttf", "NotoSansGujarati-Bold.ttf")
_CJK = ("NotoSansCJK-Regular.ttc", "NotoSansCJK-Bold.ttc")
CJK_KR = Face("Noto Sans CJK KR", *_CJK, 1, "ko")
CJK_SC = Face("Noto Sans CJK SC", *_CJK, 2, "zh-Hans")
CJK_TC = Face("Noto Sans CJK TC", *_CJK, 3, "zh-Hant")
SYMBOLS = Face("DejaVu Sans", "DejaVuSans.ttf", "DejaVuSans-Bold.ttf")

_FIRST: dict[str, Face] = {
    "Latn": LATIN,
    "Cyrl": LATIN,
    "Arab": NASKH,
    "Aran": NASTALIQ,
    "Deva": DEVANAGARI,
    "Gujr": GUJARATI,
    "Hans": CJK_SC,
    "Hant": CJK_TC,
    "Kore": CJK_KR,
}
_ALL = (LATIN, NASKH, DEVANAGARI, GUJARATI, CJK_SC, CJK_TC, CJK_KR, NASTALIQ, SYMBOLS)


@cache
def coverage(face: Face) -> frozenset[int]:
    path = face.path()
    font = TTFont(path, fontNumber=face.index, lazy=True)
    try:
        return frozenset(font.getBestCmap())
    finally:
        font.close()


@dataclass(frozen=True)
class FontChain:
    """Faces in order of preference for one script."""

    faces: tuple[Face, ...]

    @property
    def primary(self) -> Face:
        return self.faces[0]

    def face_for(self, char: str) -> Face | None:
        """The first face whose cmap has the character (None: no face has it). Not
        memoised: the characters of a holder's name must not outlive their screen."""
        code = ord(char)
        return next((face for face in self.faces if code in coverage(face)), None)

    def missing(self, text: str) -> set[str]:
        """Characters of `text` that no face in the chain can draw (controls excluded)."""
        return {c for c in text if c.isprintable() and c != " " and self.face_for(c) is None}


@cache
def chain_for(script: str) -> FontChain:
    first = _FIRST.get(script, LATIN)
    return FontChain((first, *(f for f in _ALL if f != first)))


def missing_fonts(faces: Iterable[Face] = _ALL) -> list[str]:
    return [face.regular for face in faces if not face.installed]
