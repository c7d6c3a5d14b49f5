"""What is keeping the kiosk out of service: one line per part (camera, gate, printer, trust
data), read by the loop, its screens and the technician menu, and changed only through
`set`, which keeps the audit trail and the `kiosk_device_up` metric with it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from kiosk.app.audit import Audit, Metrics
from kiosk.ui.screens import Problem

# The out-of-service screen names the parts in this order.
ORDER = (Problem.CAMERA, Problem.GATE, Problem.PRINTER, Problem.TRUST)


class ProblemBoard(Mapping[str, str]):
    """Part -> what is wrong with it; a part that works has no entry."""

    def __init__(self, audit: Audit, metrics: Metrics, clock: Callable[[], float]) -> None:
        self._audit, self._metrics, self._clock = audit, metrics, clock
        self._problems: dict[str, str] = {}

    def set(self, part: str, detail: str | None) -> None:
        """`detail` is what is wrong with `part`, or None once it works again."""
        had = part in self._problems
        if detail is None:
            self._problems.pop(part, None)
        else:
            self._problems[part] = detail
        self._metrics.device_up.labels(part).set(0 if detail else 1)
        if had != (detail is not None):
            self._audit.note(
                "device",
                self._clock(),
                device=part,
                state="problem" if detail else "ok",
                detail=detail,
            )

    def shown(self) -> tuple[str, ...]:
        """The parts the out-of-service screen names, in its order."""
        return tuple(part for part in ORDER if part in self._problems)

    def __getitem__(self, part: str) -> str:
        return self._problems[part]

    def __iter__(self) -> Iterator[str]:
        return iter(self._problems)

    def __len__(self) -> int:
        return len(self._problems)
