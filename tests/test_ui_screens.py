"""Screens: contrast, colour-blind safety, layout that fits in every language and size,
mirroring for right-to-left, outcome size, sounds, and `kiosk screens`."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pygame
import pytest

from kiosk.cli import main
from kiosk.reasons import Reason
from kiosk.ui import samples
from kiosk.ui import strings as S
from kiosk.ui.i18n import BY_CODE, ENGLISH, LANGUAGES, Texts
from kiosk.ui.paint import Painter, Placed
from kiosk.ui.screens import Frame, Result
from kiosk.ui.sound import NOTES, RATE, Sounds, waveform
from kiosk.ui.theme import INK, SCHEMES, SPECIMEN_BAND, Outcome, contrast
from tests.colour_vision import distance

RESULTS = [Outcome.ACCEPTED, Outcome.REJECTED, Outcome.CANT_CHECK, Outcome.OUT_OF_SERVICE]
SIZES = [(800, 480), (1920, 1080)]


@pytest.fixture(scope="module")
def painter() -> Painter:
    pygame.display.init()
    return Painter()


@pytest.mark.parametrize("outcome", list(Outcome))
def test_text_contrast_is_aaa(outcome: Outcome) -> None:
    scheme = SCHEMES[outcome]
    assert contrast(scheme.text, scheme.background) >= 7
    assert contrast(scheme.quiet, scheme.background) >= 7
    assert contrast(scheme.accent, scheme.background) >= 3  # icons: WCAG non-text contrast
    assert contrast(scheme.icon_mark, scheme.accent) >= 3


def test_specimen_band_and_selection_contrast() -> None:
    from kiosk.ui.theme import SELECTED

    assert contrast(INK, SPECIMEN_BAND) >= 7
    assert contrast(INK, SELECTED) >= 7  # the chosen language button and menu item


def test_contrast_formula_against_wcag_examples() -> None:
    assert contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21)
    assert contrast((118, 118, 118), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("vision", ["normal", "protanopia", "deuteranopia", "tritanopia"])
def test_outcomes_stay_apart_in_colour_blind_vision(vision: str) -> None:
    for a, b in itertools.combinations(RESULTS, 2):
        sa, sb = SCHEMES[a], SCHEMES[b]
        apart = max(
            distance(sa.accent, sb.accent, vision), distance(sa.background, sb.background, vision)
        )
        assert apart >= 20, (a, b)
    accepted, rejected = SCHEMES[Outcome.ACCEPTED], SCHEMES[Outcome.REJECTED]
    assert distance(accepted.accent, rejected.accent, vision) >= 30


def test_a_red_green_pair_would_fail_the_check() -> None:
    red, green = (200, 60, 40), (60, 160, 40)
    assert distance(red, green, "normal") > 30
    assert distance(red, green, "deuteranopia") < 20


def _problems(placed: list[Placed], size: tuple[int, int]) -> list[str]:
    screen = pygame.Rect(0, 0, *size)
    return [
        f"{p.role} {p.text[:30]!r}: {p.rect} outside {p.box}"
        for p in placed
        if not p.fits or not screen.contains(p.rect)
    ]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("lang", LANGUAGES, ids=lambda lang: lang.code)
def test_every_screen_fits(painter: Painter, lang, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    surface = pygame.Surface(size)
    _w, h = size
    for name in samples.names():
        placed = painter.paint(surface, samples.sample(name, lang), now=0.0)
        assert _problems(placed, size) == [], name
        pixels = pygame.surfarray.pixels2d(surface)[::3, ::3].copy()  # packed colours
        assert len(np.unique(pixels)) > 50, f"{name} looks blank"
        words = [p for p in placed if p.role == "outcome"]
        if name not in {"idle", "reading", "technician"}:
            assert words, name
            assert words[0].size >= h / 8, name
            assert words[0].rect.h >= h / 8, name


@pytest.mark.parametrize(
    "lang",
    [BY_CODE["en"], BY_CODE["ar"], BY_CODE["ur"], BY_CODE["zh-Hant"]],
    ids=lambda lang: lang.code,
)
def test_portrait_fits(painter: Painter, lang) -> None:  # type: ignore[no-untyped-def]
    surface = pygame.Surface((1080, 1920))
    for name in samples.names():
        placed = painter.paint(surface, samples.sample(name, lang), now=0.0)
        assert _problems(placed, (1080, 1920)) == [], name


def test_right_to_left_screens_mirror(painter: Painter) -> None:
    surface = pygame.Surface((800, 480))
    accent = np.array(SCHEMES[Outcome.REJECTED].accent)
    for code, icon_side in (("en", slice(0, 200)), ("ar", slice(600, 800))):
        placed = painter.paint(surface, samples.sample("rejected", BY_CODE[code]), now=0.0)
        word = next(p for p in placed if p.role == "outcome")
        pixels = pygame.surfarray.array3d(surface)  # x, y, rgb
        icon_pixels = (np.abs(pixels[icon_side].astype(int) - accent).sum(axis=2) < 10).sum()
        assert icon_pixels > 1000, code  # the icon sits on the start side
        if code == "en":
            assert word.rect.left == word.box.left and word.box.left > 200
        else:
            assert word.rect.right == word.box.right and word.box.right < 600


def test_result_speaks_the_holder_language_with_english_beneath(painter: Painter) -> None:
    surface = pygame.Surface((1920, 1080))
    placed = painter.paint(surface, samples.sample("rejected-revoked", BY_CODE["es"]), now=0.0)
    texts = {p.role: p.text for p in placed}
    es = Texts(BY_CODE["es"])
    assert texts["outcome"] == es(S.NOT_ACCEPTED)
    assert es(S.REASON_TEXT[Reason.REVOKED][0]) in [p.text for p in placed]
    assert "This card has been cancelled." in texts["english"]
    english = painter.paint(surface, samples.sample("rejected-revoked", ENGLISH), now=0.0)
    assert "english" not in {p.role for p in english}


def test_cant_check_never_says_the_card_is_bad(painter: Painter) -> None:
    surface = pygame.Surface((800, 480))
    for lang in LANGUAGES:
        t = Texts(lang)
        placed = painter.paint(surface, samples.sample("cant-check", lang), now=0.0)
        shown = " ".join(p.text for p in placed)
        assert t(S.NOT_ACCEPTED) not in shown
        assert t(S.CANT_CHECK) in shown and t(S.CANT_CHECK_NOT_YOU) in shown


def test_counter_view_shows_only_what_the_policy_gave(painter: Painter) -> None:
    surface = pygame.Surface((1920, 1080))
    staff = samples.staff_sample(ENGLISH)
    screen = Result(Outcome.ACCEPTED, Reason.ACCEPTED, ENGLISH, counter=True, staff=staff)
    shown = {p.text for p in painter.paint(surface, screen, now=0.0)}
    assert staff.name in shown and "21 or older" in shown
    assert not any("Born" in text for text in shown)
    gate = Result(Outcome.ACCEPTED, Reason.ACCEPTED, ENGLISH, counter=False, staff=staff)
    assert staff.name not in {p.text for p in painter.paint(surface, gate, now=0.0)}


def test_specimen_band(painter: Painter) -> None:
    surface = pygame.Surface((800, 480))
    screen = Result(Outcome.ACCEPTED, Reason.ACCEPTED, ENGLISH, frame=Frame(specimen=True))
    placed = painter.paint(surface, screen, now=0.0)
    band = next(p for p in placed if p.role == "specimen")
    assert band.text.startswith("SPECIMEN")
    assert tuple(surface.get_at((2, band.rect.centery)))[:3] == SPECIMEN_BAND


def test_language_buttons_are_where_the_display_looks(painter: Painter) -> None:
    surface = pygame.Surface((800, 480))
    placed = painter.paint(surface, samples.sample("idle", ENGLISH), now=0.0)
    buttons = {p.role: p.box for p in placed if p.role.startswith("language:")}
    assert set(buttons) == {f"language:{lang.code}" for lang in LANGUAGES}
    assert not any(a.colliderect(b) for a, b in itertools.combinations(buttons.values(), 2))


def _notes(samples_: np.ndarray) -> list[int]:
    """The melody: dominant frequency of each 20 ms window, silent windows dropped and
    repeats of one pitch merged."""
    window = int(RATE * 0.02)
    found: list[int] = []
    for start in range(0, len(samples_) - window, window):
        chunk = samples_[start : start + window].astype(float)
        if np.abs(chunk).max() < 1000:
            found.append(0)
            continue
        spectrum = np.abs(np.fft.rfft(chunk * np.hanning(window), n=window * 8))
        found.append(round(np.argmax(spectrum) * RATE / (window * 8)))
    melody: list[int] = []
    for i, f in enumerate(found):
        if f and (i == 0 or abs(f - found[i - 1]) > 15):
            melody.append(f)
    return melody


def test_each_outcome_sounds_different() -> None:
    heard = {outcome: _notes(waveform(outcome, 1.0)) for outcome in NOTES}
    for outcome, notes in heard.items():
        expected = [f for f, _, _ in NOTES[outcome] if f]
        assert len(notes) == len(expected)
        assert all(abs(a - b) < 20 for a, b in zip(notes, expected, strict=True)), outcome
    assert len({tuple(n) for n in heard.values()}) == len(heard)
    accepted, rejected = heard[Outcome.ACCEPTED], heard[Outcome.REJECTED]
    assert accepted[-1] > accepted[0] and rejected[-1] < rejected[0]  # rises vs falls


def test_volume_scales_and_zero_is_silent() -> None:
    loud, quiet = waveform(Outcome.ACCEPTED, 1.0), waveform(Outcome.ACCEPTED, 0.25)
    assert np.abs(quiet).max() == pytest.approx(np.abs(loud).max() / 4, rel=0.01)
    assert not Sounds(volume=0).play(Outcome.ACCEPTED)


def test_sounds_play_on_the_dummy_device(tmp_path: Path) -> None:
    sounds = Sounds(volume=0.5, voice=True, voice_dir=tmp_path)
    assert sounds.play(Outcome.REJECTED, "es")
    assert sounds.voice_file(Outcome.REJECTED, "es") is None
    (tmp_path / "es").mkdir()
    import wave

    with wave.open(str(tmp_path / "es" / "rejected.wav"), "wb") as f:
        f.setnchannels(1), f.setsampwidth(2), f.setframerate(RATE)
        f.writeframes(waveform(Outcome.REJECTED, 0.5).tobytes())
    assert sounds.voice_file(Outcome.REJECTED, "es") == tmp_path / "es" / "rejected.wav"
    assert sounds.play(Outcome.REJECTED, "es")


def test_screens_command_writes_named_pngs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "screens",
            "--out",
            str(tmp_path),
            "--lang",
            "ar",
            "--size",
            "800x480",
            "--screen",
            "rejected",
        ]
    )
    assert code == 0
    shot = tmp_path / "rejected-ar-800x480.png"
    image = pygame.image.load(str(shot))
    assert image.get_size() == (800, 480)
    assert "1 screens" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--size", "800"], "800x480"),
        (["--screen", "nope"], "unknown screen"),
        (["--lang", "xx"], "unknown language"),
    ],
)
def test_screens_command_refuses_bad_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    try:
        code = main(["screens", "--out", str(tmp_path), *argv])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    assert code != 0
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("name", ["W" * 64, "Ａ" * 64, "e\u0301" * 40, "😀" * 30, ""])
def test_unusual_names_stay_in_their_box(painter: Painter, name: str) -> None:
    from kiosk.ui.screens import Staff

    surface = pygame.Surface((800, 480))
    staff = Staff(name=name, age_flags=("18+",), benefits=("library", "x" * 60))
    screen = Result(Outcome.ACCEPTED, Reason.ACCEPTED, ENGLISH, counter=True, staff=staff)
    assert _problems(painter.paint(surface, screen, now=0.0), (800, 480)) == []


def test_staff_panel_ages_and_birth_date(painter: Painter) -> None:
    from datetime import date

    from kiosk.ui.screens import Staff

    surface = pygame.Surface((1920, 1080))
    es = Texts(BY_CODE["es"])

    def shown(staff: Staff) -> set[str]:
        screen = Result(Outcome.ACCEPTED, Reason.ACCEPTED, BY_CODE["es"], counter=True, staff=staff)
        return {p.text for p in painter.paint(surface, screen, now=0.0)}

    assert es(S.AGE_N).format(n=16) in shown(Staff(name="A", age_flags=("16+",)))
    assert es(S.UNDER_N).format(n=21) in shown(Staff(name="A", under=21))
    assert es(S.UNDER_18) in shown(Staff(name="A", under=18))
    born = shown(Staff(name="A", dob=date(1990, 5, 17)))
    assert es(S.BORN).format(date=es.date(date(1990, 5, 17))) in born
