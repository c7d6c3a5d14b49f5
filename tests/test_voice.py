"""Spoken results: real espeak-ng prompts per outcome and language, measured from the WAV
files themselves (duration, loudness, clipping); recorded files override them; a kiosk
without espeak-ng, or a language without a voice, falls back to tones and says why; and a
kiosk built from its config speaks the holder's language."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kiosk.app.config import load_config
from kiosk.app.doctor import run_doctor
from kiosk.app.wiring import build_kiosk
from kiosk.cli import main
from kiosk.core.trust_state import TrustState
from kiosk.issuer.city import DAY_S, City, Holder
from kiosk.scan.pipeline import CardRead
from kiosk.ui import strings as S
from kiosk.ui.i18n import BY_CODE, LANGUAGES, Texts
from kiosk.ui.sound import Sounds
from kiosk.ui.theme import Outcome
from kiosk.ui.voice import SPOKEN, Espeak, Prompts, prompt_text

pytestmark = pytest.mark.skipif(
    subprocess.run(["sh", "-c", "command -v espeak-ng"], capture_output=True).returncode != 0,
    reason="espeak-ng is not installed (scripts/setup.sh installs it)",
)

VOICED = [lang for lang in LANGUAGES if lang.code != "tl"]  # espeak-ng 1.51 has no Tagalog
FULL_SCALE = 32768.0


@dataclass(frozen=True)
class Heard:
    rate: int
    channels: int
    seconds: float
    rms_db: float
    peak_db: float
    full_scale_samples: int


def listen(path: Path) -> Heard:
    """Duration and loudness measured from the file's own samples."""
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        rate, channels = w.getframerate(), w.getnchannels()
    x = samples.astype(np.float64) / FULL_SCALE
    return Heard(
        rate,
        channels,
        len(samples) / channels / rate,
        20 * np.log10(np.sqrt(np.mean(x**2)) + 1e-12),
        20 * np.log10(np.max(np.abs(x)) + 1e-12),
        int(np.count_nonzero(np.abs(samples.astype(np.int32)) >= 32767)),
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Prompts:
    """Every outcome in every language the kiosk has, synthesised once for this module."""
    prompts = Prompts(tmp_path_factory.mktemp("state") / "voice", LANGUAGES)
    prompts.build()
    return prompts


def test_every_outcome_is_spoken_in_every_voiced_language(built: Prompts) -> None:
    figures = []
    for lang in VOICED:
        for outcome in SPOKEN:
            path = built.path(outcome, lang.code)
            assert path == built.folder / lang.code / f"{outcome.value}.wav", (lang, outcome)
            heard = listen(path)
            assert (heard.rate, heard.channels) == (22_050, 1)
            assert 0.5 <= heard.seconds <= 8.0, (lang.code, outcome, heard)
            assert -26.0 <= heard.rms_db <= -14.0, (lang.code, outcome, heard)  # not silent
            assert heard.peak_db <= -0.9 and heard.full_scale_samples == 0  # not clipped
            figures.append((lang.code, outcome.value, heard))
    # the same outcome sounds different in each language: each one is really its own speech
    accepted = {lang.code: built.path(Outcome.ACCEPTED, lang.code) for lang in VOICED}
    assert len({p.read_bytes() for p in accepted.values() if p}) == len(VOICED)
    sys.stderr.write(
        "".join(
            f"{code:8} {outcome:15} {h.seconds:5.2f} s  rms {h.rms_db:6.1f} dBFS  "
            f"peak {h.peak_db:5.1f} dBFS\n"
            for code, outcome, h in figures
        )
    )


def test_each_language_is_read_by_its_own_rules() -> None:
    """espeak-ng marks a switch of language in its phonemes as "(en)": espeak-ng 1.51's
    `cmn` does that for every hanzi, so no prompt may contain one."""
    espeak = Espeak.find()
    for lang in VOICED:
        voice = espeak.voice_for(lang.code)
        assert voice is not None, lang.code
        texts = [prompt_text(o, lang, counter) for o in SPOKEN for counter in (False, True)]
        phonemes = subprocess.run(
            ["espeak-ng", "-q", "-x", "-v", voice],
            input="\n".join(texts).encode(),
            capture_output=True,
            check=True,
        ).stdout.decode()
        assert phonemes.strip() and "(" not in phonemes, (lang.code, texts, phonemes)


def test_the_words_are_the_screens_own() -> None:
    en = BY_CODE["en"]
    assert prompt_text(Outcome.ACCEPTED, en, counter=False) == "Welcome. Please go through."
    assert prompt_text(Outcome.ACCEPTED, en, counter=True) == "Valid card."
    # a refusal never says why out loud: the queue hears only what the discreet screen says
    assert prompt_text(Outcome.REJECTED, en, counter=False) == "Not accepted. Please see staff."
    assert prompt_text(Outcome.CANT_CHECK, en, counter=False) == (
        "Can't check. This is not a problem with your card."
    )
    assert prompt_text(Outcome.OUT_OF_SERVICE, en, counter=True) == (
        "Out of service. Please see staff."
    )
    # other languages: the same messages from their catalogs (translators edit the words)
    es = Texts(BY_CODE["es"])
    assert prompt_text(Outcome.REJECTED, BY_CODE["es"], counter=False) == (
        f"{es(S.NOT_ACCEPTED)}. {es(S.SEE_STAFF)}"
    )
    zh = Texts(BY_CODE["zh-Hans"])
    spoken = prompt_text(Outcome.OUT_OF_SERVICE, BY_CODE["zh-Hans"], counter=False)
    assert spoken.startswith(zh(S.OUT_OF_SERVICE)) and spoken.endswith(zh(S.SEE_STAFF))
    assert not any("\u4e00" <= c <= "\u9fff" for c in S.OUT_OF_SERVICE)  # really translated
    assert any("\u4e00" <= c <= "\u9fff" for c in spoken)


def test_tagalog_has_no_voice_tones_and_one_logged_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    prompts = Prompts(tmp_path / "voice", (BY_CODE["tl"], BY_CODE["en"]))
    with caplog.at_level(logging.WARNING, logger="kiosk.ui.voice"):
        prompts.build()
        prompts.build()
    why = [r.getMessage() for r in caplog.records if "Tagalog" in r.getMessage()]
    assert len(why) == 1, why
    assert "espeak-ng" in why[0] and "tones" in why[0]
    assert "tl" in prompts.reasons and "no voice" in prompts.reasons["tl"]
    assert prompts.path(Outcome.ACCEPTED, "tl") is None
    assert not (tmp_path / "voice" / "tl").exists()
    assert prompts.path(Outcome.ACCEPTED, "en") is not None
    sounds = Sounds(volume=0.5, voice=True, voice_dir=tmp_path / "recorded", prompts=prompts)
    assert sounds.voice_file(Outcome.ACCEPTED, "tl") is None
    assert sounds.play(Outcome.ACCEPTED, "tl")  # the tone still plays


def test_without_espeak_ng_the_kiosk_keeps_its_tones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    prompts = Prompts(tmp_path / "voice", (BY_CODE["en"], BY_CODE["es"]))
    with caplog.at_level(logging.WARNING, logger="kiosk.ui.voice"):
        prompts.start()
        assert prompts.wait(30)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "espeak-ng" in lines[0] and "tones" in lines[0], lines
    assert prompts.problem is not None
    assert not (tmp_path / "voice").exists()
    sounds = Sounds(volume=0.5, voice=True, voice_dir=tmp_path / "recorded", prompts=prompts)
    assert sounds.voice_file(Outcome.ACCEPTED, "es") is None
    assert sounds.play(Outcome.ACCEPTED, "es")


def test_voice_build_command_without_espeak_ng_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, tmp_path / "state", "counter")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["voice", "build", "--config", str(config)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "espeak-ng" in err and "Traceback" not in err, err
    assert not (tmp_path / "state" / "voice").exists()


def test_voice_build_command_makes_the_sites_prompts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, tmp_path / "state", "counter", languages='["es", "tl"]')
    assert main(["voice", "build", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("✓ es") and "es-419" in line for line in lines), lines
    assert any(line.startswith("– tl") and "tones only" in line for line in lines), lines
    made = sorted(p.name for p in (tmp_path / "state" / "voice" / "es").glob("*.wav"))
    assert made == sorted(f"{o.value}.wav" for o in SPOKEN)
    assert main(["voice", "build", "--config", str(config)]) == 0  # the second time: cached
    assert "0 prompt(s) made" in capsys.readouterr().out


def test_doctor_says_which_languages_speak(tmp_path: Path) -> None:
    config = write_config(tmp_path, tmp_path / "state", "counter", languages='["es", "tl"]')

    def voice_line() -> str:
        out = io.StringIO()
        run_doctor(config, out, camera_wait_s=0.1)
        return next(line for line in out.getvalue().splitlines() if " voice: " in line)

    before = voice_line()
    assert before.startswith("⚠ voice") and "next start" in before and "es" in before
    assert "tones only: tl" in before and "no voice" in before and "assets/voice" in before
    Prompts(tmp_path / "state" / "voice", (BY_CODE["es"],), counter=True).build()
    assert "spoken: es" in voice_line()
    config.write_text(config.read_text().replace("[display]\n", "[display]\nvoice = false\n"))
    assert voice_line() == "✓ voice: off ([display] voice = false): tones only"


def test_recorded_files_override_the_synthesised_ones(built: Prompts, tmp_path: Path) -> None:
    recorded = tmp_path / "assets-voice"
    sounds = Sounds(volume=0.5, voice=True, voice_dir=recorded, prompts=built)
    synthesised = built.folder / "es" / "accepted.wav"
    assert sounds.voice_file(Outcome.ACCEPTED, "es") == synthesised
    (recorded / "es").mkdir(parents=True)
    (recorded / "es" / "accepted.wav").write_bytes(synthesised.read_bytes())
    assert sounds.voice_file(Outcome.ACCEPTED, "es") == recorded / "es" / "accepted.wav"
    (recorded / "es" / "accepted.ogg").write_bytes(b"OggS")
    assert sounds.voice_file(Outcome.ACCEPTED, "es") == recorded / "es" / "accepted.ogg"
    assert sounds.play(Outcome.ACCEPTED, "es")  # a damaged recording: the tone, no crash
    # a recording of one outcome leaves the others synthesised; and one of a language the
    # synthesiser lacks gives that language a voice
    assert sounds.voice_file(Outcome.REJECTED, "es") == built.folder / "es" / "rejected.wav"
    (recorded / "tl").mkdir()
    (recorded / "tl" / "rejected.wav").write_bytes(synthesised.read_bytes())
    assert sounds.voice_file(Outcome.REJECTED, "tl") == recorded / "tl" / "rejected.wav"
    assert Sounds(volume=0.5, voice=False, prompts=built).voice_file(Outcome.ACCEPTED, "es") is None


def test_a_changed_text_regenerates_only_its_prompt(tmp_path: Path) -> None:
    folder = tmp_path / "voice"
    gate = Prompts(folder, (BY_CODE["pl"],), counter=False)
    assert gate.build() == len(SPOKEN)
    before = {p.name: p.read_bytes() for p in (folder / "pl").glob("*.wav")}
    assert Prompts(folder, (BY_CODE["pl"],), counter=False).build() == 0  # cached
    # the accepted words differ at a counter ("Valid card"): only that file is made again
    counter = Prompts(folder, (BY_CODE["pl"],), counter=True)
    assert counter.build() == 1
    after = {p.name: p.read_bytes() for p in (folder / "pl").glob("*.wav")}
    assert after["accepted.wav"] != before["accepted.wav"]
    assert {k: v for k, v in after.items() if k != "accepted.wav"} == {
        k: v for k, v in before.items() if k != "accepted.wav"
    }
    assert listen(folder / "pl" / "accepted.wav").seconds < listen_bytes(before["accepted.wav"])
    assert not [p for p in (folder / "pl").iterdir() if p.name.startswith(".")]  # no temp files


def listen_bytes(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() / w.getframerate()


# -- the kiosk, built from its config, speaks the holder's language ------------------------


def write_config(
    tmp_path: Path, state: Path, mode: str, languages: str = '["en", "es", "ar"]'
) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(
        f'[site]\nname = "Voice Test"\nmode = "{mode}"\nlanguages = {languages}\n'
        f'[trust]\nroot_keys = ["{"ab" * 32}"]\nstate_dir = "{state}"\n'
        f'[policy]\nrequired_benefits = ["library"]\n'
        f'[camera]\ntype = "synthetic"\n'
        f'[display]\ndriver = "dummy"\nresult_s = 0.5\n'
        f'[metrics]\nlisten = ""\n'
    )
    return path


@dataclass
class Played:
    """A recording stand-in for pygame.mixer: what would have come out of the speaker."""

    log: list[tuple[str, Any]] = field(default_factory=list)

    def get_init(self) -> tuple[int, int, int]:
        return (22_050, -16, 1)

    def Sound(self, file: str | None = None, buffer: bytes | None = None) -> _Sound:
        return _Sound(self, Path(file) if file is not None else None)


@dataclass
class _Sound:
    played: Played
    file: Path | None

    def set_volume(self, volume: float) -> None:
        pass

    def play(self) -> _Channel:
        self.played.log.append(("tone", None))
        return _Channel(self.played)


@dataclass
class _Channel:
    played: Played

    def queue(self, sound: _Sound) -> None:
        self.played.log.append(("voice", sound.file))


@pytest.fixture
def kiosk_with_voice(tmp_path: Path) -> Iterator[tuple[Any, City, Path]]:
    now = int(time.time())
    city = City.init(tmp_path / "city", "us-il-chicago", "https://id.example.gov/s/", now - DAY_S)
    state = tmp_path / "state"
    TrustState(state, [city.root.public_key]).import_bytes(city.bundle(now))
    config = write_config(tmp_path, state, "counter")
    text = config.read_text().replace("ab" * 32, city.root.public_key.hex())
    config.write_text(text)  # voice is not set: spoken results are on by default
    kiosk = build_kiosk(load_config(config), io.StringIO(), headless=True)
    try:
        yield kiosk, city, state
    finally:
        kiosk.close()


def test_the_kiosk_speaks_the_holders_language(
    kiosk_with_voice: tuple[Any, City, Path],
) -> None:
    kiosk, city, state = kiosk_with_voice
    sounds = kiosk.parts.sounds
    assert sounds.voice and sounds.prompts is not None
    assert sounds.prompts.wait(60)  # made in the background at start-up
    made = sorted(p.relative_to(state) for p in (state / "voice").rglob("*") if p.is_file())
    sounds._mixer = played = Played()
    kiosk.refresh_trust(force=True)
    now = int(time.time())
    cards = [
        Holder("Voice Markername", "1980-01-02", lang="es", benefits=("library",)),
        Holder("Voice Markername", "1980-01-02", lang="ar-EG", benefits=("museum",)),
    ]
    for holder in cards:  # the second is held back until the first result is over
        t = time.monotonic()
        text = city.issue(holder, now, issued_at=now - DAY_S).text
        kiosk.parts.scan_events.put(CardRead(text, t, t, "test"))
    deadline = time.monotonic() + 30
    while sum(what == "voice" for what, _ in played.log) < 2 and time.monotonic() < deadline:
        kiosk.step()
        time.sleep(0.05)
    spoken = [file for what, file in played.log if what == "voice"]
    assert spoken == [
        state / "voice" / "es" / "accepted.wav",
        state / "voice" / "ar" / "rejected.wav",
    ]
    assert [what for what, _ in played.log] == ["tone", "voice", "tone", "voice"]
    for file in spoken:
        assert 0.5 <= listen(file).seconds <= 8.0
    # nothing about the holders reached the disk: the voice folder is what start-up made
    after = sorted(p.relative_to(state) for p in (state / "voice").rglob("*") if p.is_file())
    assert after == made
    assert not any(b"Markername" in (state / p).read_bytes() for p in after)
