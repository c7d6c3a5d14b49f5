"""Camera-like frames of issued cards, for tests, benchmarks and `kiosk demo`.

A frame is what a kiosk camera sees when someone holds a card up: the card's QR (made by the
issuer's own `qr_image`, so version, error correction and mode are the real ones) on a
card-shaped body, seen in perspective, lit unevenly, sometimes with glare from the laminate,
out of focus or moving, with sensor noise and, as with most USB webcams, MJPEG compression.

Frames are 8-bit grayscale (HxW uint8): the decoder works on gray, and rendering one
channel is a third of the work. `Frame.gray` passes them through unchanged.

Everything is drawn from the `numpy.random.Generator` given, so a seed fixes every pixel.
The ranges in `Conditions.draw` are calibrated against the issue's reference measurement on
1280x720 frames of real cards (zxing-cpp alone reads about 75 %, pyzbar about 60 %);
`benchmarks/decode.py` reports both for the current ranges.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from kiosk.issuer.images import qr_image
from kiosk.scan.frames import Frame

Size = tuple[int, int]  # (width, height), as OpenCV takes it

_SRC_MODULE_PX = 12  # card texture resolution: always warped down to the frame, never up
_LEVELS = (3, 4, 6, 8)  # smaller copies of the texture, for smaller modules
_ID1_ASPECT = 85.60 / 53.98  # ISO/IEC 7810 ID-1
_FOCAL_PX = 1400.0  # a 720p camera with a ~50° horizontal field of view
_WORDS = (
    "CITY",
    "ID",
    "Municipal",
    "Name",
    "Born",
    "Valid",
    "until",
    "Library",
    "2031",
    "resident",
)


@dataclass(frozen=True)
class Conditions:
    """How one card appears in one frame. `draw` picks them at random within the ranges."""

    module_px: float  # size of one QR module in the frame, before perspective
    tilt_deg: float  # out-of-plane tilt of the card (0 = facing the camera)
    tilt_dir_deg: float  # axis the card is tilted about
    roll_deg: float  # in-plane rotation
    center: tuple[float, float]  # QR centre, as a fraction of the frame's width and height
    paper: float  # gray level of white paper under full light
    ink: float  # gray level of printed black
    light: tuple[float, float, float]  # illumination: mean gain, gradient strength, direction
    glare: float  # peak brightness a specular highlight adds (0 = none)
    glare_at: tuple[float, float, float]  # highlight centre (in QR widths) and size (modules)
    blur_sigma: float  # defocus, pixels
    motion_px: float  # length of motion blur, pixels
    motion_deg: float
    noise: float  # sensor noise at mid-gray, gray levels
    jpeg_quality: int  # 0 = raw frame, else the camera's MJPEG quality

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Conditions:
        return cls(
            module_px=float(rng.uniform(2.0, 6.0)),
            tilt_deg=float(30 * rng.uniform() ** 2),  # people mostly face the camera
            tilt_dir_deg=float(rng.uniform(0, 360)),
            roll_deg=float(rng.uniform(-180, 180)),
            center=(float(rng.uniform(0.25, 0.75)), float(rng.uniform(0.3, 0.7))),
            paper=float(rng.uniform(150, 245)),
            ink=float(rng.uniform(15, 80)),
            light=(
                float(rng.uniform(0.55, 1.05)),
                float(rng.uniform(0.0, 0.6)),
                float(rng.uniform(0, 2 * math.pi)),
            ),
            glare=float(rng.uniform(60, 200)) if rng.uniform() < 0.35 else 0.0,
            glare_at=(
                float(rng.uniform(-0.5, 0.5)),
                float(rng.uniform(-0.5, 0.5)),
                float(rng.uniform(6, 25)),
            ),
            blur_sigma=float(rng.uniform(0.3, 1.9)),
            motion_px=float(rng.uniform(1, 5)) if rng.uniform() < 0.25 else 0.0,
            motion_deg=float(rng.uniform(0, 180)),
            noise=float(rng.uniform(1, 6)),
            jpeg_quality=int(rng.integers(55, 95)) if rng.uniform() < 0.5 else 0,
        )

    def jittered(self, rng: np.random.Generator) -> Conditions:
        """The same card a frame later: the hand has moved a little, the noise is new."""
        return replace(
            self,
            tilt_deg=float(np.clip(self.tilt_deg + rng.normal(0, 1.0), 0, 30)),
            roll_deg=self.roll_deg + float(rng.normal(0, 1.5)),
            center=(
                self.center[0] + float(rng.normal(0, 0.005)),
                self.center[1] + float(rng.normal(0, 0.005)),
            ),
            motion_px=float(rng.uniform(1, 5)) if rng.uniform() < 0.25 else 0.0,
            motion_deg=float(rng.uniform(0, 180)),
        )


@dataclass(frozen=True)
class CardTexture:
    """A card's face, ready to warp, and where its QR sits on it (at `_SRC_MODULE_PX`).

    `levels` maps a module size in pixels to the face at that resolution, as gray and
    coverage channels (uint8). A frame is warped from the smallest level with at least one
    texture pixel per pixel warped, which keeps the warp cheap and free of aliasing.
    """

    levels: dict[int, np.ndarray] = field(repr=False)
    qr_box: tuple[int, int, int]  # x0, y0, side; side = 0 for a card without a QR
    modules: int  # modules across the QR, quiet zone included


def card_texture(text: str | None) -> CardTexture:
    """An ID-1 card laid out like the issuer's printable card: a band, text lines, the QR.

    `text=None` gives the same card with a photo where the QR would be: a card-like object
    in front of the camera that holds no code.
    """
    s = _SRC_MODULE_PX
    if text is None:
        qr = None
        modules = 85  # the size of a typical card's QR (version 16 with its quiet zone)
    else:
        qr = np.asarray(qr_image(text, box_size=1), dtype=np.uint8)
        modules = qr.shape[0]
    height = (modules + 10) * s
    width = int(height * _ID1_ASPECT)
    card = np.full((height, width), 255, np.uint8)
    card[: 5 * s, :] = 77  # the issuer's coloured band, in gray
    x0, y0, side = width - (modules + 2) * s, 6 * s, modules * s
    if qr is None:
        photo = np.linspace(50, 200, 16, dtype=np.float32).reshape(4, 4)
        card[y0 : y0 + side, x0 : x0 + side] = cv2.resize(photo, (side, side)).astype(np.uint8)
    else:
        card[y0 : y0 + side, x0 : x0 + side] = cv2.resize(
            qr, (side, side), interpolation=cv2.INTER_NEAREST
        )
    # Printed text left of the QR: strokes and edges a decoder must not take for a code.
    words = np.random.default_rng(modules)
    y = 10 * s
    while y < height - 2 * s:
        line = " ".join(words.choice(_WORDS, size=3))
        cv2.putText(card, line, (3 * s, y), cv2.FONT_HERSHEY_SIMPLEX, s / 12, 50, max(1, s // 5))
        y += int(words.uniform(4, 7) * s)
    face = np.dstack([card, np.full_like(card, 255)])
    levels: dict[int, np.ndarray] = {s: face}
    for level in _LEVELS:
        size = (round(width * level / s), round(height * level / s))
        levels[level] = cv2.resize(face, size, interpolation=cv2.INTER_AREA)
    return CardTexture(levels, (x0, y0, side if qr is not None else 0), modules)


def render_frame(
    card: str | CardTexture,
    rng: np.random.Generator,
    size: Size = (1280, 720),
    conditions: Conditions | None = None,
) -> np.ndarray:
    """A gray camera frame showing `card` (a card's QR text, or a prepared texture)."""
    texture = card_texture(card) if isinstance(card, str) else card
    look = conditions or Conditions.draw(rng)
    frame = _background(rng, size)
    _place_card(frame, texture, look, size)
    return _camera(frame, rng, look)


def empty_frame(
    rng: np.random.Generator, size: Size = (1280, 720), blank_card: bool = False
) -> np.ndarray:
    """A frame without any code: the scene between visitors.

    `blank_card=True` adds a card-like object with no QR (printed text, a photo): what a
    visitor showing the wrong card looks like.
    """
    frame = _background(rng, size)
    look = Conditions.draw(rng)
    if blank_card:
        _place_card(frame, _blank_card(), look, size)
    return _camera(frame, rng, look)


@functools.cache
def _blank_card() -> CardTexture:
    """The card without a code: a constant, drawn once (a pure function's memo)."""
    return card_texture(None)


def _background(rng: np.random.Generator, size: Size) -> np.ndarray:
    """A room: smooth shading, a few objects with sharp edges, some printed words."""
    width, height = size
    coarse = rng.uniform(30, 200, (int(rng.integers(3, 7)), int(rng.integers(4, 10))))
    shading = cv2.resize(coarse.astype(np.float32), size, interpolation=cv2.INTER_CUBIC)
    scene = shading.astype(np.uint8)  # drawn in 8 bits: OpenCV's text needs it
    for _ in range(int(rng.integers(4, 20))):
        shade = float(rng.uniform(0, 255))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(10, width // 3)), int(rng.integers(10, height // 3))
        kind = rng.integers(0, 4)
        if kind == 0:
            thickness = -1 if rng.uniform() < 0.6 else int(rng.integers(1, 6))
            cv2.rectangle(scene, (x, y), (x + w, y + h), shade, thickness)
        elif kind == 1:
            cv2.circle(scene, (x, y), w // 2, shade, -1 if rng.uniform() < 0.6 else 3)
        elif kind == 2:
            cv2.line(scene, (x, y), (x + w, y + h), shade, int(rng.integers(1, 8)))
        else:
            words = " ".join(rng.choice(_WORDS, size=3))
            cv2.putText(scene, words, (x, y), cv2.FONT_HERSHEY_SIMPLEX, w / 200, shade, 2)
    return scene.astype(np.float32)


def _pose(look: Conditions) -> np.ndarray:
    """3x3 rotation of the card: in-plane roll first, then the tilt about an in-plane axis."""
    roll, tilt, axis = (math.radians(a) for a in (look.roll_deg, look.tilt_deg, look.tilt_dir_deg))
    rz = np.array(
        [[math.cos(roll), -math.sin(roll), 0], [math.sin(roll), math.cos(roll), 0], [0, 0, 1]]
    )
    k = np.array([math.cos(axis), math.sin(axis), 0.0])
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    tilt_m = np.eye(3) + math.sin(tilt) * kx + (1 - math.cos(tilt)) * (kx @ kx)  # Rodrigues
    return np.asarray(tilt_m @ rz)


def _project(
    points: np.ndarray,
    qr_mid: np.ndarray,
    module_px: float,
    rotation: np.ndarray,
    center: np.ndarray,
    size: Size,
) -> np.ndarray:
    """Pinhole projection of texture points (at `_SRC_MODULE_PX`) on the posed card.

    The card plane is measured in frame pixels at the reference distance (`_FOCAL_PX`),
    where a module is `module_px` wide; `center` is where the QR's centre lands.
    """
    plane = (points - qr_mid) * (module_px / _SRC_MODULE_PX)
    world = np.hstack([plane, np.zeros((len(plane), 1))]) @ rotation.T
    depth = _FOCAL_PX + world[:, 2:3]
    optical = np.array(size, np.float64) / 2
    return np.asarray(optical + _FOCAL_PX * (center - optical + world[:, :2]) / depth)


def _place_card(frame: np.ndarray, texture: CardTexture, look: Conditions, size: Size) -> None:
    """Composite the card into `frame`, in place, with its perspective, light and glare."""
    x0, y0, side = texture.qr_box
    qr_side = side or texture.modules * _SRC_MODULE_PX
    qr_mid = np.array([x0 + qr_side / 2, y0 + qr_side / 2])
    qr_corners = qr_mid + np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * qr_side / 2
    rotation = _pose(look)
    module_px = look.module_px
    center = np.array([look.center[0] * size[0], look.center[1] * size[1]])
    # The whole QR, quiet zone too, stays in the frame: a person holding the card too close
    # for a small frame steps back, one too near the edge moves it in.
    projected = _project(qr_corners, qr_mid, module_px, rotation, center, size)
    while True:
        room = np.array(size) - 4 * module_px
        extent = projected.max(axis=0) - projected.min(axis=0)
        if (extent <= room).all():
            break
        module_px *= 0.95 * float((room / extent).min())
        projected = _project(qr_corners, qr_mid, module_px, rotation, center, size)
    margin = 2 * module_px
    low = np.maximum(0, margin - projected.min(axis=0))
    high = np.maximum(0, projected.max(axis=0) - (np.array(size) - margin))
    center = center + low - high

    # Small modules are warped at twice the frame's resolution and averaged down: pixels
    # integrate light as a sensor's do instead of point-sampling the texture, which would
    # alias. From 3 px a module, a texture level close to the frame's scale does as well.
    over = 2 if module_px < 3 else 1
    level = next((lv for lv in sorted(texture.levels) if lv >= over * module_px), _SRC_MODULE_PX)
    face = texture.levels[level]
    th, tw = face.shape[:2]
    to_source = level / _SRC_MODULE_PX
    corners = np.array([[0, 0], [tw, 0], [tw, th], [0, th]], np.float64) / to_source
    frame_corners = _project(corners, qr_mid, module_px, rotation, center, size)
    bx0, by0 = np.floor(np.maximum(frame_corners.min(axis=0), 0)).astype(int)
    bx1, by1 = np.ceil(np.minimum(frame_corners.max(axis=0), size)).astype(int)
    if bx1 <= bx0 or by1 <= by0:
        return
    homography = cv2.getPerspectiveTransform(
        (corners * to_source).astype(np.float32),
        ((frame_corners - [bx0, by0]) * over).astype(np.float32),
    )
    warped = cv2.warpPerspective(face, homography, (over * (bx1 - bx0), over * (by1 - by0)))
    if over > 1:
        warped = cv2.resize(warped, (bx1 - bx0, by1 - by0), interpolation=cv2.INTER_AREA)
    shade = warped[:, :, 0].astype(np.float32) * (1 / 255)
    alpha = warped[:, :, 1].astype(np.float32) * (1 / 255)
    printed = look.ink + (look.paper - look.ink) * shade
    if look.glare > 0:
        qr_centre = _project(qr_mid[None, :], qr_mid, module_px, rotation, center, size)[0]
        qr_px = texture.modules * module_px
        printed += look.glare * _glare(look, qr_centre, qr_px, (bx0, by0), shade.shape)
    region = frame[by0:by1, bx0:bx1]
    region[:] = region * (1 - alpha) + printed * alpha


def _glare(
    look: Conditions,
    centre: np.ndarray,
    qr_px: float,
    origin: tuple[int, int],
    shape: tuple[int, ...],
) -> np.ndarray:
    """A soft elongated highlight, as a lamp reflected in a laminated card.

    Smooth, so computed on a grid four times coarser and interpolated up.
    """
    fx, fy, size_modules = look.glare_at
    mid = (centre + np.array([fx, fy]) * qr_px - np.array(origin)) / 4
    sigma = size_modules * look.module_px / 4
    rows, cols = shape[0] // 4 + 1, shape[1] // 4 + 1
    ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float32)
    angle = math.radians(look.roll_deg)
    along = (xs - mid[0]) * math.cos(angle) + (ys - mid[1]) * math.sin(angle)
    across = -(xs - mid[0]) * math.sin(angle) + (ys - mid[1]) * math.cos(angle)
    coarse = np.exp(-0.5 * ((along / sigma) ** 2 + (across / (0.4 * sigma)) ** 2))
    fine: np.ndarray = cv2.resize(coarse, (cols * 4, rows * 4))
    return fine[: shape[0], : shape[1]]


def _camera(scene: np.ndarray, rng: np.random.Generator, look: Conditions) -> np.ndarray:
    """Light falloff, optics, sensor noise and the camera's compression."""
    height, width = scene.shape
    gain, gradient, direction = look.light
    # Illumination is smooth: computed on a coarse grid and interpolated up.
    xs = np.linspace(-1, 1, 33, dtype=np.float32)
    ys = np.linspace(-1, 1, 33, dtype=np.float32) * (height / width)
    ramp = (xs * math.cos(direction))[None, :] + (ys * math.sin(direction))[:, None]
    vignette = (xs**2)[None, :] + (ys**2)[:, None]
    light = gain * (1 + gradient * ramp / 2) * (1 - 0.25 * vignette)
    lit = scene * cv2.resize(light, (width, height), interpolation=cv2.INTER_LINEAR)
    sigma = look.blur_sigma
    lit = cv2.GaussianBlur(lit, (0, 0), sigma) if sigma > 0.1 else lit
    if look.motion_px >= 1:
        lit = cv2.filter2D(lit, -1, _motion_kernel(look.motion_px, look.motion_deg))
    # Shot noise grows with brightness; read noise does not.
    spread = look.noise * (0.5 + cv2.sqrt(np.maximum(lit, 0) * (1 / 255)))
    lit += spread * _gaussian_noise(rng, lit.shape)
    image: np.ndarray = np.clip(lit, 0, 255).astype(np.uint8)
    if look.jpeg_quality:
        _, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, look.jpeg_quality])
        decoded = cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)
        if decoded is not None:
            image = decoded
    return image


def _gaussian_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Unit Gaussian noise. OpenCV's generator is 3-4x faster than numpy's; seeded from `rng`
    (OpenCV's generator is per thread), so frames stay a function of the seed alone."""
    cv2.setRNGSeed(int(rng.integers(2**31)))
    noise = np.empty(shape, np.float32)
    cv2.randn(noise, np.zeros(1), np.ones(1))
    return noise


def _motion_kernel(length: float, degrees: float) -> np.ndarray:
    n = math.ceil(length) | 1
    kernel = np.zeros((n, n), np.float32)
    c = n // 2
    dx, dy = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    half = (length - 1) / 2
    p0 = (round(c - dx * half), round(c - dy * half))
    p1 = (round(c + dx * half), round(c + dy * half))
    cv2.line(kernel, p0, p1, 1.0, 1)
    return np.asarray(kernel / kernel.sum())


class SyntheticSource:
    """A camera that shows each card for `card_frames` frames, then `empty_frames` of the room.

    Frames come at `fps` (None: as fast as they render). A slow consumer does not make the
    source fall behind: like a camera, it drops the frames it missed and carries on from
    the present. Pixels depend only on the seed and the texts, never on timing.
    """

    name = "synthetic"

    def __init__(
        self,
        texts: Sequence[str],
        *,
        seed: int = 0,
        fps: float | None = 30.0,
        card_frames: int = 10,
        empty_frames: int = 20,
        size: Size = (1280, 720),
        loop: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if fps is not None and fps <= 0:
            raise ValueError("fps must be positive")
        self.texts = tuple(texts)
        self.seed = seed
        self.fps = fps
        self.card_frames = card_frames
        self.empty_frames = empty_frames
        self.size = size
        self.loop = loop
        self._clock = clock
        self._sleep = sleep
        self._textures: dict[str, CardTexture] = {}
        self._closed = False

    def _texture(self, text: str) -> CardTexture:
        if text not in self._textures:
            self._textures[text] = card_texture(text)
        return self._textures[text]

    def _images(self) -> Iterator[np.ndarray]:
        rng = np.random.default_rng(self.seed)
        while True:
            if not self.texts:  # an empty room: nobody shows a card
                room = _background(rng, self.size)
                yield _camera(room, rng, replace(Conditions.draw(rng), motion_px=0.0))
                continue
            for text in self.texts:
                # One room and one camera setting per visit: the card moves a little from
                # frame to frame, the sensor noise is new in each, the room stays.
                room = _background(rng, self.size)
                look = Conditions.draw(rng)
                texture = self._texture(text)
                for _ in range(self.card_frames):
                    frame = room.copy()
                    _place_card(frame, texture, look, self.size)
                    yield _camera(frame, rng, look)
                    look = look.jittered(rng)
                still = replace(look, motion_px=0.0)
                for _ in range(self.empty_frames):
                    yield _camera(room.copy(), rng, still)
            if not self.loop:
                return

    def frames(self) -> Iterator[Frame]:
        period = None if self.fps is None else 1.0 / self.fps
        due = self._clock()
        for seq, image in enumerate(self._images()):
            if self._closed:
                return
            if period is not None:
                wait = due - self._clock()
                if wait > 0:
                    self._sleep(wait)
                due += period
                late = self._clock() - due
                if late > 0:  # missed ticks are dropped, as a camera drops them
                    due += period * math.ceil(late / period)
            yield Frame(image, self._clock(), seq)

    def close(self) -> None:
        self._closed = True
