"""Privacy-safe audit events and Prometheus metrics.

An audit event is one JSON line (stdout, which systemd sends to the journal): time, event,
outcome, reason code, signing key id, site, mode — never a name, birth date, gender, serial
or status-list index, and not the verifier's free-text detail either. Metrics live in the
app's own registry (no global state); their labels are reason codes, outcomes and device
names only. They are served on loopback in plain HTTP, or off the box over TLS only, behind
a password (PBKDF2, Django's `pbkdf2_sha256$…` form) and an allow-list of client networks
(docs/fleet.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment
from zoneinfo import ZoneInfo

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    make_wsgi_app,
)

from kiosk.core.decision import Decision
from kiosk.core.errors import ConfigError


@dataclass(frozen=True)
class MetricsConfig:
    """The [metrics] section (kiosk.app.config reads it into this). Off the box (a listen
    address that is not loopback), all of: allow_remote, TLS, a password and an allow-list:
    plain text never leaves the box."""

    listen: str = "127.0.0.1:9108"  # "" turns the endpoint off
    allow_remote: bool = False
    tls_cert: str = ""  # PEM certificate (chain) file
    tls_key: str = ""  # its private key, PEM
    basic_auth_user: str = ""
    basic_auth_hash: str = field(default="", repr=False)  # hash_password
    allow_from: tuple[str, ...] = ()  # client networks ("10.20.0.0/16"); () = any client


_LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.033, 0.05, 0.1, 0.25, 0.5, 1.0)
HASH_SCHEME = "pbkdf2_sha256"
PASSWORD_ITERATIONS = 600_000  # OWASP's figure for PBKDF2-HMAC-SHA256 (2023)
MIN_PASSWORD_ITERATIONS = 100_000
# A scrape is one small request: a client that dawdles (in the TLS handshake too) is cut off.
REQUEST_TIMEOUT_S = 10.0
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
        self.clock_ok = Gauge(
            "kiosk_clock_ok",
            "1 while the clock is not behind the newest trust data (beyond the allowed skew); "
            "0: every card is refused TRUST_STALE",
            registry=r,
        )
        self.start_time = Gauge(
            "kiosk_start_time_seconds",
            "When the kiosk started (Unix time): a new value at every restart",
            registry=r,
        )
        self.start_time.set_to_current_time()
        self.site_utc_offset = Gauge(
            "kiosk_site_utc_offset_seconds",
            "Offset of the site's time zone from UTC now, daylight saving time included",
            registry=r,
        )

    def site_timezone(self, zone: ZoneInfo) -> None:
        """Export the site's UTC offset, read at each scrape: opening hours are kept in
        Prometheus, in local time, and the offset changes twice a year."""
        self.site_utc_offset.set_function(lambda: _utc_offset(zone))

    def page(self) -> bytes:
        return generate_latest(self.registry)

    def serve(self, listen: str, options: MetricsConfig | None = None) -> MetricsServer:
        """Serve the metrics at host:port on a thread; `options` (the [metrics] section) add
        TLS, a password and an allow-list. Plain HTTP only on loopback, whoever calls."""
        app: WSGIApplication = make_wsgi_app(self.registry)
        tls: ssl.SSLContext | None = None
        networks: tuple[Network, ...] = ()
        if options is not None:
            try:
                check_metrics(options)
            except ValueError as exc:
                raise ConfigError(f"[metrics] {exc}") from None
            if options.tls_cert:
                tls = _tls_context(options.tls_cert, options.tls_key)
            if options.basic_auth_user:
                app = _Login(options.basic_auth_user, options.basic_auth_hash).guard(app)
            networks = parse_networks(options.allow_from)
        host, _, port = listen.rpartition(":")
        host = host.strip("[]")
        if tls is None and not is_loopback(host):
            raise ConfigError(
                f"[metrics] listen {listen!r} is not loopback: metrics leave the box over TLS "
                "only (tls_cert, tls_key)"
            )
        try:
            server = MetricsServer(host, int(port), app, tls, networks)
        except OSError as exc:  # taken port, unknown host (socket.gaierror is an OSError)
            raise ConfigError(f"[metrics] listen {listen!r}: cannot listen ({exc})") from None
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        return server


def check_metrics(options: MetricsConfig) -> None:
    """What the [metrics] options must hold together (ValueError names the option): off
    the box, all of allow_remote, TLS, a password and an allow-list."""
    if bool(options.tls_cert) != bool(options.tls_key):
        raise ValueError("needs tls_cert and tls_key together (a certificate, its key)")
    if bool(options.basic_auth_user) != bool(options.basic_auth_hash):
        raise ValueError("needs basic_auth_user and basic_auth_hash together")
    if ":" in options.basic_auth_user:
        raise ValueError("basic_auth_user must not contain ':'")
    if options.basic_auth_hash:
        try:
            PasswordHash.parse(options.basic_auth_hash)
        except ValueError as exc:
            raise ValueError(f"basic_auth_hash {exc}") from None
    parse_networks(options.allow_from)
    listen = options.listen
    if not listen:
        return
    host, _, port = listen.rpartition(":")
    if not (port.isascii() and port.isdecimal()) or not 0 < int(port) < 65536 or not host:
        raise ValueError(f"listen must be host:port, not {listen!r}")
    if is_loopback(host):
        return
    off_the_box = f"listen {listen!r} is not loopback"
    if not options.allow_remote:
        raise ValueError(
            f"{off_the_box}: serving metrics off the box takes allow_remote = true, TLS, a "
            "password and an allow-list (docs/fleet.md)"
        )
    if not options.tls_cert:
        raise ValueError(
            f"{off_the_box}: it needs tls_cert and tls_key (metrics never leave the box in "
            "plain text)"
        )
    if not options.basic_auth_user:
        raise ValueError(f"{off_the_box}: it needs basic_auth_user and basic_auth_hash")
    if not options.allow_from:
        raise ValueError(
            f"{off_the_box}: it needs allow_from, the networks Prometheus scrapes from"
        )


def _utc_offset(zone: ZoneInfo) -> float:
    offset = datetime.now(zone).utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def is_loopback(host: str) -> bool:
    """A host name or address that never leaves the box."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """The allow-list; ValueError names the entry. A network with host bits set
    (10.0.0.5/8) is refused: it is a typo for either the host or the network."""
    networks = []
    for i, value in enumerate(values):
        try:
            networks.append(ipaddress.ip_network(value))
        except ValueError as exc:
            raise ValueError(f"allow_from[{i}] {value!r} is not a network ({exc})") from None
    return tuple(networks)


@dataclass(frozen=True)
class PasswordHash:
    """`pbkdf2_sha256$<iterations>$<salt>$<base64 of the 32-byte key>`, as Django writes it."""

    iterations: int
    salt: str
    key: bytes = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> PasswordHash:
        wanted = (
            f"must be {HASH_SCHEME}$<iterations, at least {MIN_PASSWORD_ITERATIONS}>$"
            "<salt>$<base64 key> (docs/fleet.md says how to make one)"
        )
        parts = text.split("$")
        if len(parts) != 4 or parts[0] != HASH_SCHEME or not parts[2]:
            raise ValueError(wanted)
        _, iterations, salt, encoded = parts
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ValueError(wanted) from None
        rounds = int(iterations) if iterations.isascii() and iterations.isdecimal() else 0
        if not MIN_PASSWORD_ITERATIONS <= rounds <= 100 * PASSWORD_ITERATIONS or len(key) != 32:
            raise ValueError(wanted)
        return cls(rounds, salt, key)

    def matches(self, password: str) -> bool:
        candidate = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), self.salt.encode(), self.iterations
        )
        return hmac.compare_digest(candidate, self.key)


def hash_password(password: str, *, iterations: int = PASSWORD_ITERATIONS) -> str:
    """The `basic_auth_hash` of a password (a fresh random salt each time)."""
    salt = secrets.token_urlsafe(16)
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"{HASH_SCHEME}${iterations}${salt}${base64.b64encode(key).decode()}"


class _Login:
    """HTTP basic authentication against a PBKDF2 hash. The hash costs a fraction of a
    second by design, so the last header that passed is remembered (as a keyed digest, in
    memory): Prometheus sends the same one every scrape."""

    def __init__(self, user: str, password_hash: str) -> None:
        self.user = user.encode()
        self.hash = PasswordHash.parse(password_hash)
        self._key = secrets.token_bytes(32)
        self._passed: bytes | None = None

    def check(self, header: str) -> bool:
        tag = hmac.digest(self._key, header.encode("utf-8", "surrogateescape"), "sha256")
        passed = self._passed
        if passed is not None and hmac.compare_digest(tag, passed):
            return True
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, colon, password = (
                base64.b64decode(token.strip(), validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return False
        user_ok = hmac.compare_digest(user.encode(), self.user)
        # the hash is computed whatever the user name: the time says nothing about it
        if self.hash.matches(password) and user_ok and colon:
            self._passed = tag
            return True
        return False

    def guard(self, app: WSGIApplication) -> WSGIApplication:
        def guarded(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            if self.check(str(environ.get("HTTP_AUTHORIZATION", ""))):
                return app(environ, start_response)
            start_response(
                "401 Unauthorized",
                [
                    ("WWW-Authenticate", 'Basic realm="kiosk metrics", charset="UTF-8"'),
                    ("Content-Type", "text/plain; charset=utf-8"),
                ],
            )
            return [b"401 Unauthorized\n"]

        return guarded


def _tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except OSError as exc:  # a missing file, or not a certificate and its key (ssl.SSLError)
        why = exc.strerror or str(exc)
        raise ConfigError(
            f"[metrics] tls_cert/tls_key: cannot load {cert!r} and {key!r} ({why})"
        ) from None
    return context


class _QuietHandler(WSGIRequestHandler):
    timeout = REQUEST_TIMEOUT_S

    def log_message(self, format: str, *args: Any) -> None:
        """A line per scrape would flood the journal: nothing."""


class MetricsServer(ThreadingMixIn, WSGIServer):
    """The metrics endpoint: a client outside the allow-list is dropped before a byte is
    read; with TLS, the handshake happens on the request's own thread (a slow client holds
    up no one else) and a plain-HTTP client is dropped without an answer."""

    daemon_threads = True

    def __init__(
        self,
        host: str,
        port: int,
        app: WSGIApplication,
        tls: ssl.SSLContext | None,
        networks: tuple[Network, ...],
    ) -> None:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        self.address_family = family  # before binding: an IPv6 host needs an IPv6 socket
        self.tls, self.networks = tls, networks
        super().__init__((str(address[0]), int(address[1])), _QuietHandler)
        self.set_app(app)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        if not self.networks:
            return True
        client = ipaddress.ip_address(str(client_address[0]).partition("%")[0])
        if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
            client = client.ipv4_mapped  # an IPv4 client of a dual-stack socket
        return any(client in network for network in self.networks)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(REQUEST_TIMEOUT_S)
        try:
            secure = self.tls.wrap_socket(request, server_side=True)
        except OSError:  # plain HTTP, a failed or slow handshake: closed, nothing said
            return
        with secure:
            super().finish_request(secure, client_address)

    def shutdown(self) -> None:
        super().shutdown()
        self.server_close()  # the port is free again at once
