"""The QR decoder chain: zxing-cpp on every frame, more work only where a code is.

Most camera frames hold no card, so an empty frame must cost no more than zxing-cpp alone.
The first pass is zxing-cpp restricted to QR codes, without its inverted search (city cards
are printed dark on light); the time that saves pays for a texture search. More work is
done only where a code is expected:

1. **Seen, not read.** zxing-cpp located a symbol but could not decode it (it reports such
   symbols with `return_errors=True`). The symbol's region is cut out and retried.
2. **Not seen, but a code-like texture** (`_code_like_regions`): a square of dense edges
   running both ways, as a QR code is. In camera frames these are mostly small codes whose
   blurred modules zxing-cpp's binarizer does not resolve. The region is retried the same way.
3. **Photos** (`still=True`, for `kiosk decode`): the first pass is zxing-cpp's full search,
   inverted codes included, and when nothing else read, the whole image is retried.

Each retry (`_attempts`) answers one way a photo defeats the first pass; the first that
reads ends the region's retries. Retries only add texts: on photos the chain reads everything
zxing-cpp alone reads, and more.
"""

from __future__ import annotations

import atexit
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import zxingcpp

from kiosk.core.errors import ImageError

log = logging.getLogger(__name__)

MAX_PIXELS = 40_000_000  # larger image files are refused before their pixels are decoded

_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)  # the family, Micro QR included
# Retries search noisy, sharpened, upscaled crops many times over: there a Micro QR code,
# whose smallest version has no error correction at all, can be "read" in a card's own
# modules (seen in synthetic frames). Cards, and the codes people show, are full-size QR.
_FULL_SIZE_QR = zxingcpp.BarcodeFormats(
    [zxingcpp.BarcodeFormat.QRCodeModel1, zxingcpp.BarcodeFormat.QRCodeModel2]
)
_PLAIN = zxingcpp.TextMode.Plain  # the code's own text; HRI would escape control characters


@atexit.register
def _release_zxing_constants() -> None:
    # zxing-cpp's nanobind bindings report any of their objects still alive when the module
    # unloads ("leaked instances"); these constants would be, after threaded use.
    for name in ("_QR", "_FULL_SIZE_QR", "_PLAIN"):
        globals().pop(name, None)


_UPSCALED_MAX_SIDE = 1600  # an upscaled region stays below this: bounds the cost of a retry
# The texture search (`_code_like_regions`) looks for codes at least 8 cells of 16 px
# (128 px) across: a card's QR at 2 px per module is 170 px. In images too small for that
# search to mean anything, the whole image is the region to retry.
_CELL = 16
_MIN_CODE_CELLS = 8
_MIN_DENSITY = 0.6  # share of busy cells in a code-sized window
_WHOLE_IMAGE_SIDE = 400


@dataclass(frozen=True)
class Decoded:
    texts: tuple[str, ...] = field(default=(), repr=False)  # card texts are personal data
    seen: int = 0  # symbols located, read or not
    stage: str = ""  # the stage that read the (last new) text; "" when nothing was read


@dataclass
class ChainStats:
    """What the chain did, for metrics, and for tests that must not rely on timing."""

    frames: int = 0
    escalated: int = 0  # frames where zxing-cpp saw a symbol it could not read
    searched: int = 0  # frames where the texture search found a code-like region
    read_by: Counter[str] = field(default_factory=Counter)


Region = tuple[int, int, int, int]  # x0, y0, x1, y1


class _Read(NamedTuple):
    y: float  # centre, in the frame's pixels: the sort key of reading order
    x: float
    text: str


class DecoderChain:
    """Decode QR codes in 8-bit grayscale images. One per camera; not thread-safe.

    `still=True` is for photos (`kiosk decode`), where no next frame will come: when all
    else fails, the whole image is retried. A camera leaves that to the next frame.
    """

    def __init__(self, *, still: bool = False, use_pyzbar: bool = True) -> None:
        self.still = still
        self.stats = ChainStats()
        self._zbar: Callable[[np.ndarray], list[_Read]] | None = None
        self._zbar_loaded = not use_pyzbar
        self._clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))

    def decode(self, gray: np.ndarray) -> Decoded:
        gray = _as_gray(gray)
        self.stats.frames += 1
        if gray.size == 0:
            return Decoded()
        # The camera's first pass skips zxing-cpp's second, inverted search: city cards are
        # printed dark on light, and on an empty frame that search costs more than the
        # texture search that replaces it. Codes printed light on dark are still read: the
        # texture search does not care about polarity, and the retries include an inverted
        # one. Photos get zxing-cpp's full search.
        found = _zxing(gray, first=True, invert=self.still)
        reads = _valid(found)
        missed = _unread(found)
        seen, first_pass = len(reads) + len(missed), len(reads)
        if reads and not missed:
            return self._done(reads, seen, "zxing")
        stage = "zxing" if reads else ""
        tried: set[Region] = set()
        if missed:
            self.stats.escalated += 1
            regions = [_with_margin(box, gray.shape) for box in missed]
            stage = self._retry_all(gray, regions, reads, tried) or stage
        if len(reads) == first_pass:
            # Nothing new: zxing-cpp saw nothing, or what it saw was a wrong guess at the
            # corners or a part of the code. Search the frame for a whole code.
            regions = _code_like_regions(gray)
            if regions:
                self.stats.searched += 1
                stage = self._retry_all(gray, regions, reads, tried) or stage
        if self.still and not reads:
            stage = self._retry_all(gray, [(0, 0, gray.shape[1], gray.shape[0])], reads, tried)
        if not reads:
            return Decoded(seen=seen)
        return self._done(reads, max(seen, len(reads)), stage)

    def _done(self, reads: list[_Read], seen: int, stage: str) -> Decoded:
        self.stats.read_by[stage] += 1
        texts: list[str] = []
        for read in sorted(reads):
            if read.text not in texts:
                texts.append(read.text)
        return Decoded(tuple(texts), seen, stage)

    def _retry_all(
        self, gray: np.ndarray, regions: list[Region], reads: list[_Read], tried: set[Region]
    ) -> str:
        """Retry each region not tried yet, adding new texts to `reads`; the last stage that did."""
        stage = ""
        for region in regions:
            if region in tried:
                continue
            tried.add(region)
            known = {read.text for read in reads}
            for retry_stage, attempt in self._attempts(gray, region):
                more = attempt()
                if more:
                    if any(read.text not in known for read in more):
                        reads += more
                        stage = retry_stage
                    break
        return stage

    def _attempts(
        self, gray: np.ndarray, region: Region
    ) -> Iterator[tuple[str, Callable[[], list[_Read]]]]:
        """The retries of one region, in order: most often useful and cheapest first."""
        x0, y0, x1, y1 = region
        crop = np.ascontiguousarray(gray[y0:y1, x0:x1])
        scale = min(2.0, _UPSCALED_MAX_SIDE / max(crop.shape))
        upscaled: list[np.ndarray] = []  # made once, on first use, shared by three attempts

        def read(image: np.ndarray, at: float = 1.0, glob: bool = False) -> list[_Read]:
            return _valid(_zxing(image, glob=glob), at, (x0, y0))

        def up() -> np.ndarray:
            if not upscaled:
                size = (round(crop.shape[1] * scale), round(crop.shape[0] * scale))
                upscaled.append(cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC))
            return upscaled[0]

        # A code printed light on dark, which the camera's first pass does not look for.
        yield "inverted", lambda: read(cv2.bitwise_not(crop))
        if scale >= 1.25:
            # Small blurred modules: zxing-cpp thresholds each pixel, and a module of 2-3
            # blurred pixels loses its edges to its neighbours. Cubic interpolation gives
            # the edges sub-pixel positions (and a slight overshoot that sharpens).
            yield "upscale", lambda: read(up(), scale)
            # More defocus: an unsharp mask restores the module edges the blur spread, at
            # two strengths (too strong a one rings on light blur, too weak a one falls short).
            yield "upscale+sharpen", lambda: read(_unsharp(up(), 2.0, 1.5), scale)
            yield "upscale+sharpen-more", lambda: read(_unsharp(up(), 3.0, 2.0), scale)
            # Blur near half a module: smooth first, or the strong sharpening that brings
            # the modules back brings the sensor noise back tenfold with them.
            yield "upscale+deblur", lambda: read(_deblur(up()), scale)
        # Texture or noise inside the modules (print on rough paper, dim light, artistic
        # codes): smoothing below the module size removes it, and one global threshold does
        # not follow it the way zxing-cpp's local one does.
        yield "smooth", lambda: read(cv2.GaussianBlur(crop, (0, 0), 1.0), glob=True)
        # Glare or a shadow leaves part of the code with little contrast: equalise locally.
        yield "contrast", lambda: read(self._clahe.apply(crop))
        # Another decoder with another detector: zbar reads some codes zxing-cpp does not.
        zbar = self._load_zbar()
        if zbar is not None:
            yield "pyzbar", lambda: [r._replace(x=r.x + x0, y=r.y + y0) for r in zbar(crop)]

    def _load_zbar(self) -> Callable[[np.ndarray], list[_Read]] | None:
        """pyzbar is optional (it needs the system's libzbar0): loaded once, on first need."""
        if not self._zbar_loaded:
            self._zbar_loaded = True
            try:
                from pyzbar import pyzbar
            except (ImportError, OSError) as exc:
                log.warning("pyzbar unavailable, decoding without it: %s", exc)
                return None
            symbols = [pyzbar.ZBarSymbol.QRCODE]

            def zbar(image: np.ndarray) -> list[_Read]:
                return [
                    _Read(
                        r.rect.top + r.rect.height / 2,
                        r.rect.left + r.rect.width / 2,
                        r.data.decode("utf-8", "replace"),
                    )
                    for r in pyzbar.decode(image, symbols)
                ]

            self._zbar = zbar
        return self._zbar


def _as_gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.dtype != np.uint8 or image.ndim != 2:
        raise ValueError("the decoder takes 8-bit grayscale or BGR images")
    return np.ascontiguousarray(image)


def _zxing(
    image: np.ndarray, first: bool = False, invert: bool = False, glob: bool = False
) -> list[zxingcpp.Barcode]:
    """zxing-cpp, QR codes only, symbols it could not decode included.

    The first pass also looks at downscaled copies (zxing-cpp's default); retries work on a
    region already scaled for the code, and look for full-size QR codes only.
    """
    return zxingcpp.read_barcodes(
        image,
        formats=_QR if first else _FULL_SIZE_QR,
        try_invert=invert,
        try_downscale=first,
        binarizer=zxingcpp.Binarizer.GlobalHistogram if glob else zxingcpp.Binarizer.LocalAverage,
        text_mode=_PLAIN,
        return_errors=True,
    )


def _valid(
    barcodes: list[zxingcpp.Barcode], scale: float = 1.0, offset: tuple[int, int] = (0, 0)
) -> list[_Read]:
    """The symbols read, with centres mapped back from a scaled crop to the frame."""
    reads = []
    for barcode in barcodes:
        if barcode.valid:
            x0, y0, x1, y1 = _bounds(barcode)
            centre_x, centre_y = (x0 + x1) / 2 / scale, (y0 + y1) / 2 / scale
            reads.append(_Read(centre_y + offset[1], centre_x + offset[0], barcode.text))
    return reads


def _unread(barcodes: list[zxingcpp.Barcode]) -> list[Region]:
    """Where the symbols seen but not read are, each once.

    zxing-cpp may report one symbol several times (from its downscaled passes), and a symbol
    it read at one scale as unreadable at another: neither is a symbol to retry.
    """
    taken = [_bounds(b) for b in barcodes if b.valid]
    unread: list[Region] = []
    for barcode in barcodes:
        box = _bounds(barcode)
        if not barcode.valid and not any(_same_place(box, other) for other in taken + unread):
            unread.append(box)
    return unread


def _same_place(a: Region, b: Region) -> bool:
    """Whether either box's centre lies inside the other."""

    def inside(box: Region, x: float, y: float) -> bool:
        return box[0] <= x <= box[2] and box[1] <= y <= box[3]

    return inside(a, (b[0] + b[2]) / 2, (b[1] + b[3]) / 2) or inside(
        b, (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    )


def _bounds(barcode: zxingcpp.Barcode) -> Region:
    p = barcode.position
    corners = (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
    xs, ys = [c.x for c in corners], [c.y for c in corners]
    return min(xs), min(ys), max(xs), max(ys)


def _with_margin(box: Region, shape: tuple[int, ...]) -> Region:
    """The box and a quarter of its size around: the quiet zone, and corners zxing misplaced."""
    x0, y0, x1, y1 = box
    margin = max(8, max(x1 - x0, y1 - y0) // 4)
    height, width = shape[:2]
    return (
        max(0, x0 - margin),
        max(0, y0 - margin),
        min(width, x1 + margin),
        min(height, y1 + margin),
    )


def _unsharp(image: np.ndarray, sigma: float, amount: float) -> np.ndarray:
    blurred = cv2.GaussianBlur(image, (0, 0), sigma)
    return cv2.addWeighted(image, 1 + amount, blurred, -amount, 0)


def _deblur(image: np.ndarray) -> np.ndarray:
    return _unsharp(cv2.GaussianBlur(image, (0, 0), 1.0), 2.5, 2.0)


def _halve(image: np.ndarray, times: int) -> np.ndarray:
    """Downscale by 2**times, each step averaging 2x2 pixels.

    At exactly half size, bilinear interpolation samples midway between four pixels, which
    is their average, as INTER_AREA would give, in half of INTER_AREA's time.
    """
    for _ in range(times):
        height, width = image.shape[0] // 2, image.shape[1] // 2
        image = cv2.resize(image[: 2 * height, : 2 * width], (width, height))
    return image


def _code_like_regions(gray: np.ndarray, limit: int = 2) -> list[Region]:
    """Regions that look like a QR code that zxing-cpp did not see, largest first.

    A QR code is a square of dark and light modules in about equal parts, so brightness
    changes both ways at once nearly everywhere inside it; along an edge or a line it
    changes one way only, and on smooth shading neither. The measure: on a grid of samples
    four pixels apart, the smaller of the horizontal and vertical differences between
    neighbours, averaged over 16-pixel cells. Four pixels apart, two samples fall in
    different modules even for the smallest modules, blurred, so a code keeps its texture;
    sampling (rather than averaging) touches a quarter of the frame's rows only. A cell is
    busy above twice the frame's mean (and a floor above sensor noise); a code is where
    most cells of a code-sized window are busy. Windows rather than connected cells: a code
    touching text or an edge would merge with it into a shapeless blob.

    It runs on every frame in which zxing-cpp saw nothing, so it is a dozen OpenCV calls on
    1/16 of the pixels, about a tenth of zxing-cpp's time on such a frame (less than the
    inverted search the camera's first pass leaves out: `benchmarks/decode.py`), stopping
    early when too few cells are busy, as in most empty frames.
    """
    height, width = gray.shape
    rows, cols = height // _CELL, width // _CELL
    if max(height, width) < _WHOLE_IMAGE_SIDE or min(rows, cols) <= _MIN_CODE_CELLS:
        return [(0, 0, width, height)]
    step = 4
    samples = cv2.resize(
        gray[: rows * _CELL : step, : cols * _CELL],
        (cols * _CELL // step, rows * _CELL // step),
        interpolation=cv2.INTER_NEAREST,
    )
    horizontal = cv2.absdiff(samples[:-1, 1:], samples[:-1, :-1])
    vertical = cv2.absdiff(samples[1:, :-1], samples[:-1, :-1])
    both = cv2.min(horizontal, vertical)
    per_cell = _CELL // step
    cells = _halve(both[: (rows - 1) * per_cell, : (cols - 1) * per_cell], 2)
    level = max(2.0 * cv2.mean(cells)[0], 8.0)
    _, busy = cv2.threshold(cells, level, 1, cv2.THRESH_BINARY)
    if cv2.countNonZero(busy) < _MIN_DENSITY * _MIN_CODE_CELLS**2:
        return []
    window = (_MIN_CODE_CELLS, _MIN_CODE_CELLS)
    density = cv2.boxFilter(busy, cv2.CV_32F, window, borderType=cv2.BORDER_CONSTANT)
    cores = (density >= _MIN_DENSITY).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(cores)
    largest = sorted(stats[1:count].tolist(), key=lambda s: -s[4])[:limit]
    reach = _MIN_CODE_CELLS // 2  # a core cell is the centre of a busy window
    return [
        _with_margin(
            (
                (x - reach) * _CELL,
                (y - reach) * _CELL,
                (x + w + reach) * _CELL,
                (y + h + reach) * _CELL,
            ),
            gray.shape,
        )
        for x, y, w, h, _ in largest
    ]


def load_image(path: str | Path) -> np.ndarray:
    """An image file as 8-bit grayscale, or an ImageError saying plainly what is wrong."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        if not path.is_file():
            raise ImageError(
                f"{path}: no such file" if not path.exists() else f"{path}: not a file"
            )
        if path.stat().st_size == 0:
            raise ImageError(f"{path}: empty file")
        with Image.open(path) as image:
            # Image.open reads the header only: the size is known before any pixel is.
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(
                    f"{path}: {width}x{height} pixels is over the limit of "
                    f"{MAX_PIXELS // 1_000_000} megapixels"
                )
            gray = np.asarray(image.convert("L"), dtype=np.uint8)
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image, or in a format that cannot be read") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: refused, it would decompress to too many pixels") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(f"{path}: corrupt or truncated image ({exc})") from None
    if gray.ndim != 2 or gray.size == 0:
        raise ImageError(f"{path}: image has no pixels")
    return np.ascontiguousarray(gray)
