"""A short, distinct sound per outcome, generated (no files), then the outcome spoken in the
screen's language: a recording in assets/voice/<lang>/<outcome>.ogg|.wav where one exists,
else the prompt espeak-ng made for the site (kiosk/ui/voice.py) — the outcome's words only,
never anything from the card.

Accepted rises (two notes up), not accepted falls on a low buzz, can't check is two level
notes, out of service three steps down: the shape of each differs, not only its pitch."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kiosk import asset
from kiosk.ui.theme import Outcome

log = logging.getLogger(__name__)


class Prompts(Protocol):
    """Spoken prompts made for the site (kiosk.ui.voice.Prompts), as the sounds use them."""

    def start(self) -> None: ...
    def path(self, outcome: Outcome, code: str) -> Path | None: ...


RATE = 22_050
VOICE_DIR = asset("voice")

# (frequency Hz, seconds, harmonics) per note; 0 Hz is a rest.
NOTES: dict[Outcome, Sequence[tuple[float, float, int]]] = {
    Outcome.ACCEPTED: ((659.3, 0.11, 1), (987.8, 0.20, 1)),
    Outcome.REJECTED: ((233.1, 0.16, 5), (0.0, 0.05, 1), (196.0, 0.26, 5)),
    Outcome.CANT_CHECK: ((523.3, 0.16, 2), (0.0, 0.08, 1), (523.3, 0.16, 2)),
    Outcome.OUT_OF_SERVICE: ((440.0, 0.14, 3), (349.2, 0.14, 3), (261.6, 0.24, 3)),
}


def waveform(outcome: Outcome, volume: float, rate: int = RATE) -> np.ndarray:
    """Mono int16 samples of the outcome's sound at `volume` (0..1)."""
    parts = []
    for freq, seconds, harmonics in NOTES[outcome]:
        t = np.arange(int(seconds * rate)) / rate
        if freq == 0:
            parts.append(np.zeros_like(t))
            continue
        # odd harmonics make the buzz of a refusal; one is a pure chime
        wave = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 2 * harmonics, 2))
        attack = np.minimum(1.0, t / 0.008)
        release = np.minimum(1.0, (seconds - t) / 0.04)
        wave = wave * attack * release
        parts.append(wave / np.max(np.abs(wave)))
    samples = np.concatenate(parts) * max(0.0, min(1.0, volume)) * 0.8
    return (samples * 32767).astype(np.int16)


MAX_RECORDING = 8 * 2**20  # bytes: 95 s of 44.1 kHz mono WAV, for words that take seconds


def recorded(voice_dir: Path, outcome: Outcome, lang: str) -> Path | None:
    """A recording of the outcome's words in the language, if a site made one (a file of a
    sane size: what is played is loaded on the loop's thread)."""
    for suffix in (".ogg", ".wav"):
        path = voice_dir / lang / f"{outcome.value}{suffix}"
        try:
            if path.is_file() and path.stat().st_size <= MAX_RECORDING:
                return path
        except OSError:  # gone between the two looks
            continue
    return None


class Sounds:
    """Plays outcome sounds through pygame.mixer; silent (and says why) without a device."""

    def __init__(
        self,
        volume: float = 0.6,
        voice: bool = False,
        voice_dir: Path = VOICE_DIR,
        prompts: Prompts | None = None,
    ):
        self.volume = volume
        self.voice = voice
        self.voice_dir = voice_dir
        self.prompts = prompts  # synthesised prompts, for languages nobody recorded
        self.problem: str | None = None
        self._mixer: Any = None
        self._cache: dict[Outcome, Any] = {}
        # Spoken files as loaded (None: one that would not load), per path and version, so
        # a card's result never waits for a file to be read and decoded again.
        self._spoken: dict[Path, tuple[tuple[int, int], Any]] = {}

    def _open(self) -> Any:
        if self._mixer is None and self.problem is None:
            if not os.environ.get("SDL_AUDIODRIVER") and not Path("/dev/snd").exists():
                self.problem = "no sound device (/dev/snd)"
                log.warning(self.problem)
                return None
            try:
                import pygame

                pygame.mixer.init(frequency=RATE, size=-16, channels=1)
                self._mixer = pygame.mixer
            except Exception as exc:  # no sound card: the screen still says everything
                self.problem = f"no sound output: {exc}"
                log.warning(self.problem)
        return self._mixer

    def start(self) -> None:
        """Have the prompts made in the background; tones alone until they are ready."""
        if self.voice and self.volume > 0 and self.prompts is not None:
            self.prompts.start()

    def voice_file(self, outcome: Outcome, lang: str) -> Path | None:
        """What is spoken after the tone: a recording first, else the synthesised prompt."""
        if not self.voice:
            return None
        found = recorded(self.voice_dir, outcome, lang)
        if found is None and self.prompts is not None:
            found = self.prompts.path(outcome, lang)
        return found

    def play(self, outcome: Outcome, lang: str = "en") -> bool:
        """Queue the outcome's sound (and voice); False if silent (volume 0, no device)."""
        if self.volume <= 0 or outcome not in NOTES:
            return False
        self.start()  # the volume may have been raised from 0 in the technician menu
        mixer = self._open()
        if mixer is None:
            return False
        sound = self._cache.get(outcome)
        if sound is None:
            samples = waveform(outcome, 1.0)
            channels = mixer.get_init()[2]
            if channels > 1:
                samples = np.repeat(samples[:, None], channels, axis=1)
            sound = mixer.Sound(buffer=np.ascontiguousarray(samples).tobytes())
            self._cache[outcome] = sound
        sound.set_volume(self.volume)
        channel = sound.play()
        voice = self.voice_file(outcome, lang)
        spoken = self._load(mixer, voice) if voice is not None and channel is not None else None
        if spoken is not None:
            spoken.set_volume(self.volume)
            channel.queue(spoken)
        return True

    def _load(self, mixer: Any, path: Path) -> Any:
        try:
            info = path.stat()
        except OSError:
            return None
        version = (info.st_mtime_ns, info.st_size)  # a prompt made again, a new recording
        found = self._spoken.get(path)
        if found is not None and found[0] == version:
            return found[1]
        try:
            sound = mixer.Sound(str(path))
        except (RuntimeError, OSError) as exc:  # pygame.error: a damaged recording
            log.warning("cannot play %s: %s; the tone only", path, exc)  # once per version
            sound = None
        self._spoken[path] = (version, sound)
        return sound
