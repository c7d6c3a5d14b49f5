"""The pass printer's own worker, as the gate has one: the loop hands it a slip and goes on.

A pass costs three status round trips and up to ~2 KB on the line (an Arabic site name drawn as
an image: about a second at 19,200 baud); none of that may hold the result screen or the next
card. Outcomes come back on `outcomes`, which the loop drains once per frame like the gate's
signals: the audit line, the screen and the printer problem are the loop's to update.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from firmware_bridge.errors import DeviceError

if TYPE_CHECKING:
    from firmware_bridge.escpos_printer import PassSlip
    from kiosk.core.decision import Card
    from kiosk.core.policy import Policy

log = logging.getLogger(__name__)

JOBS_KEPT = 8  # passes waiting for the printer; past that a pass is refused, never queued late
RECHECK_S = 10.0  # a printer with a problem is asked how it is this often


class Printer(Protocol):
    def print_pass(self, slip: Any) -> None: ...
    def status(self) -> Any: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class PassOutcome:
    """One job's end. `number` is the pass number, None for a status check."""

    number: int | None
    error: str = ""  # "" = printed (or, for a check, the printer is ready)
    test: bool = False

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class _Job:
    slip: Any  # firmware_bridge.escpos_printer.PassSlip; None = a status check
    number: int | None
    test: bool


class PassWorker:
    def __init__(self, printer: Printer) -> None:
        self.printer = printer
        self.outcomes: queue.Queue[PassOutcome] = queue.Queue()
        self._jobs: queue.Queue[_Job | None] = queue.Queue(JOBS_KEPT)
        self._numbers = 0
        self._checked = float("-inf")  # loop time of the last status check asked for
        self._thread = threading.Thread(target=self._run, name="pass-printer", daemon=True)
        self._thread.start()

    def slip(self, site: str, policy: Policy, card: Card, issued: datetime) -> PassSlip:
        """The next pass for an accepted card: site, time, the benefit the site required
        (if it requires exactly one) and a number — nothing about the holder, not even the other
        benefits the card carries (a shelter programme is the holder's business)."""
        from firmware_bridge.escpos_printer import PassSlip  # PIL: only where passes print

        wanted = policy.required_benefits
        self._numbers += 1
        # Only the site's own requirement: with several accepted benefits, the one this
        # holder has would tell anyone who sees the pass which programme they are in.
        benefit = next(iter(wanted)) if len(wanted) == 1 and wanted <= set(card.benefits) else ""
        return PassSlip(site=site, benefit=benefit, number=self._numbers, issued=issued)

    def print_pass(self, slip: Any, *, test: bool = False) -> None:
        """Queue one pass (a `PassSlip`); its outcome comes on `outcomes` — at once, as a
        failure, if too many are waiting."""
        try:
            self._jobs.put_nowait(_Job(slip, slip.number, test))
        except queue.Full:
            self.outcomes.put(PassOutcome(slip.number, "printer: too many passes waiting", test))

    def recheck(self, now: float) -> None:
        """While the printer has a problem: ask how it is, at most every RECHECK_S."""
        if now - self._checked < RECHECK_S:
            return
        self._checked = now
        with contextlib.suppress(queue.Full):  # passes are waiting: their outcomes will tell
            self._jobs.put_nowait(_Job(None, None, False))

    def failed(self, now: float) -> None:
        """A failure was just reported: the next check can wait its full interval."""
        self._checked = now

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                error = self._carry_out(job)
            except Exception as exc:  # a bug or an answer nobody foresaw: reported, not fatal
                log.exception("printer worker")
                error = f"printer: internal error ({type(exc).__name__})"
            self.outcomes.put(PassOutcome(job.number, error, job.test))

    def _carry_out(self, job: _Job) -> str:
        try:
            if job.slip is None:
                status = self.printer.status()
                if status.cover_open:
                    return "printer: the cover is open"
                if status.paper == "out":
                    return "printer: out of paper"
                if not status.online:
                    return "printer: offline"
            else:
                self.printer.print_pass(job.slip)
        except DeviceError as exc:
            return str(exc)
        return ""

    def close(self, timeout: float = 3.0) -> None:
        """Let the pass being printed finish (bounded), then close the printer."""
        while True:
            try:
                self._jobs.get_nowait()  # passes not started are not printed after the end
            except queue.Empty:
                break
        self._jobs.put(None)
        self._thread.join(timeout)
        self.printer.close()
