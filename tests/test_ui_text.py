"""Text shaping and ordering, checked against independent references: the Unicode bidi
algorithm of the `unicode-bidi` crate (python-bidi) and HarfBuzz itself (uharfbuzz)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import uharfbuzz as hb
import unicode_segmentation_rs as segmentation
from bidi import get_display
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kiosk.ui import strings as S
from kiosk.ui.fonts import LATIN, FontChain, chain_for
from kiosk.ui.i18n import BY_CODE, LANGUAGES, Texts
from kiosk.ui.samples import _NAMES
from kiosk.ui.text import Block, TextEngine

MIXED = [
    ("Arab", "بطاقة رقم 12345 للسيد John Smith"),
    ("Arab", "يُرجى توجيه رمز QR في البطاقة نحو الكاميرا."),
    ("Aran", "4 مارچ، 2027"),
    ("Arab", "صالحة حتى 30 يونيو 2030"),
    ("Aran", "آپ کا کارڈ 2030 تک ICC-7 کارآمد ہے"),
]
ALL_MESSAGES = (
    [value for name, value in vars(S).items() if name.isupper() and isinstance(value, str)]
    + [form for value in (S.BENEFITS, S.BACK_TO_START) for form in value]
    + list(S.BENEFIT_NAMES.values())
    + [text for pair in S.REASON_TEXT.values() for text in pair]
)


@pytest.fixture(scope="module")
def engine() -> TextEngine:
    import pygame

    pygame.display.init()
    return TextEngine()


def visual_text(block: Block) -> str:
    line = block.lines[0]
    return "".join(run.text[::-1] if run.rtl else run.text for run in line.runs)


@pytest.mark.parametrize(("script", "text"), MIXED)
def test_runs_are_in_the_reference_bidi_order(engine: TextEngine, script: str, text: str) -> None:
    block = engine.layout(text, 40, chain_for(script), rtl=True)
    assert len(block.lines) == 1
    assert visual_text(block) == get_display(text, base_dir="R")


@pytest.mark.parametrize(("script", "text"), MIXED)
def test_run_widths_match_harfbuzz(engine: TextEngine, script: str, text: str) -> None:
    size = 40
    block = engine.layout(text, size, chain_for(script), rtl=True)
    for run in block.lines[0].runs:
        blob = hb.Blob.from_file_path(str(run.face.path()))
        face = hb.Face(blob, run.face.index)
        font = hb.Font(face)
        scaled = round(size * run.face.scale)
        font.scale = (scaled * 64, scaled * 64)
        buf = hb.Buffer()
        buf.add_str(run.text)
        buf.direction = "rtl" if run.rtl else "ltr"
        buf.guess_segment_properties()
        if run.face.language:
            buf.language = run.face.language
        hb.shape(font, buf)
        reference = sum(pos.x_advance for pos in buf.glyph_positions) / 64
        assert abs(reference - run.width) <= 1.0, run.text


def test_arabic_is_joined_not_drawn_letter_by_letter(engine: TextEngine) -> None:
    word = "بطاقة"
    joined = engine.layout(word, 40, chain_for("Arab"), rtl=True).width
    isolated = sum(engine.layout(c, 40, chain_for("Arab"), rtl=True).width for c in word)
    assert joined < isolated * 0.9


def test_digits_inside_rtl_text_read_left_to_right_in_pixels(engine: TextEngine) -> None:
    text, size = "بطاقة رقم 12345 للسيد John", 48
    chain = chain_for("Arab")
    image = np.asarray(engine.mask(engine.layout(text, size, chain, rtl=True), size, False))
    # templates drawn alone, left to right, in the same font chain
    digits = np.asarray(engine.mask(engine.layout("12345", size, chain, rtl=False), size, False))
    reversed_ = np.asarray(engine.mask(engine.layout("54321", size, chain, rtl=False), size, False))
    name = np.asarray(engine.mask(engine.layout("John", size, chain_for("Latn")), size, False))

    def best(template: np.ndarray) -> tuple[float, int]:
        scores = cv2.matchTemplate(
            image.astype(np.float32), template.astype(np.float32), cv2.TM_CCOEFF_NORMED
        )
        _, score, _, where = cv2.minMaxLoc(scores)
        return score, where[0]

    digit_score, digit_x = best(digits)
    assert digit_score > 0.95
    assert best(reversed_)[0] < digit_score - 0.2
    name_score, name_x = best(name)
    assert name_score > 0.95
    # In a right-to-left paragraph the Latin name that ends the sentence is leftmost.
    assert name_x < digit_x


@pytest.mark.parametrize("lang", LANGUAGES, ids=lambda lang: lang.code)
def test_every_string_has_its_glyphs(lang) -> None:  # type: ignore[no-untyped-def]
    t = Texts(lang)
    chain = chain_for(lang.script)
    texts = {t(m) for m in ALL_MESSAGES} | {lang.name}
    for forms in (S.BENEFITS, S.BACK_TO_START):
        texts |= {t.plural(forms, n) for n in (0, 1, 2, 3, 5, 11, 21)}
    missing = {text: chain.missing(text) for text in texts if chain.missing(text)}
    assert missing == {}


NAMES_IN_MANY_SCRIPTS = [
    *_NAMES.values(),
    "Zoë Ångström-Łukasiewicz",
    "Đặng Thị Ánh",
    "Ngozi Adébáyọ̀",
    "Αλέξανδρος",
    "Սոնա",
    "שרה לוי",
]


@pytest.mark.parametrize("lang", LANGUAGES, ids=lambda lang: lang.code)
def test_holder_names_in_any_script_find_a_font(lang) -> None:  # type: ignore[no-untyped-def]
    chain = chain_for(lang.script)
    assert {n: chain.missing(n) for n in NAMES_IN_MANY_SCRIPTS if chain.missing(n)} == {}


def test_a_chain_without_the_script_reports_missing_glyphs() -> None:
    latin_only = FontChain((LATIN,))
    assert latin_only.missing("ليلى حداد") == set("ليلىحداد")
    assert latin_only.missing("Ana") == set()


def test_long_text_wraps_inside_its_width(engine: TextEngine) -> None:
    t = Texts(BY_CODE["zh-Hans"])
    block = engine.layout(t(S.CANT_CHECK_WHY) * 3, 40, chain_for("Hans"), max_width=300)
    assert len(block.lines) > 1
    assert all(line.width <= 300 for line in block.lines)
    latin = engine.layout(
        "Please see staff to renew it. " * 3, 40, chain_for("Latn"), max_width=400
    )
    assert len(latin.lines) > 1 and all(line.width <= 400 for line in latin.lines)


def test_rendered_text_is_cached(engine: TextEngine) -> None:
    before = engine.misses
    first = engine.render("Welcome", 50, (255, 255, 255), chain_for("Latn"))
    second = engine.render("Welcome", 50, (255, 255, 255), chain_for("Latn"))
    assert first is second
    assert engine.misses == before + 1
    assert pygame_alpha_sum(first) > 0


def pygame_alpha_sum(surface) -> int:  # type: ignore[no-untyped-def]
    import pygame

    return int(pygame.surfarray.array_alpha(surface).sum())


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=80), rtl=st.sampled_from([None, True, False]))
@example(text="Library\u2029North", rtl=None)
@example(text="a\u2028b\x85c\tд\n", rtl=True)
def test_any_text_renders(engine: TextEngine, text: str, rtl: bool | None) -> None:
    """A holder's name is any string the card carries: none may break the screen."""
    surface = engine.render(
        text, 30, (255, 255, 255), chain_for("Arab"), rtl=rtl, max_width=400, cache=False
    )
    assert surface.get_width() >= 1 and surface.get_height() >= 1


@pytest.mark.parametrize(
    "text", ["A\tB\nC", "\x00\x01", "\u202eevil", "x\u2067y\u2069", "a\u2028b\u2029c\x85"]
)
def test_controls_are_drawn_harmlessly(engine: TextEngine, text: str) -> None:
    from kiosk.ui.text import displayable

    shown = displayable(text)
    assert all(c.isprintable() for c in shown)
    assert not set(shown) & set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    engine.render(text, 30, (255, 255, 255), chain_for("Latn"), max_width=300, cache=False)


def test_no_break_spaces_keep_their_words_together(engine: TextEngine) -> None:
    text = "Действует до 30 июня 2030\u202fг."
    full = engine.layout(text, 40, chain_for("Cyrl")).width
    block = engine.layout(text, 40, chain_for("Cyrl"), max_width=full - 10)
    last = block.lines[-1]
    assert "".join(run.text for run in last.runs).startswith("2030")


def test_the_cache_tells_font_chains_apart(engine: TextEngine) -> None:
    latin_only = FontChain((LATIN,))
    a = engine.render("ليلى", 40, (255, 255, 255), latin_only)
    b = engine.render("ليلى", 40, (255, 255, 255), chain_for("Latn"))
    assert a is not b and a.get_size() != b.get_size()


def test_private_text_leaves_nothing_behind(engine: TextEngine) -> None:
    name = "Privatemarker Qzx 欧阳娜娜"
    engine.render(name, 40, (255, 255, 255), chain_for("Hans"), max_width=300, cache=False)
    engine.measure(name, 40, chain_for("Hans"), max_width=300, cache=False)
    remembered = [*engine._surfaces, *engine._blocks]
    assert not any(name in str(key) or "欧阳" in str(key) for key in remembered)
    assert not any("欧" in str(vars(chain)) for chain in (chain_for("Hans"), chain_for("Latn")))


def line_texts(block: Block) -> list[str]:
    return ["".join(run.text for run in line.runs) for line in block.lines]


KOREAN = [
    "이 키오스크는 지금 카드를 확인할 수 없습니다.",  # was cut "확인할 수 없 / 습니다"
    "카드를 움직이지 마십시오.",  # was cut "마십시 / 오."
    *(Texts(BY_CODE["ko"])(m) for m in (S.CANT_CHECK_WHY, S.IDLE_HOLD, S.STALE_WARNING)),
]


@pytest.mark.parametrize("text", KOREAN)
def test_korean_wraps_between_words_never_inside_them(engine: TextEngine, text: str) -> None:
    chain, size = chain_for("Kore"), 40
    widest_word = max(engine.layout(word, size, chain).width for word in text.split())
    full = engine.layout(text, size, chain).width
    wrapped = 0
    for width in range(widest_word, full, max(1, (full - widest_word) // 12)):
        lines = line_texts(engine.layout(text, size, chain, max_width=width))
        wrapped += len(lines) > 1
        assert " ".join(lines) == text, lines  # every break at a space
    assert wrapped >= 5


def test_line_breaks_follow_uax14(engine: TextEngine) -> None:
    from kiosk.ui.text import break_opportunities

    assert break_opportunities("확인할 수 없습니다.") == [4, 6, 11]
    # Chinese still breaks between characters, but never before a closing mark
    text = "这台自助机现在无法检查卡片。（测试）"
    breaks = break_opportunities(text)
    assert 1 in breaks and text.index("。") not in breaks and text.index("）") not in breaks
    assert text.index("（") + 1 not in breaks  # nor after an opening one
    assert break_opportunities("Действует до 30 июня 2030\u202fг.")[-2:] == [21, 28]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "     ",
        "x" * 500,  # no break opportunity anywhere
        "สมชายใจดีมากมายหลายอย่างที่สุดในโลก" * 4,  # Thai: no spaces between words
        "확인할 수 없습니다 Cannot check 확인할수없습니다확인할수없습니다",
        "👩\u200d👩\u200d👧\u200d👦" * 20,
        "a" + "\u0301" * 200,  # one grapheme cluster wider than any line
    ],
    ids=["empty", "spaces", "500-char word", "thai", "korean-english", "zwj emoji", "marks"],
)
def test_odd_text_wraps_within_its_width(engine: TextEngine, text: str) -> None:
    """Broken between grapheme clusters where no break is allowed: every line as wide as the
    width allows (or one cluster), measured as drawn, and no loop without end."""
    chain = chain_for("Kore")
    for width in (1, 40, 300):
        block = engine.layout(text, 24, chain, max_width=width, break_words=True)
        rows = line_texts(block)
        for line, row in zip(block.lines, rows, strict=True):
            assert line.width <= width or len(list(segmentation.graphemes(row, True))) == 1
        assert "".join(rows).replace(" ", "") == text.replace(" ", "")
        size = engine.measure(text, 24, chain, max_width=width, break_words=True, cache=False)
        drawn = engine.render(
            text, 24, (0, 0, 0), chain, max_width=width, break_words=True, cache=False
        )
        assert drawn.get_size() == size
