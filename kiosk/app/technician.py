"""The technician menu: opened by a valid technician card, driven by keys or touch.

Its pane lines are built from the app's own state (versions, counters, device states, trust
ages) — never from card data. Actions that touch devices (test gate, test print) go through
the same objects the loop uses.

A technician card is a QR code that anyone can photocopy, so the card alone never opens a
gate: where a gate is configured, the test gate works only behind `[site] technician_pin`
(without one it is refused on screen, and the rest of the menu stays usable); each card opens
the menu at most once per `TECHNICIAN_GAP_S` and `TECHNICIAN_PER_HOUR` times an hour; and
every test unlock is audited as `test_unlock`, never as a card's `grant`."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from firmware_bridge.errors import DeviceError
from firmware_bridge.gate import TEST_GRANT, GateEvent, NoGate
from kiosk.core.policy import Mode, PassbackGuard
from kiosk.core.reasons import Reason
from kiosk.scan.pipeline import PREVIEW_MAX_AGE_S, Preview
from kiosk.ui.screens import Problem, Technician

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Callable

    from kiosk.app.grants import GrantTracker
    from kiosk.app.parts import Parts, Settings
    from kiosk.app.passes import PassWorker
    from kiosk.app.problems import ProblemBoard
    from kiosk.app.trust_watch import TrustWatcher
    from kiosk.core.policy import Policy
    from kiosk.core.trust import TrustStore
    from kiosk.ui.screens import Frame

from kiosk.ui import strings as S


class Appliance(Protocol):
    """The kiosk as its technician menu sees it (kiosk.app.loop.Kiosk): the menu works on
    these parts, so it never imports the loop that opens it."""

    settings: Settings
    parts: Parts
    clock: Callable[[], float]
    mono: Callable[[], float]
    menu: TechnicianMenu | None
    mode: Mode
    policy: Policy
    passback: PassbackGuard
    pin_failures: int
    pin_locked_until: float
    counts: Counter[str]
    problems: ProblemBoard
    grants: GrantTracker
    passes: PassWorker | None
    trust: TrustWatcher
    frame: Frame

    @property
    def store(self) -> TrustStore | None: ...


ITEMS = S.TECHNICIAN_ITEMS
VOLUMES = (0.0, 0.3, 0.6, 1.0)


@cache  # read from package metadata once: the menu's panes are rebuilt every frame
def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in (
        "citycard-kiosk",
        "pygame-ce",
        "zxing-cpp",
        "pymodbus",
        "libosdp",
        "python-escpos",
        "pynacl",
        "cbor2",
    ):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


@dataclass
class TechnicianMenu:
    selected: int = 0
    result: tuple[str, ...] = ()  # what the last action reported
    last_input: float = field(default=0.0)
    locked: bool = False  # a PIN is configured and not yet entered
    entered: str = field(default="", repr=False)
    # The camera view's picture (capture time, small redacted image); None off that view.
    camera: tuple[float, tuple[int, int, bytes]] | None = field(default=None, repr=False)

    @property
    def items(self) -> tuple[str, ...]:
        return PIN_PAD if self.locked else ITEMS

    def move(self, step: int, now: float) -> None:
        self.selected = (self.selected + step) % len(self.items)
        self.result = ()
        self.last_input = now

    @property
    def item(self) -> str:
        return self.items[self.selected]


# The PIN pad: digits, then delete and OK (touch), or the number keys and Enter.
PIN_DELETE, PIN_OK = "⌫", "OK"
PIN_PAD = (*"1234567890", PIN_DELETE, PIN_OK)
PIN_TRIES = 3
PIN_LOCKOUT_S = 300.0
PIN_IDLE_S = 30.0  # an abandoned PIN pad gives the screen back to residents soon

TECHNICIAN_GAP_S = 30.0  # one technician card opens the menu at most once in this time
TECHNICIAN_PER_HOUR = 12  # ... and at most this many times in any hour
NO_PIN = (
    "refused: at a site with a gate, the test gate needs a technician PIN",
    "set [site] technician_pin (4-12 digits) in kiosk.toml; the rest of this menu works",
)
# A copied technician card must not be able to stop a gate site from opening either.
NO_PIN_MODE = (
    "refused: at a site with a gate, changing the mode needs a technician PIN",
    "set [site] technician_pin (4-12 digits) in kiosk.toml",
)


@dataclass
class TechnicianGuard:
    """How often each technician card may open the menu.

    Serials are remembered as HMAC-SHA256 tags under a random per-process key, as
    PassbackGuard does: nothing is written anywhere, and the tags die with the process.
    """

    gap_s: float = TECHNICIAN_GAP_S
    per_hour: int = TECHNICIAN_PER_HOUR
    _key: bytes = field(default_factory=lambda: os.urandom(32), repr=False)
    _opened: dict[bytes, list[float]] = field(default_factory=dict, repr=False)

    def admit(self, serial: bytes, now: float) -> bool:
        """May this card open the menu now? A yes is counted; a no is not."""
        for tag, times in list(self._opened.items()):
            times[:] = [t for t in times if now - t < 3600]
            if not times:
                del self._opened[tag]
        tag = hmac.new(self._key, serial, hashlib.sha256).digest()[:16]
        times = self._opened.get(tag, [])
        if (times and now - times[-1] < self.gap_s) or len(times) >= self.per_hour:
            return False
        self._opened[tag] = [*times, now]
        return True


def gate_needs_pin(kiosk: Appliance) -> bool:
    """A gate is configured and no PIN guards the technician menu: no test unlocks."""
    return not kiosk.settings.technician_pin and not isinstance(kiosk.parts.gate, NoGate)


def pin_input(kiosk: Appliance, symbol: str) -> None:
    """One press on the PIN pad. Three wrong PINs close the menu (and are audited)."""
    menu = kiosk.menu
    if menu is None or not menu.locked:
        return
    menu.last_input = kiosk.mono()
    if symbol.isdigit() and len(menu.entered) < 12:
        menu.entered += symbol
    elif symbol == PIN_DELETE:
        menu.entered = menu.entered[:-1]
    elif symbol == PIN_OK:
        if hmac.compare_digest(menu.entered.encode(), kiosk.settings.technician_pin.encode()):
            menu.locked, menu.selected, menu.entered = False, 0, ""
            kiosk.pin_failures = 0
            kiosk.parts.audit.note("technician", kiosk.clock(), pin="accepted")
            return
        menu.entered = ""
        kiosk.pin_failures += 1
        kiosk.parts.audit.note(
            "technician", kiosk.clock(), pin="wrong", failures=kiosk.pin_failures
        )
        if kiosk.pin_failures >= PIN_TRIES:
            # showing the card again does not buy new tries: the pad stays shut a while
            kiosk.menu = None
            kiosk.pin_failures = 0
            kiosk.pin_locked_until = kiosk.mono() + PIN_LOCKOUT_S


def export_diagnostics(directory: Path, report: dict[str, Any], now: float) -> Path:
    """A JSON file with config summary, versions and counters — no personal data."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    path = directory / f"diagnostics-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
    return path


def activate(kiosk: Appliance) -> None:
    menu = kiosk.menu
    if menu is None:
        return
    now = kiosk.mono()
    menu.last_input = now
    item = menu.item
    if menu.locked:
        pin_input(kiosk, item)
        return
    if item == S.EXIT:
        kiosk.menu = None
        return
    if item == S.TEST_GATE:
        menu.result = _test_gate(kiosk, now)
    elif item == S.TEST_PRINT:
        menu.result = _test_print(kiosk)
    elif item == S.LANGUAGE_AND_MODE and gate_needs_pin(kiosk):
        kiosk.parts.audit.note("technician", kiosk.clock(), action="mode_refused", why="no_pin")
        menu.result = NO_PIN_MODE
    elif item == S.LANGUAGE_AND_MODE:
        mode = Mode.COUNTER if kiosk.mode is Mode.GATE else Mode.GATE
        # The site's own rules (benefits, age, staleness...) for that mode, from its config;
        # without one, the current rules with only the mode changed.
        policy = kiosk.settings.policies.get(mode) or dataclasses.replace(kiosk.policy, mode=mode)
        kiosk.mode, kiosk.policy = mode, policy
        kiosk.passback = PassbackGuard(policy.passback_s)
        kiosk.parts.audit.mode = mode.value
        menu.result = (f"mode is now {kiosk.mode.value} (until restart; set it in kiosk.toml)",)
    elif item == S.VOLUME and kiosk.parts.sounds is not None:
        sounds = kiosk.parts.sounds
        nxt = min(range(len(VOLUMES)), key=lambda i: abs(VOLUMES[i] - sounds.volume)) + 1
        sounds.volume = VOLUMES[nxt % len(VOLUMES)]
        menu.result = (f"volume {round(sounds.volume * 100)} %",)
    elif item == S.EXPORT_DIAGNOSTICS:
        path = export_diagnostics(
            kiosk.parts.trust.dir / "diagnostics", diagnostics(kiosk), kiosk.clock()
        )
        menu.result = (f"written: {path}",)


def _test_gate(kiosk: Appliance, now: float) -> tuple[str, ...]:
    """One unlock through the real gate path, audited as `test_unlock` (or its refusal)."""
    audit = kiosk.parts.audit
    if gate_needs_pin(kiosk):
        audit.note("technician", kiosk.clock(), action="test_unlock_refused", why="no_pin")
        return NO_PIN
    if kiosk.grants.active:
        audit.note("technician", kiosk.clock(), action="test_unlock_refused", why="pending")
        return ("gate: the last unlock is still open; wait for its answer",)
    try:
        kiosk.parts.gate.grant(TEST_GRANT)
    except DeviceError as exc:
        kiosk.problems.set(Problem.GATE, str(exc))
        audit.note("technician", kiosk.clock(), action="test_unlock_failed")
        return (f"test unlock failed: {exc}",)
    kiosk.grants.sent(now, test=True)
    audit.note("technician", kiosk.clock(), action="test_unlock")
    if kiosk.parts.gate.decides:
        return ("gate: test card read sent; waiting for the door controller's answer",)
    return ("gate: unlock sent; watch the turnstile (passage or timeout below)",)


GATE_ANSWERS = {
    GateEvent.PASSED: "gate: someone passed after the test unlock",
    GateEvent.TIMEOUT: "gate: no passage (or no answer from the door controller) in time",
    GateEvent.DROPPED: "gate: the test unlock was not carried out (gate offline or too late)",
    GateEvent.OFFLINE: "gate: went offline during the test",
    GateEvent.GRANTED: "gate: the door controller granted the test read",
    GateEvent.REFUSED: "gate: the door controller refused the test read",
}


def gate_answer(event: GateEvent | None) -> tuple[str, ...]:
    """The pane's line for how a test unlock ended (None: the gate never answered)."""
    if event is None:
        return ("gate: no answer from the gate",)
    line = GATE_ANSWERS.get(event, f"gate: {event.value}")
    if event is GateEvent.REFUSED:
        return (line, "the link works; the panel does not know the test credential")
    return (line,)


def _test_print(kiosk: Appliance) -> tuple[str, ...]:
    if kiosk.passes is None:
        return ("no printer configured",)
    from firmware_bridge.escpos_printer import PassSlip

    slip = PassSlip(
        kiosk.settings.site,
        "test",
        0,
        datetime.fromtimestamp(kiosk.clock(), ZoneInfo(kiosk.policy.timezone)),
        title="TEST PRINT",
    )
    assert kiosk.passes is not None  # built with the printer
    kiosk.passes.print_pass(slip, test=True)  # the pane shows its outcome when it comes
    return ("printer: test pass sent…",)


def diagnostics(kiosk: Appliance) -> dict[str, Any]:
    report: dict[str, Any] = {
        "site": kiosk.settings.site,
        "mode": kiosk.mode.value,
        "languages": [lang.code for lang in kiosk.settings.languages],
        "versions": dict(versions()),
        "counts": dict(kiosk.counts),
        "problems": dict(kiosk.problems),
        "frames_decoded": getattr(kiosk.parts.scanner, "frames_decoded", None),
    }
    if kiosk.store is not None:
        from kiosk.core.trust import trust_report

        report["trust"] = trust_report(kiosk.store, int(kiosk.clock()))
    return report


# What the pane calls each outcome: a technician reads words, the export keeps the codes.
REASON_WORDS: dict[Reason, str] = {
    Reason.ACCEPTED: "accepted",
    Reason.MALFORMED: "not a city card",
    Reason.UNSUPPORTED: "unsupported format",
    Reason.UNKNOWN_KEY: "unknown signing key",
    Reason.BAD_SIGNATURE: "bad signature",
    Reason.KEY_NOT_VALID: "key not valid for cards",
    Reason.WRONG_ISSUER: "another city's card",
    Reason.NOT_YET_VALID: "not valid yet",
    Reason.EXPIRED: "expired",
    Reason.REVOKED: "cancelled",
    Reason.SUSPENDED: "on hold",
    Reason.TRUST_STALE: "can't check (trust data out of date)",
    Reason.POLICY_DENIED: "no entry here",
    Reason.PASSBACK: "used again too soon",
}


def count_words(key: str) -> str:
    """A counter's name as the pane shows it: a reason in words, others ("held_back") spaced."""
    if key in Reason.__members__:
        return REASON_WORDS[Reason(key)]
    return key.replace("_", " ")


def _pane(kiosk: Appliance, item: str, live: Preview | None = None) -> tuple[str, ...]:
    menu = kiosk.menu
    if menu is not None and menu.result:
        return menu.result
    if item in (S.DIAGNOSTICS, S.EXPORT_DIAGNOSTICS):
        d = diagnostics(kiosk)
        counts = ", ".join(f"{count_words(k)} {v}" for k, v in sorted(d["counts"].items()))
        counts = counts or "none yet"
        problems = ", ".join(f"{k}: {v}" for k, v in d["problems"].items()) or "none"
        return (
            f"site: {d['site']} ({d['mode']} mode)",
            f"kiosk {d['versions']['citycard-kiosk']}, python {d['versions']['python']}",
            f"scans: {counts}",
            f"problems: {problems}",
            f"frames decoded: {d['frames_decoded']}",
            "Enter: export diagnostics to the state folder" if item == S.EXPORT_DIAGNOSTICS else "",
        )
    if item == S.TRUST_STATUS:
        if kiosk.store is None:
            trouble = kiosk.trust.trouble or "no trust data"
            return (trouble, "fix: `kiosk trust sync`, or `kiosk trust import` from a USB stick")
        from kiosk.core.trust import trust_report

        r = trust_report(kiosk.store, int(kiosk.clock()))
        b = r["bundle"]
        when = kiosk.policy.zone()
        updated = datetime.fromtimestamp(r["updated_at"], when).strftime("%Y-%m-%d %H:%M")
        good = datetime.fromtimestamp(r["good_until"], when).strftime("%Y-%m-%d %H:%M")
        lines = [
            f"trust data updated {updated}, good until {good}",
            f"bundle v{b['version']} of {b['issuer']}: {b['age_s'] // 3600} h old, "
            f"stale in {b['expires_in_s'] // 3600} h",
            f"signed by root {b['signer_root'][:16]}… ({b['signer_trusted_as']})",
        ]
        for lst in r["status_lists"]:
            exp = lst["expires_in_s"]
            lines.append(
                f"{lst['uri']}: {lst['slots']:,} slots, {lst['age_s'] // 3600} h old"
                + (f", stale in {exp // 3600} h" if exp is not None else "")
            )
        lines.append(f"clock {'ok' if r['clock_ok'] else 'BEHIND the clock floor'}")
        return tuple(lines)
    if item == S.CAMERA_VIEW:
        if live is None:
            picture = f"decoder: no picture (no frame in the last {PREVIEW_MAX_AGE_S:g} s)"
        elif live.read:
            picture = "decoder: a code in view"
        elif live.corners:
            picture = "decoder: a code in view, not read (focus? glare?)"
        else:
            picture = "decoder: no code in view"
        return (
            picture,
            f"camera: {kiosk.problems.get(Problem.CAMERA, 'ok')}",
            f"frames decoded: {getattr(kiosk.parts.scanner, 'frames_decoded', 'n/a')}",
            f"held back while a result showed: {kiosk.counts['held_back']}",
        )
    if item == S.TEST_GATE:
        state = f"gate: {kiosk.problems.get(Problem.GATE, 'ok')}"
        if gate_needs_pin(kiosk):
            return (state, *NO_PIN)
        return (state, "Enter: send one unlock")
    if item == S.TEST_PRINT:
        return (f"printer: {kiosk.problems.get(Problem.PRINTER, 'ok')}", "Enter: print a test")
    if item == S.LANGUAGE_AND_MODE:
        return (
            f"mode: {kiosk.mode.value}",
            f"languages: {', '.join(lang.code for lang in kiosk.settings.languages)}",
            "Enter: switch gate/counter",
        )
    if item == S.VOLUME:
        volume = kiosk.parts.sounds.volume if kiosk.parts.sounds else 0
        return (f"volume {round(volume * 100)} %", "Enter: change")
    return ("Enter: leave the menu",)


def screen(kiosk: Appliance) -> Technician:
    assert kiosk.menu is not None
    item = kiosk.menu.item
    if kiosk.menu.locked:
        shown = "•" * len(kiosk.menu.entered) or "–"
        return Technician(PIN_PAD, kiosk.menu.selected, S.ENTER_PIN, (shown,), frame=kiosk.frame)
    live = _camera_view(kiosk, item == S.CAMERA_VIEW)
    preview = kiosk.menu.camera[1] if kiosk.menu.camera is not None else None
    return Technician(
        ITEMS,
        kiosk.menu.selected,
        item,
        _pane(kiosk, item, live),
        preview=preview,
        frame=kiosk.frame,
    )


PREVIEW_WIDTH = 320  # the pane's picture, at most this wide


def _camera_view(kiosk: Appliance, open_: bool) -> Preview | None:
    """Keep the menu's picture to the scanner's live, redacted preview, and only on the view.

    Off the Camera view the scanner stops making previews and the menu lets go of its
    picture; a scanner's preview older than PREVIEW_MAX_AGE_S is no picture at all.
    """
    menu = kiosk.menu
    assert menu is not None
    scanner = kiosk.parts.scanner
    if not open_:
        menu.camera = None
        if scanner is not None:
            scanner.drop_preview()
        return None
    live = scanner.watch_preview() if scanner is not None else None
    if live is None:
        menu.camera = None
    elif menu.camera is None or menu.camera[0] != live.t:  # scaled once per new frame
        import cv2

        image = live.image
        width = min(PREVIEW_WIDTH, image.shape[1])
        height = max(1, image.shape[0] * width // image.shape[1])
        small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        menu.camera = (live.t, (width, height, small.tobytes()))
    return live
