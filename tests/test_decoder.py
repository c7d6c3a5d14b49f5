"""The decoder chain on real photos, on constructed hard cases, and image files gone wrong.

No timing here: whether a frame was escalated is read from `Decoded` and `ChainStats`.
"""

from __future__ import annotations

import logging
import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp

from kiosk.core.base45 import b45encode
from kiosk.core.errors import EXIT_USAGE, ImageError
from kiosk.issuer.images import qr_image
from kiosk.scan.decoder import MAX_PIXELS, Decoded, DecoderChain, load_image
from kiosk.scan.synthetic import empty_frame

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
# A card-sized text (380 characters, QR version 16 like a real card's) that stays the same
# from run to run, so the pixels of every constructed frame do too.
TEXT = "MID1:" + b45encode(bytes((i * 37 + 11) % 256 for i in range(250)))
QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def zxing_alone(image: np.ndarray) -> list[str]:
    return [b.text for b in zxingcpp.read_barcodes(image, formats=QR)]


def framed(code: np.ndarray, size: tuple[int, int] = (640, 480), paper: int = 255) -> np.ndarray:
    frame = np.full((size[1], size[0]), paper, np.uint8)
    y, x = (size[1] - code.shape[0]) // 2, (size[0] - code.shape[1]) // 2
    frame[y : y + code.shape[0], x : x + code.shape[1]] = code
    return frame


def qr_at(text: str, module_px: int) -> np.ndarray:
    return np.array(qr_image(text, box_size=module_px))


# -- real photos ------------------------------------------------------------------------

# A sample across the three folders, with the two photos only the chain reads: a code whose
# modules are filled with a photo's texture (qrcode-2/12) and one printed on a rough rice
# cracker (qrcode-2/28). The rest are read on the first pass.
SAMPLE = [
    "zxing-qrcode-1/1.png",
    "zxing-qrcode-1/9.png",
    "zxing-qrcode-1/16.png",
    "zxing-qrcode-2/2.png",
    "zxing-qrcode-2/12.png",
    "zxing-qrcode-2/17.png",
    "zxing-qrcode-2/28.png",
    "zxing-qrcode-2/33.png",
    "zxing-qrcode-3/05.png",
    "zxing-qrcode-3/18.png",
]


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no photo corpus at {CORPUS}")
@pytest.mark.parametrize("name", SAMPLE)
@pytest.mark.parametrize("still", [False, True], ids=["camera", "photo"])
def test_corpus_photo_reads_exactly(name: str, still: bool) -> None:
    png = CORPUS / name
    # Bytes, not text mode: expected texts hold CR LF and control characters that must stay.
    expected = png.with_suffix(".txt").read_bytes().decode("utf-8")
    decoded = DecoderChain(still=still).decode(load_image(png))
    assert expected in decoded.texts or expected.removesuffix("\n") in decoded.texts


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no photo corpus at {CORPUS}")
def test_corpus_photos_zxing_alone_misses_are_read_by_a_retry() -> None:
    for name in ("zxing-qrcode-2/12.png", "zxing-qrcode-2/28.png"):
        image = load_image(CORPUS / name)
        assert zxing_alone(image) == []
        decoded = DecoderChain().decode(image)
        assert decoded.stage not in ("", "zxing") and len(decoded.texts) == 1


# -- constructed hard cases -------------------------------------------------------------


@pytest.mark.parametrize(("module_px", "blur"), [(1.8, 0.8), (2.0, 1.0), (2.2, 1.0)])
def test_small_blurred_modules_need_the_upscaled_retry(module_px: float, blur: float) -> None:
    sharp = qr_at(TEXT, 8)
    size = (round(sharp.shape[1] * module_px / 8), round(sharp.shape[0] * module_px / 8))
    small = cv2.resize(sharp, size, interpolation=cv2.INTER_AREA)
    frame = cv2.GaussianBlur(framed(small, (1280, 720), 200), (0, 0), blur)
    assert TEXT not in zxing_alone(frame)
    chain = DecoderChain()
    decoded = chain.decode(frame)
    assert decoded.texts == (TEXT,)
    assert decoded.stage.startswith("upscale")
    assert chain.stats.searched == 1  # zxing-cpp saw nothing; the texture search found it


def test_light_on_dark_code_is_read_though_the_camera_pass_does_not_look_for_it() -> None:
    frame = cv2.bitwise_not(framed(qr_at(TEXT, 4)))
    decoded = DecoderChain().decode(frame)
    assert (decoded.texts, decoded.stage) == ((TEXT,), "inverted")
    # Photos get zxing-cpp's full search, inverted codes included, on the first pass.
    assert DecoderChain(still=True).decode(frame).stage == "zxing"


def test_a_code_seen_but_damaged_beyond_repair_escalates_and_reads_nothing() -> None:
    code = qr_at(TEXT, 4)
    height, width = code.shape
    code[height * 3 // 10 : height * 3 // 4, width * 3 // 10 : width * 3 // 4] = 128
    chain = DecoderChain()
    decoded = chain.decode(framed(code))
    assert decoded.texts == () and decoded.stage == ""
    assert decoded.seen >= 1
    assert chain.stats.escalated == 1


def test_empty_frames_cost_the_first_pass_only() -> None:
    rng = np.random.default_rng(3)
    chain = DecoderChain()
    for size in ((640, 480), (1280, 720)):
        for _ in range(4):
            assert chain.decode(empty_frame(rng, size)) == Decoded(texts=(), seen=0, stage="")
    assert chain.stats.frames == 8
    assert (chain.stats.escalated, chain.stats.searched) == (0, 0)
    assert sum(chain.stats.read_by.values()) == 0


def test_a_clear_card_is_read_on_the_first_pass() -> None:
    chain = DecoderChain()
    decoded = chain.decode(framed(qr_at(TEXT, 3)))
    assert (decoded.texts, decoded.seen, decoded.stage) == ((TEXT,), 1, "zxing")
    assert (chain.stats.escalated, chain.stats.searched) == (0, 0)


def test_texts_come_once_each_in_reading_order() -> None:
    top, bottom = qr_at("TOP", 4), qr_at("BOTTOM", 4)
    frame = np.full((480, 640), 255, np.uint8)
    frame[300 : 300 + bottom.shape[0], 20 : 20 + bottom.shape[1]] = bottom
    frame[20 : 20 + top.shape[0], 400 : 400 + top.shape[1]] = top
    frame[20 : 20 + top.shape[0], 150 : 150 + top.shape[1]] = top  # the same text twice
    decoded = DecoderChain().decode(frame)
    assert decoded.texts == ("TOP", "BOTTOM")
    assert decoded.seen == 3


def test_bgr_frames_are_decoded_as_gray() -> None:
    frame = cv2.cvtColor(framed(qr_at(TEXT, 3)), cv2.COLOR_GRAY2BGR)
    assert DecoderChain().decode(frame).texts == (TEXT,)


def test_works_without_pyzbar_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "pyzbar", None)  # as if libzbar0 were missing
    chain = DecoderChain()
    code = qr_at(TEXT, 4)
    code[100:250, 100:250] = 128
    with caplog.at_level(logging.WARNING, logger="kiosk.scan.decoder"):
        for _ in range(3):  # retried to the end of the ladder, where pyzbar would be
            assert chain.decode(framed(code)).texts == ()
        assert chain.decode(framed(qr_at(TEXT, 3))).texts == (TEXT,)
    warnings = [r.getMessage() for r in caplog.records if "pyzbar" in r.getMessage()]
    assert len(warnings) == 1 and "decoding without it" in warnings[0]
    assert chain.stats.escalated == 3


# -- image files ------------------------------------------------------------------------


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` and whose pixel data is missing."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_load_image_gives_gray_for_png_and_color_jpeg(tmp_path: Path) -> None:
    color = cv2.cvtColor(framed(qr_at(TEXT, 3)), cv2.COLOR_GRAY2BGR)
    color[:, :, 2] = 40
    cv2.imwrite(str(tmp_path / "card.jpg"), color)
    cv2.imwrite(str(tmp_path / "card.png"), framed(qr_at(TEXT, 3)))
    for name in ("card.jpg", "card.png"):
        image = load_image(tmp_path / name)
        assert image.dtype == np.uint8 and image.shape == (480, 640)
        assert DecoderChain(still=True).decode(image).texts == (TEXT,)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.png", b"", "empty file"),
        ("notes.png", b"a text file, not a picture\n", "not an image"),
        ("garbage.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, "not an image"),
        ("huge.png", png_header_only(8000, 6000), "over the limit of 40 megapixels"),
        ("bomb.png", png_header_only(100_000, 100_000), "decompress to too many pixels"),
    ],
)
def test_bad_image_files_raise_image_error(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message) as raised:
        load_image(path)
    assert raised.value.exit_code == EXIT_USAGE
    assert str(path) in str(raised.value)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_images_are_corrupt(tmp_path: Path, suffix: str) -> None:
    whole = tmp_path / f"whole{suffix}"
    cv2.imwrite(str(whole), empty_frame(np.random.default_rng(1), (640, 480)))
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[:2000])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_image(cut)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nowhere.png")
    with pytest.raises(ImageError, match="not a file"):
        load_image(tmp_path)


def test_the_pixel_limit_is_checked_before_pixels_are_decoded(tmp_path: Path) -> None:
    # A header-only file: decoding its pixels would fail, so an ImageError about its size
    # shows that only the header was read.
    path = tmp_path / "just_over.png"
    side = int(MAX_PIXELS**0.5) + 1
    path.write_bytes(png_header_only(side, side))
    with pytest.raises(ImageError, match="megapixels"):
        load_image(path)
