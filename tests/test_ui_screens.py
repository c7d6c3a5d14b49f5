"""Screens: contrast, colour-blind safety, layout that fits in every language and size,
mirroring for right-to-left, outcome size, sounds, and `kiosk screens`."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pygame
import pytest

from kiosk.cli import main
from kiosk.core.reasons import Reason
from kiosk.ui import samples
from kiosk.ui import strings as S
from kiosk.ui.i18n import BY_CODE, ENGLISH, LANGUAGES, Texts
from kiosk.ui.icons import outcome_icon
from kiosk.ui.painter import Painter
from kiosk.ui.placement import Kind, Placed, Placement
from kiosk.ui.screens import Frame, Result
from kiosk.ui.sound import NOTES, RATE, Sounds, waveform
from kiosk.ui.text import text_pad
from kiosk.ui.theme import INK, SCHEMES, SPECIMEN_BAND, WHITE, Outcome, contrast
from tests.colour_vision import distance

RESULTS = [Outcome.ACCEPTED, Outcome.REJECTED, Outcome.CANT_CHECK, Outcome.OUT_OF_SERVICE]


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
    """The outcome's colour fills the screen: those fields must differ for everyone."""
    for a, b in itertools.combinations(RESULTS, 2):
        apart = distance(SCHEMES[a].background, SCHEMES[b].background, vision)
        assert apart >= 30, (a, b)
    accepted, rejected = SCHEMES[Outcome.ACCEPTED], SCHEMES[Outcome.REJECTED]
    assert distance(accepted.background, rejected.background, vision) >= 40


def test_accepted_and_refused_differ_in_lightness_too() -> None:
    """Light field against dark: apart even with no colour vision at all."""
    accepted, rejected = SCHEMES[Outcome.ACCEPTED], SCHEMES[Outcome.REJECTED]
    assert contrast(accepted.background, rejected.background) >= 3


def test_each_outcome_has_its_own_shape() -> None:
    """Never colour alone: drawn in black on white, the four icons (outline and mark)
    still differ: no two share more than 80 % of their ink."""

    def ink(outcome: Outcome) -> np.ndarray:
        surface = pygame.Surface((120, 120))
        surface.fill(WHITE)
        surface.blit(outcome_icon(outcome, 120, INK, WHITE), (0, 0))
        return pygame.surfarray.array3d(surface)[:, :, 0] < 128

    masks = {outcome: ink(outcome) for outcome in RESULTS}
    for a, b in itertools.combinations(RESULTS, 2):
        shared = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
        assert shared < 0.8, (a, b)


def test_a_red_green_pair_would_fail_the_check() -> None:
    red, green = (200, 60, 40), (60, 160, 40)
    assert distance(red, green, "normal") > 30
    assert distance(red, green, "deuteranopia") < 20


# The Raspberry Pi touch display both ways up, and full HD.
SIZES = [(800, 480), (1920, 1080), (480, 800)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("lang", LANGUAGES, ids=lambda lang: lang.code)
def test_every_screen_fits_without_overlap(painter: Painter, lang, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """Every text in its box and on the screen, nothing drawn over anything else, no label
    touching its outline: every screen, every language, landscape and portrait."""
    surface = pygame.Surface(size)
    w, h = size
    found = []
    for name in samples.names():
        placed = painter.paint(surface, samples.sample(name, lang), now=0.0)
        found += [f"{name}: {problem}" for problem in placed.problems()]
        # lines of one kind are set at one size (no shrunken first line, no small button)
        texts = [p for p in placed if p.kind is Kind.TEXT]
        for kind in ("body", "step", "flag", "detail", "language", "item", "pane"):
            sizes = {p.size for p in texts if p.role.split(":")[0] == kind}
            assert len(sizes) <= 1, (name, kind, sizes)
        items = {p.size for p in texts if p.role.split(":")[0] in ("item", "pane")}
        assert len(items) <= 1, (name, "technician pane smaller than its items", items)
        pixels = pygame.surfarray.pixels2d(surface)[::3, ::3].copy()  # packed colours
        assert len(np.unique(pixels)) > 50, f"{name} looks blank"
        words = [p for p in placed if p.role == "outcome"]
        if name not in {"idle", "reading", "technician"}:
            assert words, name
            # the outcome word: 1/8 of the height, 1/10 of the width in portrait
            floor = w / 10 if h > w else h / 8
            assert words[0].size >= floor, name
            assert words[0].rect.h >= floor, name
    assert found == []


def test_placement_finds_every_kind_of_collision() -> None:
    def text(
        role: str, rect: tuple[int, int, int, int], box: tuple[int, int, int, int] | None = None
    ) -> Placed:
        return Placed(role, role, pygame.Rect(box or rect), pygame.Rect(rect))

    placed = Placement((800, 480))
    placed += [
        text("fits", (10, 10, 100, 20)),
        text("over", (50, 25, 100, 20)),  # runs into "fits"
        text("wide", (10, 100, 300, 20), (10, 100, 200, 20)),  # leaves its box
        text("below", (10, 470, 100, 20)),  # off the bottom
        Placed(
            "icon",
            "",
            pygame.Rect(600, 10, 100, 100),
            pygame.Rect(600, 10, 100, 100),
            kind=Kind.SHAPE,
        ),
        text("on-icon", (650, 90, 100, 40)),
        Placed(
            "chip",
            "",
            pygame.Rect(10, 200, 200, 50),
            pygame.Rect(10, 200, 200, 50),
            kind=Kind.FRAME,
            stroke=4,
        ),
        text("label", (14, 210, 100, 30)),  # inside the chip but on its outline
        Placed(
            "chip",
            "",
            pygame.Rect(300, 200, 200, 50),
            pygame.Rect(300, 200, 200, 50),
            kind=Kind.FRAME,
            stroke=4,
        ),
        text("clear", (320, 212, 100, 26)),  # well inside its chip: fine
    ]
    problems = placed.problems()
    assert any(p.startswith("overlap: fits") and "over" in p for p in problems)
    assert any(p.startswith("overflow: wide") for p in problems)
    assert any(p.startswith("off screen: below") for p in problems)
    assert any(p.startswith("overlap: icon") and "on-icon" in p for p in problems)
    assert any(p.startswith("touches its frame: label") for p in problems)
    assert not any("clear" in p for p in problems)
    assert len(problems) == 5


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


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", ["accepted", "rejected", "cant-check", "out-of-service"])
def test_the_outcome_reads_from_across_a_lobby(painter: Painter, name: str, size) -> None:  # type: ignore[no-untyped-def]
    """The outcome's colour fills the screen, its shape is large, and what is drawn sits
    around the middle of the screen, not in its top third."""
    w, h = size
    surface = pygame.Surface(size)
    screen = samples.sample(name, BY_CODE["es"])
    placed = painter.paint(surface, screen, now=0.0)
    field = np.array(SCHEMES[screen.outcome].background)
    pixels = pygame.surfarray.array3d(surface).astype(int)
    assert (np.abs(pixels - field).sum(axis=2) == 0).mean() > 0.6
    icon = next(p.rect for p in placed if p.role == "icon")
    assert icon.h >= 0.3 * min(w, h)
    content = [p.rect for p in placed if p.role not in {"site", "countdown"}]
    top, bottom = min(r.top for r in content), max(r.bottom for r in content)
    assert abs((top + bottom) / 2 - h / 2) < h * 0.1
    assert bottom > h * 0.6  # the lower half is not left empty


@pytest.mark.parametrize(
    ("name", "code", "size"),
    [
        ("accepted", "ar", (1920, 1080)),
        ("cant-check", "ur", (800, 480)),
        ("rejected", "ar", (480, 800)),
    ],
)
def test_secondary_lines_align_with_the_primary(
    painter: Painter, name: str, code: str, size
) -> None:  # type: ignore[no-untyped-def]
    """Under right-aligned Arabic or Urdu, the English is set right too."""
    placed = painter.paint(pygame.Surface(size), samples.sample(name, BY_CODE[code]), now=0.0)
    # where the ink may end: the rendered text less the room kept for ink past advances
    ends = {p.role: p.rect.right - text_pad(p.size) for p in placed}
    body = next(p for p in placed if p.role == "body")
    english = next(p for p in placed if p.role == "english")
    assert abs(ends["english"] - ends["body"]) <= 1 and english.rect.left > body.box.left
    assert abs(ends["outcome"] - ends["body"]) <= 1


def test_the_staff_panel_speaks_the_staff_language(painter: Painter) -> None:
    """An Arabic-reading holder at a counter whose staff read English: the holder's part in
    Arabic, the staff panel in English, and the panel says which language the holder reads."""
    surface = pygame.Surface((800, 480))
    screen = samples.sample("counter", BY_CODE["ar"])
    assert isinstance(screen, Result) and screen.staff_language == ENGLISH
    placed = painter.paint(surface, screen, now=0.0)
    texts = {p.role: p.text for p in placed}
    ar = Texts(BY_CODE["ar"])
    assert texts["outcome"] == ar(S.VALID_CARD)
    assert {p.text for p in placed if p.role == "flag"} == {"18 or older", "21 or older"}
    details = [p for p in placed if p.role == "detail"]
    assert "Language: العربية" in {p.text for p in details}
    panel = next(p.rect for p in placed if p.role == "staff-panel")
    assert all(p.rect.left - panel.left < panel.right - p.rect.right for p in details)  # set left
    spanish_staff = dataclasses.replace(screen, staff_language=BY_CODE["es"])
    shown = {p.text for p in painter.paint(surface, spanish_staff, now=0.0)}
    es = Texts(BY_CODE["es"])
    assert es(S.AGE_21) in shown and "21 or older" not in shown
    same = dataclasses.replace(screen, language=ENGLISH)
    assert not any(p.text.startswith("Language") for p in painter.paint(surface, same, now=0.0))


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


def test_screens_command_exits_1_when_text_does_not_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["screens", "--out", str(tmp_path), "--size", "200x200", "--screen", "rejected"]
    assert main([*argv, "--lang", "es"]) == 1
    out = capsys.readouterr().out
    assert "rejected es 200x200: cut: site" in out  # shortened with "…", and reported
    assert (tmp_path / "rejected-es-200x200.png").is_file()  # still drawn, to be looked at


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
    assert painter.paint(surface, screen, now=0.0).problems() == []


def test_staff_panel_ages_and_birth_date(painter: Painter) -> None:
    from datetime import date

    from kiosk.ui.screens import Staff

    surface = pygame.Surface((1920, 1080))
    es = Texts(BY_CODE["es"])

    def shown(staff: Staff) -> set[str]:
        screen = Result(
            Outcome.ACCEPTED,
            Reason.ACCEPTED,
            BY_CODE["ar"],
            counter=True,
            staff=staff,
            staff_language=BY_CODE["es"],
        )
        return {p.text for p in painter.paint(surface, screen, now=0.0)}

    assert es(S.AGE_N).format(n=16) in shown(Staff(name="A", age_flags=("16+",)))
    assert es(S.UNDER_N).format(n=21) in shown(Staff(name="A", under=21))
    assert es(S.UNDER_18) in shown(Staff(name="A", under=18))
    born = shown(Staff(name="A", dob=date(1990, 5, 17)))
    assert es(S.BORN).format(date=es.date(date(1990, 5, 17))) in born
