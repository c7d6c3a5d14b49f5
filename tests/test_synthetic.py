"""Synthetic camera frames: real cards in them, a seed fixes them, and the source's pacing."""

from __future__ import annotations

from itertools import islice, pairwise

import numpy as np
import pytest
import zxingcpp

from kiosk.core.base45 import b45encode
from kiosk.core.card import verify_card
from kiosk.core.policy import Policy
from kiosk.core.reasons import Reason
from kiosk.scan.decoder import DecoderChain
from kiosk.scan.synthetic import (
    Conditions,
    SyntheticSource,
    card_texture,
    empty_frame,
    render_frame,
)
from tests.conftest import NOW, IssueFn, TrustFn

# Card-sized texts that stay the same from run to run (issued cards get fresh keys and
# serials every run), so that frames, and what decodes in them, do too.
A = "MID1:" + b45encode(bytes((i * 37 + 11) % 256 for i in range(250)))
B = "MID1:" + b45encode(bytes((i * 53 + 7) % 256 for i in range(240)))

# A card held well: readable whatever the card's text, yet nothing like a scan.
HELD_WELL = Conditions(
    module_px=4.0,
    tilt_deg=20.0,
    tilt_dir_deg=30.0,
    roll_deg=-15.0,
    center=(0.45, 0.5),
    paper=210.0,
    ink=40.0,
    light=(0.9, 0.4, 1.0),
    glare=120.0,
    glare_at=(-0.45, 0.45, 8.0),
    blur_sigma=0.6,
    motion_px=0.0,
    motion_deg=0.0,
    noise=3.0,
    jpeg_quality=80,
)


class FakeClock:
    """A clock that only moves when someone sleeps or works."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_frames_are_gray_at_the_size_asked() -> None:
    rng = np.random.default_rng(0)
    for size in ((1280, 720), (640, 480)):
        for image in (render_frame(A, rng, size), empty_frame(rng, size)):
            assert image.dtype == np.uint8 and image.shape == (size[1], size[0])


def test_a_seed_fixes_every_pixel() -> None:
    texture = card_texture(A)
    first = render_frame(texture, np.random.default_rng(5))
    assert np.array_equal(first, render_frame(A, np.random.default_rng(5)))
    assert not np.array_equal(first, render_frame(texture, np.random.default_rng(6)))
    assert np.array_equal(
        empty_frame(np.random.default_rng(5)), empty_frame(np.random.default_rng(5))
    )


def test_issued_cards_in_frames_decode_and_verify(
    issue: IssueFn, trust_of: TrustFn, gate: Policy
) -> None:
    trust = trust_of()
    chain = DecoderChain()
    rng = np.random.default_rng(2)
    for card in (issue().text, issue().text):
        decoded = chain.decode(render_frame(card, rng, conditions=HELD_WELL))
        assert decoded.texts == (card,)
        assert verify_card(decoded.texts[0], trust, NOW, gate).reason is Reason.ACCEPTED


def test_the_chain_reads_what_zxing_reads_and_more() -> None:
    """Frames drawn from the calibrated ranges: hard ones included, as a kiosk sees them."""
    rng = np.random.default_rng(3)
    qr = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    texture = card_texture(A)
    chain_read = zxing_read = 0
    for _ in range(20):
        frame = render_frame(texture, rng)
        by_zxing = A in [b.text for b in zxingcpp.read_barcodes(frame, formats=qr)]
        by_chain = A in DecoderChain().decode(frame).texts
        assert by_chain or not by_zxing
        zxing_read += by_zxing
        chain_read += by_chain
    assert chain_read >= zxing_read + 2


def test_empty_frames_hold_no_code() -> None:
    rng = np.random.default_rng(8)
    chain = DecoderChain(still=True)
    for blank_card in (False, True):
        assert chain.decode(empty_frame(rng, (640, 480), blank_card=blank_card)).texts == ()


def test_source_shows_each_card_then_the_empty_scene() -> None:
    source = SyntheticSource(
        [A, B], fps=None, card_frames=4, empty_frames=1, size=(640, 480), loop=False, seed=7
    )
    frames = list(source.frames())
    assert [f.seq for f in frames] == list(range(10))
    chain = DecoderChain()
    texts = [chain.decode(f.gray).texts for f in frames]
    assert texts[4] == texts[9] == ()
    # Each card is read while it is shown (not necessarily in every frame), never another.
    assert {t for shown in texts[0:4] for t in shown} == {A}
    assert {t for shown in texts[5:9] for t in shown} == {B}


def test_source_is_a_function_of_its_seed() -> None:
    def images(seed: int) -> list[np.ndarray]:
        source = SyntheticSource([A, B], fps=None, card_frames=2, empty_frames=1, seed=seed)
        return [f.image for f in islice(source.frames(), 4)]

    assert all(np.array_equal(x, y) for x, y in zip(images(1), images(1), strict=True))
    assert not np.array_equal(images(1)[0], images(2)[0])


def test_source_paces_frames_at_its_fps() -> None:
    clock = FakeClock()
    source = SyntheticSource([A], fps=10, size=(320, 240), clock=clock, sleep=clock.sleep)
    frames = list(islice(source.frames(), 5))
    assert [f.seq for f in frames] == [0, 1, 2, 3, 4]
    assert [round(f.t - 100.0, 6) for f in frames] == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_a_slow_consumer_gets_fresh_frames_not_a_backlog() -> None:
    clock = FakeClock()
    source = SyntheticSource([A], fps=10, size=(320, 240), clock=clock, sleep=clock.sleep)
    times = []
    for frame in islice(source.frames(), 4):
        times.append(frame.t)
        clock.now += 0.25  # the consumer takes 2.5 frame times
    # Missed ticks are dropped, as a camera drops them: no burst of stale frames to catch up.
    gaps = [round(b - a, 6) for a, b in pairwise(times)]
    assert all(gap >= 0.25 for gap in gaps)
    assert all(s <= 0.1 for s in clock.sleeps)


def test_source_as_fast_as_it_renders_never_sleeps() -> None:
    clock = FakeClock()
    source = SyntheticSource([A], fps=None, size=(320, 240), clock=clock, sleep=clock.sleep)
    assert len(list(islice(source.frames(), 3))) == 3
    assert clock.sleeps == []


def test_close_stops_the_frames() -> None:
    source = SyntheticSource([A], fps=None, size=(320, 240))
    frames = source.frames()
    next(frames)
    source.close()
    assert list(frames) == []


def test_no_cards_is_an_empty_room() -> None:
    from kiosk.scan.decoder import DecoderChain

    source = SyntheticSource([], fps=None)
    frames = [f for _, f in zip(range(3), source.frames(), strict=False)]
    assert len(frames) == 3 and frames[0].image.std() > 1
    assert DecoderChain().decode(frames[0].gray).texts == ()


def test_source_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="fps"):
        SyntheticSource([A], fps=0)
