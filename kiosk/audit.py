"""Privacy-safe audit events and Prometheus metrics.

An audit event is one JSON line (stdout, which systemd sends to the journal): time, event,
outcome, reason code, signing key id, site, mode — never a name, birth date, gender, serial
or status-list index, and not the verifier's free-text detail either. Metrics live in the
app's own registry (no global state) and are served on loopback; their labels are reason
codes, outcomes and device names only.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from kiosk.card import Decision
from kiosk.errors import ConfigError

_LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.033, 0.05, 0.1, 0.25, 0.5, 1.0)


class Writer(Protocol):
    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...


class Audit:
    """Writes audit events as JSON lines; one lock so lines never interleave."""

    def __init__(self, out: Writer, site: str, mode: str) -> None:
        self.out, self.site, self.mode = out, site, mode
        self._lock = threading.Lock()

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def _base(self, event: str, now: float) -> dict[str, Any]:
        when = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
        return {
            "time": when.replace("+00:00", "Z"),
            "event": event,
            "site": self.site,
            "mode": self.mode,
        }

    def scan(self, decision: Decision, now: float, action: str) -> None:
        record = self._base("scan", now)
        record.update(
            outcome=decision.outcome,
            reason=decision.reason.value,
            kid=decision.kid.hex() if decision.kid else None,
            action=action,
        )
        self._write(record)

    def note(self, event: str, now: float, **fields: str | int | float | bool | None) -> None:
        """Device, trust and lifecycle events (fields are the app's words, never card data)."""
        record = self._base(event, now)
        record.update(fields)
        self._write(record)


class Metrics:
    def __init__(self) -> None:
        # `_created` series would give away the microsecond of, say, the day's first REVOKED
        # card: off (prometheus_client keeps this switch process-wide).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        r = self.registry
        self.scans = Counter(
            "kiosk_scans",
            "Cards verified, by outcome and reason",
            ["outcome", "reason"],
            registry=r,
        )
        self.not_city_cards = Counter(
            "kiosk_not_city_card", "QR codes that are not city cards", registry=r
        )
        self.frames = Counter("kiosk_frames", "Camera frames decoded", registry=r)
        self.decode_seconds = Histogram(
            "kiosk_decode_seconds",
            "Frame capture to scan event",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.decision_seconds = Histogram(
            "kiosk_decision_seconds",
            "Scan event to gate command and screen",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.trust_age = Gauge(
            "kiosk_trust_age_seconds", "Age of the newest trust data", ["kind"], registry=r
        )
        self.trust_expires = Gauge(
            "kiosk_trust_expires_in_seconds",
            "Time until trust data goes stale",
            ["kind"],
            registry=r,
        )
        self.device_up = Gauge("kiosk_device_up", "1 when the part works", ["device"], registry=r)
        self.gate_events = Counter("kiosk_gate_events", "Gate signals", ["event"], registry=r)
        self.grants = Counter("kiosk_gate_grants", "Gate grants issued", registry=r)
        self.passes = Counter("kiosk_passes_printed", "Passes printed", registry=r)

    def page(self) -> bytes:
        return generate_latest(self.registry)

    def serve(self, listen: str) -> Any:
        """Serve /metrics at host:port (loopback by config); returns the server."""
        from prometheus_client import start_http_server

        host, _, port = listen.rpartition(":")
        try:
            server, _thread = start_http_server(
                int(port), addr=host.strip("[]"), registry=self.registry
            )
        except OSError as exc:  # taken port, unknown host (socket.gaierror is an OSError)
            raise ConfigError(f"[metrics] listen {listen!r}: cannot listen ({exc})") from None
        return server
