"""Spoken results: the words of each outcome, in each of the site's languages, synthesised
once with espeak-ng into the state folder and played after the outcome's tone.

What is said is the result screen's own headline and next step, looked up in the translation
catalogs — never anything from a card. A refusal says "Not accepted. Please see staff."
whatever the reason: a speaker is heard by the whole queue, as a discreet screen is not.
Prompts are made per outcome and language before any card is read, so nothing about a
holder is ever synthesised or written.

Each prompt is `<state_dir>/voice/<lang>/<outcome>.wav` with `<outcome>.key` beside it, a
hash of the words, the espeak-ng voice and release and the synthesis settings: a changed
translation or an espeak-ng upgrade makes that prompt again, nothing else. Recordings in
`assets/voice/<lang>/` take precedence (kiosk/ui/sound.py). docs/voice.md gives the
voice chosen for each language and why.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import logging
import os
import re
import selectors
import shutil
import signal
import stat
import subprocess
import threading
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kiosk.core.errors import DeviceError
from kiosk.core.trust_state import TMP_MARK, atomic_write
from kiosk.ui import strings as S
from kiosk.ui.i18n import Language, Texts
from kiosk.ui.sound import RATE, VOICE_DIR, recorded
from kiosk.ui.theme import Outcome

log = logging.getLogger(__name__)

ESPEAK = "espeak-ng"
WPM = 150  # espeak's 175 words a minute is quick for a stranger at a noisy entrance
AMPLITUDE = 60  # of 200: at its default 100 espeak-ng flattens its own peaks at full scale
TARGET_RMS_DB = -18.0  # every language as loud as the others...
CEILING_DB = -1.0  # ...as far as no peak goes above this
SILENCE_DB = -50.0  # quieter ends are trimmed: the words follow the tone at once
PAD_S = 0.03
FORMAT = "1"  # in every key: change it when synthesis or processing changes
TIMEOUT_S = 30.0  # one prompt takes espeak-ng well under a second on a Raspberry Pi
QUERY_TIMEOUT_S = 10.0  # --version, --voices: instant when espeak-ng works at all
MAX_OUTPUT = 16 * 2**20  # bytes: a 5 s prompt is 0.2 MB; a runaway espeak-ng is cut off
MAX_SPOKEN_S = 30.0  # longer output is not a prompt
RATES = range(8_000, 192_001)  # sample rates a real WAV from espeak-ng can have
LEFTOVER_S = 600.0  # a temporary file this old is a crash's leftover, not another writer's
_POLL_S = 0.1  # how soon a stopping kiosk ends a running espeak-ng

SPOKEN = (Outcome.ACCEPTED, Outcome.REJECTED, Outcome.CANT_CHECK, Outcome.OUT_OF_SERVICE)

# espeak-ng voices for the kiosk's languages, the first one installed wins (docs/voice.md).
VOICES: dict[str, tuple[str, ...]] = {
    "en": ("en-us", "en"),  # American English for US cities
    "es": ("es-419", "es"),  # Latin American Spanish, as most US Spanish speakers speak it
    "pl": ("pl",),
    # not `cmn`: espeak-ng 1.51's turns hanzi into pinyin and reads that as English words
    "zh-Hans": ("cmn-latn-pinyin",),
    # Traditional characters: Cantonese, the language of most readers of them in US cities;
    # together with zh-Hans that gives both Chinese languages a voice
    "zh-Hant": ("yue",),
    "ar": ("ar",),
    "hi": ("hi",),
    "ur": ("ur",),
    "tl": ("tl", "fil"),  # none in espeak-ng 1.51: tones, or recordings
    "ko": ("ko",),
    "gu": ("gu",),
    "ru": ("ru",),
    "uk": ("uk",),
    "vi": ("vi",),
}

_WORDS: dict[Outcome, tuple[str, ...]] = {
    Outcome.REJECTED: (S.NOT_ACCEPTED, S.SEE_STAFF),
    Outcome.CANT_CHECK: (S.CANT_CHECK, S.CANT_CHECK_NOT_YOU),
    Outcome.OUT_OF_SERVICE: (S.OUT_OF_SERVICE, S.SEE_STAFF),
}
_STOPS = (".", "!", "?", "。", "！", "？", "।", "۔", "؟")
QUERIES = ("--version", "--voices")


def prompt_words(outcome: Outcome, counter: bool) -> tuple[str, ...]:
    """The catalog messages spoken for an outcome: the screen's headline and next step."""
    if outcome is Outcome.ACCEPTED:
        # a counter's screen says "Valid card"; "go through" only where there is a gate
        return (S.VALID_CARD,) if counter else (S.WELCOME, S.GO_THROUGH)
    return _WORDS[outcome]


def prompt_text(outcome: Outcome, lang: Language, counter: bool) -> str:
    t = Texts(lang)
    parts = [t(message).strip() for message in prompt_words(outcome, counter)]
    # a headline has no full stop on screen; spoken, it needs the pause of one
    return " ".join(p if p.endswith(_STOPS) else p + "." for p in parts)


class Unanswered(DeviceError):
    """espeak-ng did not finish in time: it will not do better for the next prompt."""


def _run(
    args: list[str],
    given: bytes = b"",
    stop: threading.Event | None = None,
    timeout: float | None = None,
) -> bytes:
    """Run espeak-ng and return what it wrote: at most MAX_OUTPUT bytes, within `timeout`
    (TIMEOUT_S), and ended at once when `stop` is set (the kiosk is stopping). A hung or
    runaway espeak-ng is killed with anything it started."""
    timeout = TIMEOUT_S if timeout is None else timeout
    try:
        # no shell: the binary is the one on PATH, the words go in on stdin, not as arguments;
        # its own session, so that a kill reaches whatever it started
        proc = subprocess.Popen(  # noqa: S603
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise DeviceError(f"{args[0]} failed: {exc}") from None
    try:
        out, err = _collect(proc, args[0], given, stop, time.monotonic() + timeout, timeout)
    except BaseException:
        # the whole group: a wrapper script's espeak-ng may hold the pipes after it exits
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        raise
    finally:
        proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    if proc.returncode != 0:
        said = err.decode(errors="replace").strip().splitlines()
        raise DeviceError(f"{args[0]} {args[1]} failed: {said[0] if said else proc.returncode}")
    return out


def _collect(
    proc: subprocess.Popen[bytes],
    name: str,
    given: bytes,
    stop: threading.Event | None,
    deadline: float,
    timeout: float,
) -> tuple[bytes, bytes]:
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    with contextlib.suppress(BrokenPipeError):  # it may exit without reading its input
        proc.stdin.write(given)  # a sentence: far less than a pipe holds, so it never blocks
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()
    got: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
    total = 0
    with selectors.DefaultSelector() as selector:
        for fd in got:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map() or proc.poll() is None:
            if stop is not None and stop.is_set():
                raise DeviceError(f"{name}: stopped, the kiosk is stopping")
            left = deadline - time.monotonic()
            if left <= 0:
                raise Unanswered(f"{name} did not finish in {timeout:g} s")
            if not selector.get_map():  # both pipes closed: wait for it to exit
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(min(left, _POLL_S))
                continue
            for key, _ in selector.select(min(left, _POLL_S)):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                total += len(chunk)
                if total > MAX_OUTPUT:
                    raise DeviceError(f"{name} wrote more than {MAX_OUTPUT >> 20} MB")
                got[key.fd].append(chunk)
    return b"".join(got[proc.stdout.fileno()]), b"".join(got[proc.stderr.fileno()])


@dataclass(frozen=True)
class Espeak:
    binary: str
    release: str  # the first line of --version: the version and the data folder
    voices: frozenset[str]  # language names of the installed espeak-ng voices, lower case

    @classmethod
    def find(cls, name: str = ESPEAK, stop: threading.Event | None = None) -> Espeak:
        binary = shutil.which(name)
        if binary is None:
            raise DeviceError(f"{name} is not installed (apt install espeak-ng)")
        asked = [_run([binary, q], stop=stop, timeout=QUERY_TIMEOUT_S) for q in QUERIES]
        release = asked[0].decode(errors="replace").strip().splitlines()
        listing = asked[1].decode(errors="replace").splitlines()
        # columns: Pty Language Age/Gender VoiceName File Other-languages; MBROLA voices
        # (mb/…) are listed whether or not their data is installed, so they do not count
        voices = frozenset(
            cols[1].lower()
            for cols in (line.split() for line in listing[1:])
            if len(cols) >= 5 and not cols[4].startswith("mb/")
        )
        return cls(binary, release[0] if release else "", voices)

    @property
    def version(self) -> str:
        found = re.search(r"text-to-speech:\s*(\S+)", self.release)
        return found.group(1) if found else self.release

    def voice_for(self, code: str) -> str | None:
        return next((v for v in VOICES.get(code, ()) if v.lower() in self.voices), None)

    def say(self, text: str, voice: str, stop: threading.Event | None = None) -> np.ndarray:
        """The text spoken, mono int16 at RATE, trimmed and levelled."""
        args = [self.binary, "-v", voice, "-s", str(WPM), "-a", str(AMPLITUDE), "-b", "1"]
        out = _run([*args, "--stdout"], text.encode(), stop)
        try:
            with wave.open(io.BytesIO(out)) as w:
                if w.getsampwidth() != 2:
                    raise DeviceError(f"{self.binary}: {8 * w.getsampwidth()}-bit output")
                channels, rate = w.getnchannels(), w.getframerate()
                if rate not in RATES:
                    raise DeviceError(f"{self.binary}: output at {rate} Hz")
                # espeak-ng streams: its header's frame count is a placeholder, read to the end
                raw = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        except (wave.Error, EOFError) as exc:
            raise DeviceError(f"{self.binary}: not a WAV stream ({exc})") from None
        x = raw[: len(raw) // channels * channels].reshape(-1, channels).mean(axis=1) / 32768
        if len(x) > MAX_SPOKEN_S * rate:
            raise DeviceError(f"{self.binary}: {len(x) / rate:.0f} s of output for a prompt")
        if rate != RATE:
            t = np.arange(int(len(x) * RATE / rate)) * (rate / RATE)
            x = np.interp(t, np.arange(len(x)), x)
        return level(x)


def level(x: np.ndarray) -> np.ndarray:
    """Trim the silent ends, bring the speech to TARGET_RMS_DB with peaks under CEILING_DB."""
    loud = np.flatnonzero(np.abs(x) > 10 ** (SILENCE_DB / 20))
    if loud.size == 0:
        raise DeviceError(f"{ESPEAK} made silence")
    pad = int(PAD_S * RATE)
    x = x[max(0, loud[0] - pad) : loud[-1] + pad + 1]
    rms, peak = float(np.sqrt(np.mean(x**2))), float(np.max(np.abs(x)))
    gain = min(10 ** (TARGET_RMS_DB / 20) / rms, 10 ** (CEILING_DB / 20) / peak)
    return np.round(x * gain * 32767).astype(np.int16)


def wav_bytes(samples: np.ndarray) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.astype("<i2").tobytes())
    return out.getvalue()


def seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return float(w.getnframes() / w.getframerate())


@dataclass(frozen=True)
class Prompt:
    lang: Language
    outcome: Outcome
    text: str
    voice: str
    key: str
    wav: Path

    @property
    def key_file(self) -> Path:
        return self.wav.with_suffix(".key")

    def current(self) -> bool:
        """The prompt is made for these words and settings, and its file is a sound the
        mixer can play. Anything else — a missing, damaged or foreign key or WAV, a link, a
        FIFO, a folder — makes it again; none of it can stop the kiosk or hang a check."""
        try:
            key = _read_regular(self.key_file, len(self.key) + 1)
            if key != self.key.encode():
                return False
            with os.fdopen(_open_regular(self.wav), "rb") as file, wave.open(file) as w:
                frames = w.getnframes()
                # the header read, the file stands at the samples: are they all there?
                whole = os.fstat(file.fileno()).st_size >= file.tell() + 2 * frames
                shape = (w.getnchannels(), w.getsampwidth(), w.getframerate())
                return whole and shape == (1, 2, RATE) and 0 < frames <= MAX_SPOKEN_S * RATE
        except (OSError, EOFError, wave.Error):
            return False


def _open_regular(path: Path) -> int:
    """A descriptor of `path` if it is a regular file: never follows a link, never waits on
    a FIFO (OSError otherwise)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return fd


def _read_regular(path: Path, limit: int) -> bytes:
    with os.fdopen(_open_regular(path), "rb") as file:
        return file.read(limit)


def _real_folder(folder: Path) -> None:
    """Make `folder` (and its parents); refuse one that is a link: the prompts are written
    where the state folder is, not wherever a link points."""
    if folder.is_symlink():
        raise OSError(errno.ELOOP, "is a symbolic link, refused", str(folder))
    folder.mkdir(parents=True, exist_ok=True)


class Prompts:
    """One site's synthesised prompts, made in a background thread (`start`) or at once
    (`build`); until a prompt is ready, and for a language without a voice, tones only."""

    def __init__(
        self,
        folder: Path,
        languages: Sequence[Language],
        counter: bool = False,
        binary: str = ESPEAK,
    ) -> None:
        self.folder = folder
        self.languages = tuple(languages)
        self.counter = counter
        self.binary = binary
        # espeak-ng missing, broken or hung, or the folder unwritable: no prompts (more)
        self.problem: str | None = None
        self.reasons: dict[str, str] = {}  # language code -> why it has no voice
        self.voices: dict[str, str] = {}  # language code -> the espeak-ng voice it speaks
        self._ready: dict[tuple[Outcome, str], Path] = {}
        self._logged: set[str] = set()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def path(self, outcome: Outcome, code: str) -> Path | None:
        """The prompt's file once it is made and current; None until then."""
        return self._ready.get((outcome, code))

    def _once(self, topic: str, message: str) -> None:
        if topic not in self._logged:
            self._logged.add(topic)
            log.warning(message)

    def espeak(self) -> Espeak | None:
        try:
            return Espeak.find(self.binary, self._stop)
        except DeviceError as exc:
            if self._stop.is_set():
                return None
            self.problem = str(exc)
            self._once("espeak", f"spoken results off, tones only: {exc}")
            return None

    def plan(self, espeak: Espeak) -> list[Prompt]:
        prompts = []
        for lang in self.languages:
            voice = espeak.voice_for(lang.code)
            if voice is None:
                tried = ", ".join(VOICES.get(lang.code, ())) or "none"
                why = f"espeak-ng {espeak.version} has no voice for {lang.code} (tried {tried})"
                self.reasons[lang.code] = why
                where = f"{lang.name} ({lang.code})"
                self._once(lang.code, f"no spoken results in {where}: {why}; tones only")
                continue
            self.voices[lang.code] = voice
            for outcome in SPOKEN:
                text = prompt_text(outcome, lang, self.counter)
                settings = (FORMAT, espeak.release, voice, str(WPM), str(AMPLITUDE), text)
                key = hashlib.sha256("\n".join(settings).encode()).hexdigest()
                wav = self.folder / lang.code / f"{outcome.value}.wav"
                prompts.append(Prompt(lang, outcome, text, voice, key, wav))
        return prompts

    def build(self) -> int:
        """Make every prompt that is missing or out of date; returns how many were made.
        `problem` says why when none could be (no espeak-ng, an unwritable folder, an
        espeak-ng that does not answer)."""
        espeak = self.espeak()
        if espeak is None:
            return 0
        prompts = self.plan(espeak)
        try:
            for folder in [self.folder, *sorted({p.wav.parent for p in prompts})]:
                _real_folder(folder)
                if folder != self.folder:
                    _remove_leftovers(folder)
        except OSError as exc:
            self.problem = f"cannot write the prompts in {self.folder}: {_why(exc)}"
            return 0
        made = 0
        for prompt in prompts:
            if self._stop.is_set():
                break
            if not prompt.current():
                try:
                    self._make(espeak, prompt)
                except Unanswered as exc:  # the next prompt would wait as long: give up
                    self.problem = str(exc)
                    break
                except (DeviceError, OSError) as exc:
                    if self._stop.is_set():  # ended by the kiosk's stop: nothing to report
                        break
                    topic = f"{prompt.lang.code}/{prompt.outcome.value}"
                    self._once(topic, f"no spoken result {topic}: {exc}; its tone only")
                    continue
                made += 1
            self._ready[(prompt.outcome, prompt.lang.code)] = prompt.wav
        return made

    def _make(self, espeak: Espeak, prompt: Prompt) -> None:
        samples = espeak.say(prompt.text, prompt.voice, self._stop)
        atomic_write(prompt.wav, wav_bytes(samples))
        atomic_write(prompt.key_file, prompt.key.encode())  # last: a crash leaves it stale

    def start(self) -> None:
        """Build in a background thread (once): the loop never waits for espeak-ng."""
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._build_quietly, name="voice-prompts", daemon=True
                )
                self._thread.start()

    def _build_quietly(self) -> None:
        try:
            self.build()
            if self.problem is not None:  # `kiosk voice build` says it as its error instead
                self._once("espeak", f"spoken results off, tones only: {self.problem}")
        except Exception:  # the top of a thread: the kiosk keeps its tones
            log.exception("spoken results: making the prompts failed; tones only")
        finally:
            self._done.set()

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(TIMEOUT_S)

    def survey(self, voice_dir: Path = VOICE_DIR) -> tuple[bool, str, str]:
        """For `kiosk doctor`, without synthesising: (every language has a voice?, what
        speaks and what does not, what to do)."""
        espeak = self.espeak()
        current: set[tuple[str, Outcome]] = set()
        if espeak is not None:
            current = {(p.lang.code, p.outcome) for p in self.plan(espeak) if p.current()}
        spoken, unbuilt, silent = [], [], []
        for lang in self.languages:
            have = [
                o for o in SPOKEN if (lang.code, o) in current or recorded(voice_dir, o, lang.code)
            ]
            if len(have) == len(SPOKEN):
                spoken.append(lang.code)
            elif espeak is not None and lang.code in self.voices:
                unbuilt.append(lang.code)
            else:
                silent.append(lang.code)
        parts = [f"spoken: {', '.join(spoken) or 'none'}"]
        if unbuilt:  # not a fault: the kiosk makes them at its next start
            parts.append(f"made at the next start (or `kiosk voice build`): {', '.join(unbuilt)}")
        fixes = []
        if silent:
            why = self.problem or "; ".join(self.reasons.get(c, c) for c in silent)
            parts.append(f"tones only: {', '.join(silent)} ({why})")
            if espeak is None:
                fixes.append("apt install espeak-ng")
            fixes.append(f"record prompts into {voice_dir}/<lang>/ (see its README.md)")
        return not silent, "; ".join(parts), ", or ".join(fixes)


def _remove_leftovers(folder: Path) -> None:
    """Temporary files a crash (or a power cut) left behind. A fresh one is another
    process's write in progress — `kiosk voice build` beside a starting kiosk — and stays."""
    for leftover in folder.glob(f".*{TMP_MARK}*"):
        with contextlib.suppress(OSError):
            if time.time() - leftover.lstat().st_mtime > LEFTOVER_S:
                leftover.unlink()


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)
