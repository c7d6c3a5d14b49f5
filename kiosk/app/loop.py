"""The appliance loop: scan event → verify → policy → gate/printer → screen → audit.

One thread owns all state: this loop. The camera/decoder threads and the device workers only
put events on queues; the loop drains them once per display frame, decides, drives the
devices, and tells the display what to show. Holder data lives in the current result screen
only and is dropped with it (rendered names are not cached).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from firmware_bridge.errors import DeviceError
from firmware_bridge.gate import GateEvent, GateSignal, Grant
from kiosk.app import technician
from kiosk.app.grants import Ended, GrantTracker, WaitingRead, verdict_screen
from kiosk.app.parts import Parts, Settings
from kiosk.app.passes import PassOutcome, PassWorker
from kiosk.app.problems import ProblemBoard
from kiosk.app.technician import TechnicianGuard, TechnicianMenu, versions
from kiosk.app.trust_watch import TrustWatcher
from kiosk.core.card import verify_card
from kiosk.core.decision import Decision
from kiosk.core.policy import Mode, PassbackGuard, Refusals
from kiosk.core.reasons import Reason
from kiosk.core.trust import TrustStore
from kiosk.scan.pipeline import (
    CardRead,
    CodeSeen,
    NotACityCard,
    ScanEvent,
    SourceProblem,
    SourceRecovered,
)
from kiosk.ui.i18n import Language
from kiosk.ui.present import outcome_of, result_screen
from kiosk.ui.screens import (
    Frame,
    Idle,
    OutOfService,
    Problem,
    Reading,
    Result,
    Screen,
    Technician,
)

log = logging.getLogger(__name__)

MAX_STEP_FAILURES = 50
READING_S = 1.5  # "Reading your card…" stays this long after a code was last seen unread


class Kiosk:
    def __init__(
        self,
        settings: Settings,
        parts: Parts,
        *,
        clock: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings, self.parts = settings, parts
        self.clock, self.mono = clock, mono
        self.policy = settings.policy
        self.mode = settings.mode
        self.passback = PassbackGuard(self.policy.passback_s)
        self.trust = TrustWatcher(parts.trust, settings.trust_check_s)
        self.problems = ProblemBoard(parts.audit, parts.metrics, clock)
        self.counts: Counter[str] = Counter()
        self.screen: Screen | None = None
        self.result_until = 0.0
        self.grants = GrantTracker()
        self.waiting = WaitingRead()
        self.passes = PassWorker(parts.printer) if parts.printer is not None else None
        self.pin_failures = 0
        self.pin_locked_until = 0.0
        self.technician_guard = TechnicianGuard()
        self._failures = 0
        self.chosen: tuple[Language, float] | None = None
        self.menu: TechnicianMenu | None = None
        self.key_handlers: dict[int, Callable[[], None]] = {}
        self.on_shown: Callable[[Screen], None] | None = None
        self._last_ping = 0.0
        self._frames_counted = 0
        self.frame = Frame(site=settings.site, specimen=settings.specimen)
        self._early: list[ScanEvent] = []
        self._warm_up: list[Screen] = self._warm_up_screens()
        self.reading_until = 0.0

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.parts.metrics.site_timezone(self.policy.zone())
        self.refresh_trust(force=True)
        if self.parts.scanner is not None:
            self.parts.scanner.start()
        self.parts.audit.note("start", self.clock(), version=versions()["citycard-kiosk"])

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set (SIGTERM/SIGINT or the window closed)."""
        period = 1.0 / self.settings.fps
        self._failures = 0
        try:
            self.start()
            self._guarded_step()  # the first screen is up before systemd hears "ready"
            self.parts.notifier.ready(f"{self.settings.site}: {self.mode.value} mode")
            while not stop.is_set():
                started = self.mono()
                if self._guarded_step() == "quit":
                    break
                self._wait(max(0.0, period - (self.mono() - started)))
        finally:
            self.close()

    def _guarded_step(self) -> str | None:
        try:
            result = self.step()
        except Exception:
            # A bug or an unexpected device answer must not end the kiosk; a loop that fails
            # over and over is left to systemd to restart.
            self._failures += 1
            log.exception("loop step failed (%d in a row)", self._failures)
            self.parts.audit.note("error", self.clock(), failures=self._failures)
            if self._failures >= MAX_STEP_FAILURES:
                raise
            return None
        self._failures = 0
        return result

    def _wait(self, seconds: float) -> None:
        """Sleep until the next frame, but wake at once for a scan event: a card read
        never waits for the display's tick."""
        try:
            event = self.parts.scan_events.get(timeout=seconds)
        except queue.Empty:
            return
        self._early.append(event)

    def close(self) -> None:
        # The gate first: its close() writes the relay off, whatever fails after it.
        closers: list[Callable[[], object]] = [
            p.close for p in (self.parts.gate, self.passes or self.parts.printer) if p is not None
        ]
        closers.insert(1, self.parts.notifier.stopping)
        if self.parts.scanner is not None:
            closers.insert(2, self.parts.scanner.stop)
        for close in [*closers, *self.parts.closers]:
            try:
                close()
            except Exception:  # closing is best effort: the process is ending
                log.exception("closing %s", close)
        self.parts.audit.note("stop", self.clock())
        self.screen = None

    def step(self) -> str | None:
        """One pass of the loop: drain events, decide, draw. Returns "quit" to stop."""
        now = self.mono()
        self.passback.forget_expired(now)  # tags outlive their window by one frame at most
        self.refresh_trust()
        self._drain_gate(now)
        self._drain_passes(now)
        self._drain_scans(now)
        self._count_frames()
        if self._ui_events() == "quit":
            return "quit"
        self._draw(now)
        self._ping(now)
        return None

    def _count_frames(self) -> None:
        # The scanner counts in its own thread; the metric follows it from the loop's.
        decoded = getattr(self.parts.scanner, "frames_decoded", 0)
        if decoded > self._frames_counted:
            self.parts.metrics.frames.inc(decoded - self._frames_counted)
            self._frames_counted = decoded

    # -- trust ----------------------------------------------------------------------------

    @property
    def store(self) -> TrustStore | None:
        return self.trust.store

    def refresh_trust(self, force: bool = False) -> None:
        if self.trust.check(self.mono(), force):
            self.parts.audit.note(
                "trust",
                self.clock(),
                loaded=self.store is not None,
                version=self.store.bundle.version if self.store else None,
            )
        self.problems.set(Problem.TRUST, self.trust.trouble)
        if self.store is not None:
            wall = int(self.clock())
            bundle = self.store.bundle
            m = self.parts.metrics
            m.trust_age.labels("bundle").set(wall - bundle.issued_at)
            m.trust_expires.labels("bundle").set(bundle.expires_at - wall)
            # the verifier's own rule: behind the floor beyond the skew, every card is refused
            behind = wall + self.policy.skew_s < self.store.clock_floor
            m.clock_ok.set(0 if behind else 1)
            if self.store.lists:
                newest = max(t.issued_at for t in self.store.lists.values())
                m.trust_age.labels("status_list").set(wall - newest)
                expiries = [t.expires_at for t in self.store.lists.values() if t.expires_at]
                if expiries:
                    m.trust_expires.labels("status_list").set(min(expiries) - wall)

    # -- events ---------------------------------------------------------------------------

    def _drain_gate(self, now: float) -> None:
        while True:
            try:
                signal: GateSignal = self.parts.gate.signals.get_nowait()
            except queue.Empty:
                break
            self.parts.metrics.gate_events.labels(signal.event.value).inc()
            self.parts.audit.note("gate", self.clock(), signal=signal.event.value)
            if signal.event is GateEvent.OFFLINE and self.mode is Mode.GATE:
                self.problems.set(Problem.GATE, signal.detail or "gate offline")
            elif signal.event is GateEvent.ONLINE:
                self.problems.set(Problem.GATE, None)
            ended = self.grants.answer(signal.event)
            if ended is not None:
                self._grant_ended(ended, now)
            if signal.event is GateEvent.PASSED and isinstance(self.screen, Result):
                self.result_until = min(self.result_until, now + 1.0)
        ended = self.grants.expire(now)  # a gate that never answered: don't wait forever
        if ended is not None:
            self._grant_ended(ended, now)

    def _grant_ended(self, ended: Ended, now: float) -> None:
        if ended.tag is not None:
            self.passback.release(ended.tag)  # nobody went through: they may try again
        if ended.test:
            if self.menu is not None:
                self.menu.result = technician.gate_answer(ended.event)
        elif ended.held is not None:
            self._show_result(verdict_screen(ended.held, ended.event), now)

    def _busy(self, now: float) -> bool:
        if not self.settings.hold_during_result:
            return False
        showing = isinstance(self.screen, Result) and now < self.result_until
        return showing or self.grants.active

    def _drain_scans(self, now: float) -> None:
        if self.menu is None and not self._busy(now):
            if held := self.waiting.take():
                self._decide(held)  # the card held up while the last result showed
            else:
                self.waiting.forget()
        while True:
            try:
                event = self._early.pop(0) if self._early else self.parts.scan_events.get_nowait()
            except queue.Empty:
                return
            if isinstance(event, SourceProblem):
                self.problems.set(Problem.CAMERA, f"{event.source} {event.problem}")
            elif isinstance(event, SourceRecovered):
                self.problems.set(Problem.CAMERA, None)
            elif isinstance(event, CodeSeen):
                if not self._busy(self.mono()) and not self.problems and self.menu is None:
                    self.reading_until = self.mono() + READING_S
            elif self._busy(self.mono()) and self.menu is None:
                self.counts["held_back"] += 1
                self.waiting.hold(event)
            else:
                self._decide(event)

    def _decide(self, event: CardRead | NotACityCard) -> None:
        self.waiting.deciding(event)
        self.parts.metrics.decode_seconds.observe(max(0.0, event.event_t - event.frame_t))
        if isinstance(event, NotACityCard):
            self.parts.metrics.not_city_cards.inc()
            self.present(Decision(Reason.MALFORMED, "not a city card"))
        else:
            self.card(event.text)

    # -- decisions ------------------------------------------------------------------------

    def card(self, text: str) -> Decision:
        """Verify one presented card and act on it."""
        started = time.perf_counter()
        wall = self.clock()
        if self.store is None:
            decision = Decision(Reason.TRUST_STALE, "no trust data installed")
        else:
            decision = verify_card(text, self.store, int(wall), self.policy)
            if decision.accepted and decision.role != "technician" and not self.standing_by:
                decision = self.passback.check(decision, self.mono())
        self.present(decision, started)
        return decision

    @property
    def standing_by(self) -> bool:
        """Out of service, or a technician at work: cards are verified but not acted on."""
        return bool(self.problems) or self.menu is not None

    def present(self, decision: Decision, started: float | None = None) -> None:
        started = time.perf_counter() if started is None else started
        wall, now = self.clock(), self.mono()
        if decision.accepted and decision.role == "technician":
            if now < self.pin_locked_until:
                self._finish(decision, "technician_locked_out", started, wall)
                return
            card = decision.card
            if card is None or not self.technician_guard.admit(card.serial, now):
                # a copied card shown again and again: audited, and nothing opens
                self._finish(decision, "technician_rate_limited", started, wall)
                return
            self.menu = TechnicianMenu(last_input=now, locked=bool(self.settings.technician_pin))
            self._finish(decision, "technician_menu", started, wall)
            return
        if self.standing_by:
            # Out of service (or a technician at work): no gate, no pass, no result screen.
            self._finish(
                decision, "ignored_out_of_service" if self.problems else "ignored", started, wall
            )
            return
        action = "deny"
        granted = False
        slip = None
        if decision.accepted and self.mode is Mode.GATE:
            assert decision.card is not None  # accepted: the signature verified
            try:
                self.parts.gate.grant(Grant(decision.card.serial))
            except DeviceError as exc:
                self.problems.set(Problem.GATE, str(exc))
                self._finish(decision, "gate_error", started, wall)
                return
            self.parts.metrics.grants.inc()
            action, granted = "grant", True
        elif decision.accepted:
            slip = None
            if self.passes is not None and decision.card is not None:
                issued = datetime.fromtimestamp(wall, ZoneInfo(self.policy.timezone))
                slip = self.passes.slip(self.settings.site, self.policy, decision.card, issued)
            action = "accept" if slip is None else "accept_pass"
        else:
            self.parts.gate.deny()
        screen = result_screen(
            decision,
            self.policy,
            int(wall),
            languages=self.settings.languages,
            fallback=self._idle_language(now),
            frame=self.frame,
            staff_language=self.settings.staff_language,
            pass_printed=slip is not None,
            seconds_left=round(self.settings.result_s),
        )
        deciding = granted and self.parts.gate.decides
        if granted:  # hold the next card until the gate answers
            held = screen if deciding else None
            self.grants.sent(now, tag=self.passback.tag(decision), held=held)
        self.reading_until = 0.0
        # The record comes before the pixels: a drawing failure never loses an audit line.
        self._finish(decision, action, started, wall)
        if deciding:
            self._draw(now, force=True)  # "checking": the panel's verdict decides the screen
        else:
            self._show_result(screen, now)
        if slip is not None and self.passes is not None:
            self.passes.print_pass(slip)  # the pass follows the screen

    def _show_result(self, screen: Result, now: float) -> None:
        self.screen = screen
        self.result_until = now + self.settings.result_s
        spoken = screen.language.code
        self._draw(now, force=True)
        if self.parts.sounds is not None:
            self.parts.sounds.play(screen.outcome, spoken)

    def _finish(self, decision: Decision, action: str, started: float, wall: float) -> None:
        self.parts.metrics.decision_seconds.observe(time.perf_counter() - started)
        self.parts.metrics.scans.labels(decision.outcome, decision.reason.value).inc()
        self.counts[decision.reason.value] += 1
        self.parts.audit.scan(decision, wall, action)

    def _drain_passes(self, now: float) -> None:
        if self.passes is None:
            return
        while True:
            try:
                outcome: PassOutcome = self.passes.outcomes.get_nowait()
            except queue.Empty:
                break
            if outcome.test and self.menu is not None:
                self.menu.result = (
                    "printer: test pass printed" if outcome.ok else f"printer: {outcome.error}",
                )
            if outcome.number is not None and not outcome.test:
                state = "printed" if outcome.ok else "failed"
                fields: dict[str, Any] = {"number": outcome.number, "state": state}
                if not outcome.ok:
                    fields["detail"] = outcome.error
                self.parts.audit.note("pass", self.clock(), **fields)
                if outcome.ok:
                    self.parts.metrics.passes.inc()
            if outcome.ok:
                self.problems.set(Problem.PRINTER, None)
                continue
            self.problems.set(Problem.PRINTER, outcome.error)
            self.passes.failed(now)
            if isinstance(self.screen, Result) and self.screen.pass_printed:
                self.screen = replace(self.screen, pass_printed=False)  # no "take your pass"
        if Problem.PRINTER in self.problems:
            self.passes.recheck(now)

    # -- screen ---------------------------------------------------------------------------

    def _idle_language(self, now: float) -> Language:
        if self.chosen and now - self.chosen[1] < self.settings.language_choice_s:
            return self.chosen[0]
        self.chosen = None
        languages = self.settings.languages
        return languages[int(now / self.settings.idle_cycle_s) % len(languages)]

    def current_screen(self, now: float) -> Screen:
        language = self._idle_language(now)
        if self.menu is not None:
            idle_limit = (
                technician.PIN_IDLE_S if self.menu.locked else self.settings.technician_timeout_s
            )
            if now - self.menu.last_input > idle_limit:
                self.menu = None
            else:
                return self._technician_screen()
        if (held := self.grants.held) is not None:
            return Reading(held.language, self.frame)  # checking with the door controller
        if isinstance(self.screen, Result) and now < self.result_until:
            left = max(1, round(self.result_until - now))
            if left != self.screen.seconds_left:
                self.screen = replace(self.screen, seconds_left=left)
            return self.screen
        if now < self.reading_until and not self.problems:
            return Reading(language, self.frame)
        if self.problems:
            return OutOfService(self.problems.shown(), language, self.frame)
        return Idle(self.settings.languages, language, self.frame)

    def _draw(self, now: float, force: bool = False) -> None:
        screen = self.current_screen(now)
        if not isinstance(screen, Result):
            self.screen = screen  # the result (and its holder data) is gone
        display = self.parts.display
        shown = display is not None and display.show(screen, now, force=force)
        if shown and self.on_shown is not None:
            self.on_shown(screen)
        elif display is not None and isinstance(screen, Idle) and self._warm_up:
            display.warm(self._warm_up.pop())

    def _warm_up_screens(self) -> list[Screen]:
        """Every result screen the site can show, in each of its languages, without holder
        data: painted one per idle frame so a card's result never waits for text shaping."""
        from kiosk.ui.screens import Result

        screens: list[Screen] = []
        for language in reversed(self.settings.languages):  # popped from the end: first first
            for reason in Reason:
                outcome = outcome_of(reason)
                screens.append(
                    Result(
                        outcome,
                        reason,
                        language,
                        counter=self.mode is Mode.COUNTER,
                        seconds_left=round(self.settings.result_s),
                        frame=self.frame,
                        discreet=self.policy.refusals is Refusals.DISCREET,
                    )
                )
        return screens

    def _ping(self, now: float) -> None:
        interval = self.parts.notifier.watchdog_s
        if interval and now - self._last_ping >= interval / 3:
            self.parts.notifier.watchdog()
            self._last_ping = now

    # -- input ----------------------------------------------------------------------------

    def _ui_events(self) -> str | None:
        display = self.parts.display
        if display is None:
            return None
        import pygame

        for event in display.events():
            if event.type == pygame.QUIT:
                return "quit"
            if event.type == pygame.KEYDOWN:
                self.key(event.key)
            elif event.type == pygame.MOUSEBUTTONDOWN:
                self.touch(display.hit(event.pos))
        return None

    def key(self, key: int) -> None:
        import pygame

        now = self.mono()
        if key in self.key_handlers:
            self.key_handlers[key]()
        elif self.menu is not None:
            if self.menu.locked and (pygame.K_0 <= key <= pygame.K_9 or key == pygame.K_BACKSPACE):
                symbol = chr(key) if key != pygame.K_BACKSPACE else technician.PIN_DELETE
                technician.pin_input(self, symbol)
            elif self.menu.locked and key in (pygame.K_RETURN, pygame.K_KP_ENTER):
                technician.pin_input(self, technician.PIN_OK)
            elif key in (pygame.K_UP, pygame.K_LEFT):
                self.menu.move(-1, now)
            elif key in (pygame.K_DOWN, pygame.K_RIGHT, pygame.K_TAB):
                self.menu.move(1, now)
            elif key in (pygame.K_RETURN, pygame.K_SPACE, pygame.K_KP_ENTER):
                self.activate()
            elif key == pygame.K_ESCAPE:
                self.menu = None
        elif key == pygame.K_l:
            current = self._idle_language(now)
            languages = self.settings.languages
            nxt = languages[(languages.index(current) + 1) % len(languages)]
            self.chosen = (nxt, now)

    def touch(self, role: str | None) -> None:
        now = self.mono()
        if role is None:
            return
        if role.startswith("language:"):
            code = role.split(":", 1)[1]
            for lang in self.settings.languages:
                if lang.code == code:
                    self.chosen = (lang, now)
        elif role.startswith("item:") and self.menu is not None:
            self.menu.selected = int(role.split(":", 1)[1])
            self.menu.last_input = now
            self.activate()

    # -- technician (kiosk/app/technician.py draws and runs the menu) -------------------------

    def activate(self) -> None:
        technician.activate(self)

    def diagnostics(self) -> dict[str, Any]:
        return technician.diagnostics(self)

    def _technician_screen(self) -> Technician:
        return technician.screen(self)
