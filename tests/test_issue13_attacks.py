"""Issue 13 attacked: screens fed the longest holder data a card can carry, at every size the
configuration allows, and spoken prompts made by an espeak-ng that hangs, floods or lies,
in a voice folder that is damaged, shared or not writable."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import unicodedata
import wave
from pathlib import Path

import numpy as np
import pygame
import pytest

from kiosk.cli import main
from kiosk.core.card import verify_card
from kiosk.core.policy import Policy
from kiosk.core.trust_state import TrustState
from kiosk.issuer.city import DAY_S, City, Holder
from kiosk.ui import samples
from kiosk.ui import strings as S
from kiosk.ui.i18n import BY_CODE, ENGLISH, LANGUAGES, Texts
from kiosk.ui.painter import Painter
from kiosk.ui.placement import Kind, Placed, clearance
from kiosk.ui.present import result_screen
from kiosk.ui.screens import Frame, Result, Screen, Technician
from kiosk.ui.sound import RATE
from kiosk.ui.voice import SPOKEN
from tests.conftest import NOW, TrustFn

# -- screens --------------------------------------------------------------------------------

# 64 characters, the most a card's name may have, in the scripts residents write.
LONG_NAMES = {
    "arabic-latin": "محمد عبد الرحمن Mohammed Abdulrahman Al-Hashimi بن عبد العزيز",
    "devanagari": "प्रियंका चोपड़ा जोनास श्रीवास्तव अग्निहोत्री त्रिपाठी",
    "cjk": "王" * 64,
    "thai-no-spaces": "สมชายใจดีมากมายหลายอย่างที่สุดในโลกนี้ไม่มีใครเหมือนเลยจริงๆนะครับ",
    "latin-no-spaces": "W" * 64,
    "emoji-zwj": "👩\u200d👩\u200d👧\u200d👦" * 9,
    "combining": "e\u0301\u0302\u0303" * 16,
}
# 32 benefits, unknown codes among them, one of them as long as a code may be.
MANY_BENEFITS = ("library", "museum", "x" * 32, *(f"b{i:02d}" for i in range(29)))
COUNTER = Policy.for_mode(
    "counter", passback_s=0, show=frozenset({"name", "age_flags", "benefits", "valid_until"})
)
SIZES = [(800, 480), (1920, 1080), (480, 800), (1080, 1920), (1024, 600)]
# The extremes `[display] size` accepts (200..16384 a side) and old 4:3 panels.
EXTREME_SIZES = [(200, 200), (320, 240), (16384, 200), (200, 16384)]


@pytest.fixture(scope="module")
def painter() -> Painter:
    pygame.display.init()
    return Painter()


def counter_result(city: City, trust_of: TrustFn, name: str, benefits: tuple[str, ...]) -> Result:
    """A card issued and verified, then turned into its screen by the kiosk's own path."""
    name = unicodedata.normalize("NFC", name)[:64]
    text = city.issue(
        Holder(name, "1990-01-01", lang="ar", benefits=benefits), NOW, issued_at=NOW - DAY_S
    ).text
    decision = verify_card(text, trust_of(), NOW, COUNTER)
    assert decision.accepted, decision.detail
    return result_screen(
        decision,
        COUNTER,
        NOW,
        languages=LANGUAGES,
        fallback=ENGLISH,
        frame=Frame(site="Library"),
        pass_printed=True,
        seconds_left=10,
    )


def pixels(
    painter: Painter, screen: Screen, size: tuple[int, int]
) -> tuple[np.ndarray, dict[str, Placed]]:
    surface = pygame.Surface(size)
    placed = painter.paint(surface, screen, now=0.0)
    return pygame.surfarray.array3d(surface), {p.role: p for p in placed}


def outside(image: np.ndarray, rect: pygame.Rect) -> np.ndarray:
    """The image with `rect` blanked: what must not change."""
    kept = image.copy()
    kept[rect.left : rect.right, rect.top : rect.bottom] = 0
    return kept


@pytest.mark.parametrize("script", list(LONG_NAMES))
def test_the_longest_holder_data_fits_the_staff_panel(
    painter: Painter, city: City, trust_of: TrustFn, script: str
) -> None:
    """A 64-character name and 32 benefits, through the kiosk's own path: every text in its
    box, nothing over anything else, landscape and portrait."""
    screen = counter_result(city, trust_of, LONG_NAMES[script], MANY_BENEFITS)
    found = []
    for size in SIZES:
        placed = painter.paint(pygame.Surface(size), screen, now=0.0)
        found += [f"{size}: {problem}" for problem in placed.problems()]
    assert found == []


@pytest.mark.parametrize("size", SIZES + EXTREME_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_holder_data_never_draws_outside_the_staff_panel(
    painter: Painter, city: City, trust_of: TrustFn, size: tuple[int, int]
) -> None:
    """Whatever the name, every pixel outside the staff panel — the outcome word, its
    sentences, the English — is the same as with a one-letter name."""
    short = counter_result(city, trust_of, "A", ("library",))
    baseline, placed = pixels(painter, short, size)
    for name in ("thai-no-spaces", "latin-no-spaces", "arabic-latin"):
        screen = counter_result(city, trust_of, LONG_NAMES[name], MANY_BENEFITS)
        image, _ = pixels(painter, screen, size)
        panel = placed["staff-panel"].rect
        assert np.array_equal(outside(image, panel), outside(baseline, panel)), name


def test_a_name_cannot_reorder_the_staff_panel(
    painter: Painter, city: City, trust_of: TrustFn
) -> None:
    """Bidi overrides in a name: a card carrying one is refused, and a name that carries one
    anyway is drawn as its own paragraph — the rows under it are the same pixels as under a
    plain name."""
    from kiosk.core.reasons import Reason

    evil = "\u202eAna \u2067ليلى\u202b 123"
    text = city.issue(Holder(evil, "1990-01-01"), NOW, issued_at=NOW - DAY_S).text
    assert verify_card(text, trust_of(), NOW, COUNTER).reason is Reason.MALFORMED
    screen = counter_result(city, trust_of, "Ana", ("library", "museum"))
    assert screen.staff is not None
    plain, placed = pixels(painter, screen, (800, 480))
    spoofed = dataclasses.replace(screen, staff=dataclasses.replace(screen.staff, name=evil))
    image, _ = pixels(painter, spoofed, (800, 480))
    name = placed["name"].box
    assert np.array_equal(outside(image, name), outside(plain, name))


@pytest.mark.parametrize("size", [(480, 800), (200, 200), (16384, 200)], ids=str)
def test_a_long_site_name_stays_in_its_band(painter: Painter, size: tuple[int, int]) -> None:
    """`[site] name` may be 200 characters: it shrinks (or is shortened) inside the band at
    the top and never reaches the outcome below it."""
    screen = samples.sample("rejected", BY_CODE["es"])
    assert isinstance(screen, Result)
    short, placed = pixels(painter, dataclasses.replace(screen, frame=Frame(site="L")), size)
    long_site = dataclasses.replace(screen, frame=Frame(site="Harold Washington Library " * 8))
    image, _ = pixels(painter, long_site, size)
    band = pygame.Rect(0, 0, size[0], placed["site"].box.bottom)
    assert np.array_equal(outside(image, band), outside(short, band))


@pytest.mark.parametrize("size", [(200, 200), (320, 240)], ids=str)
def test_the_kiosks_own_words_are_never_shortened(painter: Painter, size: tuple[int, int]) -> None:
    """Where even the floor size does not fit, the outcome and its sentences shrink further
    but are never cut: "स्वीकार नहीं…" cut to "स्वीकार…" would read "accepted"."""
    for lang in LANGUAGES:
        placed = painter.paint(pygame.Surface(size), samples.sample("rejected", lang), now=0.0)
        words = [p for p in placed if p.role in ("outcome", "body", "english", "countdown")]
        assert words and not any(p.cut for p in words), lang.code
        assert next(p.text for p in words if p.role == "outcome") == Texts(lang)(S.NOT_ACCEPTED)


def test_a_long_technician_line_is_shortened_inside_the_pane(painter: Painter) -> None:
    """A device's error can be a paragraph: the pane shows what fits, ending in "…", and
    draws nothing over the pane's outline or outside it."""
    screen = samples.sample("technician", ENGLISH)
    assert isinstance(screen, Technician)
    error = "gate: /dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K5XYZ-if00-port0: I/O error; "
    long_lines = dataclasses.replace(screen, pane_lines=(f"problems: {error * 8}", "x" * 500))
    short_lines = dataclasses.replace(screen, pane_lines=("problems: none", "x"))
    for size in [(800, 480), (480, 800)]:
        surface = pygame.Surface(size)
        placed = painter.paint(surface, short_lines, now=0.0)
        baseline = pygame.surfarray.array3d(surface)
        frame = next(p for p in placed if p.role == "pane" and p.kind is Kind.FRAME)
        inside = frame.rect.inflate(-2 * clearance(frame.stroke), -2 * clearance(frame.stroke))
        shown = painter.paint(surface, long_lines, now=0.0)
        image = pygame.surfarray.array3d(surface)
        assert np.array_equal(outside(image, inside), outside(baseline, inside)), size
        lines = [p.text for p in shown if p.role == "pane" and p.kind is Kind.TEXT]
        assert lines and all(line.endswith("…") for line in lines), lines


def test_screens_command_checks_the_longest_counter_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`kiosk screens` renders a counter with a 64-character name and every benefit, so a
    translation that leaves no room for them is caught before it ships; and it takes every
    size the configuration accepts."""
    argv = ["screens", "--out", str(tmp_path), "--screen", "counter-long", "--lang", "ar"]
    assert main([*argv, "--size", "800x480", "--size", "480x800"]) == 0, capsys.readouterr()
    screen = samples.sample("counter-long", BY_CODE["ar"])
    assert isinstance(screen, Result) and screen.staff is not None
    assert screen.staff.name is not None and len(screen.staff.name) == 64
    assert main([*argv, "--size", "16384x200"]) in (0, 1)  # drawn; 1 if it does not fit
    assert (tmp_path / "counter-long-ar-16384x200.png").is_file()


# -- spoken prompts: a damaged, shared or unwritable folder; an espeak-ng that misbehaves ----

needs_espeak = pytest.mark.skipif(
    subprocess.run(["sh", "-c", "command -v espeak-ng"], capture_output=True).returncode != 0,
    reason="espeak-ng is not installed (scripts/setup.sh installs it)",
)

# A stand-in espeak-ng: answers --version and --voices like espeak-ng 1.51, and synthesises
# as told by its BEHAVIOUR (hang, flood, zero-rate), noting each synthesis in its folder.
FAKE_ESPEAK = """#!{python}
import os, struct, sys, time
here = os.path.dirname(os.path.abspath(__file__))
if "--version" in sys.argv:
    print("eSpeak NG text-to-speech: 1.51-fake  Data at: /nowhere")
    sys.exit(0)
if "--voices" in sys.argv:
    print("Pty Language       Age/Gender VoiceName          File                 Other Languages")
    print(" 2  en-us           --/M      English_(America)  gmw/en-US            (en 3)")
    sys.exit(0)
sys.stdin.read()
with open(os.path.join(here, "synth.log"), "a") as log:
    log.write(f"{{os.getpid()}}\\n")
behaviour = "{behaviour}"
if behaviour == "hang":
    time.sleep(600)
elif behaviour == "flood":
    for i in range(200):
        sys.stdout.buffer.write(b"\\0" * 2**20)
        sys.stdout.flush()
        with open(os.path.join(here, "flood.count"), "w") as count:
            count.write(str(i + 1))
elif behaviour == "zero-rate":
    data = b"\\1\\2" * 1000
    fmt = struct.pack("<HHIIHH", 1, 1, 0, 0, 2, 16)
    sys.stdout.buffer.write(
        b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<I", 16)
        + fmt + b"data" + struct.pack("<I", len(data)) + data
    )
"""


def fake_espeak(folder: Path, behaviour: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    binary = folder / "espeak-ng"
    binary.write_text(FAKE_ESPEAK.format(python=sys.executable, behaviour=behaviour))
    binary.chmod(0o755)
    return folder


def synth_pids(folder: Path) -> list[int]:
    log = folder / "synth.log"
    return [int(line) for line in log.read_text().split()] if log.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def voice_config(tmp_path: Path, languages: str = '["en"]') -> tuple[Path, Path]:
    from tests.test_voice import write_config

    state = tmp_path / "state"
    return write_config(tmp_path, state, "counter", languages=languages), state


def build_command(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["voice", "build", "--config", str(config)])
    out, err = capsys.readouterr()
    return code, out, err


@needs_espeak
@pytest.mark.parametrize("damage", ["garbage key", "not a WAV", "empty WAV"])
def test_a_damaged_prompt_is_made_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    """A key file of garbage bytes, or a prompt whose key is right but whose sound is not
    (a disk fault): `kiosk voice build` makes that prompt again, no traceback."""
    config, state = voice_config(tmp_path)
    assert build_command(config, capsys)[0] == 0
    folder = state / "voice" / "en"
    good = (folder / "rejected.wav").read_bytes()
    if damage == "garbage key":
        (folder / "rejected.key").write_bytes(b"\xff\xfe\x00 not a key")
    elif damage == "not a WAV":
        (folder / "rejected.wav").write_bytes(b"RIFF\x00\x00junk")
    else:
        (folder / "rejected.wav").write_bytes(good[:44])
    code, out, err = build_command(config, capsys)
    assert code == 0 and "Traceback" not in err, err
    assert "1 prompt(s) made" in out, out
    with wave.open(str(folder / "rejected.wav")) as w:
        assert w.getnframes() > RATE // 2


@needs_espeak
@pytest.mark.parametrize("trap", ["FIFO key", "FIFO WAV", "linked WAV", "folder WAV"])
def test_a_prompt_that_is_not_a_file_is_replaced_never_followed(tmp_path: Path, trap: str) -> None:
    """A FIFO where a key or prompt belongs would block a reader for ever; a link would make
    the kiosk play (or overwrite) another file. `kiosk voice build` replaces them and
    finishes."""
    from kiosk.app.config import load_config
    from kiosk.app.wiring import prompts_for

    config, state = voice_config(tmp_path)
    assert prompts_for(load_config(config)).build() == len(SPOKEN)
    folder = state / "voice" / "en"
    elsewhere = tmp_path / "elsewhere.wav"
    elsewhere.write_bytes((folder / "accepted.wav").read_bytes())
    if trap == "FIFO key":
        (folder / "accepted.key").unlink()
        os.mkfifo(folder / "accepted.key")
    elif trap == "FIFO WAV":
        (folder / "accepted.wav").unlink()
        os.mkfifo(folder / "accepted.wav")
    elif trap == "linked WAV":
        (folder / "accepted.wav").unlink()
        (folder / "accepted.wav").symlink_to(elsewhere)
    else:
        (folder / "accepted.wav").unlink()
        (folder / "accepted.wav").mkdir()
    command = [sys.executable, "-m", "kiosk.cli", "voice", "build", "--config", str(config)]
    try:  # in a process of its own: a hang must fail the test, not stop the run
        done = subprocess.run(command, capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"kiosk voice build hangs on a {trap}")
    assert b"Traceback" not in done.stderr, done.stderr.decode()
    if trap == "folder WAV":  # cannot be replaced by a file: that prompt is left to its tone
        assert done.returncode == 0 and b"its tone only" in done.stderr
        return
    assert done.returncode == 0, done.stderr.decode()
    assert b"1 prompt(s) made" in done.stdout
    for made in (folder / "accepted.wav", folder / "accepted.key"):
        assert made.is_file() and not made.is_symlink()
    assert elsewhere.read_bytes()[:4] == b"RIFF"


def test_an_unwritable_voice_folder_is_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A state folder the kiosk cannot write in (here voice/ is a file; a read-only disk
    does the same): one line and exit 3, never one warning per prompt or "tones only —
    None"; a starting kiosk logs that line once."""
    from kiosk.app.config import load_config
    from kiosk.app.wiring import prompts_for

    monkeypatch.setenv("PATH", f"{fake_espeak(tmp_path / 'bin', 'silent')}:{os.environ['PATH']}")
    config, state = voice_config(tmp_path, '["en", "es"]')
    state.mkdir()
    (state / "voice").write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="kiosk.ui.voice"):
        code, out, err = build_command(config, capsys)
        logged = [r.getMessage() for r in caplog.records]
        assert not any("cannot write" in line for line in logged)  # the command's one line
        assert code == 3, (out, err)
        assert err.count("\n") == 1 and "cannot write" in err and str(state) in err, err
        assert "None" not in out + err
        prompts = prompts_for(load_config(config))
        prompts.start()
        assert prompts.wait(30)
    lines = [r.getMessage() for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(lines) == 1 and "tones only" in lines[0], lines


def test_a_linked_voice_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """voice/ linked to another folder: nothing is written there (the kiosk's files stay in
    its state folder, as its trust files do)."""
    monkeypatch.setenv("PATH", f"{fake_espeak(tmp_path / 'bin', 'silent')}:{os.environ['PATH']}")
    config, state = voice_config(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    state.mkdir()
    (state / "voice").symlink_to(elsewhere)
    code, _out, err = build_command(config, capsys)
    assert code == 3 and "link" in err, err
    assert list(elsewhere.iterdir()) == []


def test_an_espeak_that_hangs_is_given_up_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """espeak-ng hangs on the first prompt: it is killed at the time limit and the others
    are not tried (each would wait as long), one line, exit 3."""
    import kiosk.ui.voice

    binaries = fake_espeak(tmp_path / "bin", "hang")
    monkeypatch.setenv("PATH", f"{binaries}:{os.environ['PATH']}")
    monkeypatch.setattr(kiosk.ui.voice, "TIMEOUT_S", 1.0)
    config, state = voice_config(tmp_path)
    code, _out, err = build_command(config, capsys)
    assert code == 3 and err.count("\n") == 1 and "did not finish" in err, err
    pids = synth_pids(binaries)
    assert len(pids) == 1 and not alive(pids[0])
    assert not [p for p in (state / "voice").rglob("*") if p.is_file()]


def test_an_espeak_that_floods_is_cut_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An espeak-ng that writes without end (a broken build, a full disk's garbage) is cut
    off after MAX_OUTPUT, not read into memory until the time limit."""
    from kiosk.ui.voice import MAX_OUTPUT, Prompts

    binaries = fake_espeak(tmp_path / "bin", "flood")
    monkeypatch.setenv("PATH", f"{binaries}:{os.environ['PATH']}")
    prompts = Prompts(tmp_path / "voice", (BY_CODE["en"],))
    with caplog.at_level(logging.WARNING, logger="kiosk.ui.voice"):
        assert prompts.build() == 0
    written = int((binaries / "flood.count").read_text())
    assert written * 2**20 <= MAX_OUTPUT + 4 * 2**20, written  # what a pipe holds beyond it
    assert all(not alive(pid) for pid in synth_pids(binaries))
    assert any("more than" in r.getMessage() for r in caplog.records)


def test_an_espeak_that_lies_about_its_rate_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A WAV header saying 0 Hz must not end the prompts' thread (a division by zero)."""
    from kiosk.ui.voice import Prompts

    monkeypatch.setenv("PATH", f"{fake_espeak(tmp_path / 'bin', 'zero-rate')}:{os.environ['PATH']}")
    prompts = Prompts(tmp_path / "voice", (BY_CODE["en"],))
    with caplog.at_level(logging.WARNING, logger="kiosk.ui.voice"):
        assert prompts.build() == 0
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == len(SPOKEN) and all("0 Hz" in line for line in lines), lines


@needs_espeak
def test_another_writers_temporary_file_survives_a_build(tmp_path: Path) -> None:
    """`kiosk voice build` beside a starting kiosk: each cleans up what a crash left, never
    the other's write in progress."""
    from kiosk.core.trust_state import TMP_MARK
    from kiosk.ui.voice import LEFTOVER_S, Prompts

    folder = tmp_path / "voice" / "en"
    folder.mkdir(parents=True)
    in_progress = folder / f".accepted.wav{TMP_MARK}abc123"
    in_progress.write_bytes(b"RIFF")
    crashed = folder / f".rejected.wav{TMP_MARK}def456"
    crashed.write_bytes(b"RIFF")
    old = time.time() - LEFTOVER_S - 60
    os.utime(crashed, (old, old))
    prompts = Prompts(tmp_path / "voice", (BY_CODE["en"],))
    assert prompts.build() == len(SPOKEN)
    assert in_progress.exists() and not crashed.exists()


def test_recordings_too_large_or_not_audio(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A recording is loaded on the loop's thread when a result plays: one of many
    megabytes is not used; one that is not audio is reported once, not at every card."""
    from kiosk.ui.sound import MAX_RECORDING, Sounds
    from kiosk.ui.theme import Outcome

    (tmp_path / "es").mkdir()
    huge = tmp_path / "es" / "accepted.wav"
    with wave.open(str(huge), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"\0\0" * (MAX_RECORDING // 2 + 1))
    (tmp_path / "es" / "rejected.ogg").write_bytes(b"OggS not really")
    sounds = Sounds(volume=0.5, voice=True, voice_dir=tmp_path)
    assert sounds.voice_file(Outcome.ACCEPTED, "es") is None
    with caplog.at_level(logging.WARNING, logger="kiosk.ui.sound"):
        for _ in range(3):
            assert sounds.play(Outcome.REJECTED, "es")
    assert len([r for r in caplog.records if "cannot play" in r.getMessage()]) == 1


def test_a_stopping_kiosk_ends_a_hung_espeak(tmp_path: Path, city: City) -> None:
    """`kiosk run` with an espeak-ng that hangs: the kiosk starts (tones only) and, at
    SIGTERM, stops within the unit's TimeoutStopSec — past it systemd would kill it before
    its "stop" audit record — leaving neither the espeak-ng process nor temporary files."""
    unit = (Path(__file__).parent.parent / "systemd" / "kiosk.service").read_text()
    stop_s = float(re.search(r"^TimeoutStopSec=(\d+)", unit, re.MULTILINE).group(1))  # type: ignore[union-attr]
    binaries = fake_espeak(tmp_path / "bin", "hang")
    now = int(time.time())
    config, state = voice_config(tmp_path)
    TrustState(state, [city.root.public_key]).import_bytes(city.bundle(now))
    config.write_text(config.read_text().replace("ab" * 32, city.root.public_key.hex()))
    sock_path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(sock_path))
    server.settimeout(90)
    env = {
        **os.environ,
        "PATH": f"{binaries}:{os.environ['PATH']}",
        "NOTIFY_SOCKET": str(sock_path),
        "SDL_VIDEODRIVER": "dummy",
        "SDL_AUDIODRIVER": "dummy",
    }
    command = [sys.executable, "-m", "kiosk.cli", "run", "--config", str(config), "--headless"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        while not server.recv(4096).decode().startswith("READY=1"):
            pass
        deadline = time.monotonic() + 60
        while not synth_pids(binaries) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=stop_s)
        except subprocess.TimeoutExpired:
            process.kill()  # what systemd does at TimeoutStopSec
            out, err = process.communicate()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        server.close()
    assert process.returncode == 0, err.decode()[-2000:]
    assert '"event":"stop"' in out.decode().splitlines()[-1]
    pids = synth_pids(binaries)
    assert pids and not any(alive(pid) for pid in pids), pids
    assert not [p for p in (state / "voice").rglob("*") if p.is_file()]


@needs_espeak
def test_no_holder_data_reaches_espeak_or_the_voice_folder(
    tmp_path: Path, city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every word espeak-ng is ever given, recorded by a wrapper around the real one while
    a counter kiosk reads cards: the site's prompts, made before any card, and nothing else."""
    import io

    from kiosk.app.config import load_config
    from kiosk.app.wiring import build_kiosk
    from kiosk.scan.pipeline import CardRead

    real = subprocess.run(
        ["sh", "-c", "command -v espeak-ng"], capture_output=True, text=True
    ).stdout.strip()
    wrapper = tmp_path / "bin" / "espeak-ng"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\ntee -a "{tmp_path}/heard.txt" | exec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}:{os.environ['PATH']}")
    now = int(time.time())
    config, state = voice_config(tmp_path, '["en", "es"]')
    TrustState(state, [city.root.public_key]).import_bytes(city.bundle(now))
    config.write_text(config.read_text().replace("ab" * 32, city.root.public_key.hex()))
    kiosk = build_kiosk(load_config(config), io.StringIO(), headless=True)
    try:
        assert kiosk.parts.sounds.prompts.wait(60)
        before = (tmp_path / "heard.txt").read_text()
        kiosk.refresh_trust(force=True)
        holders = [
            Holder("Qvoicemarker Zyx", "1980-01-02", lang="es", benefits=("library",)),
            Holder("Другоймаркер Ёж", "1975-03-04", lang="en", benefits=("museum",)),
        ]
        for holder in holders:
            t = time.monotonic()
            text = city.issue(holder, now, issued_at=now - DAY_S).text
            kiosk.parts.scan_events.put(CardRead(text, t, t, "test"))
        deadline = time.monotonic() + 30
        while kiosk.counts.total() - kiosk.counts["held_back"] < 2:
            assert time.monotonic() < deadline, kiosk.counts
            kiosk.step()
            time.sleep(0.02)
        assert kiosk.counts["ACCEPTED"] == 1 and kiosk.counts["POLICY_DENIED"] == 1
    finally:
        kiosk.close()
    heard = (tmp_path / "heard.txt").read_text()
    assert heard == before  # nothing synthesised once cards were read
    assert not any(h.name.split()[0] in heard for h in holders)
    assert sorted(p.name for p in (state / "voice").iterdir()) == ["en", "es"]
    for path in (state / "voice").glob("*/*"):
        assert path.suffix in (".wav", ".key") and path.stem in {o.value for o in SPOKEN}, path
        assert not any(h.name.split()[0].encode() in path.read_bytes() for h in holders)
