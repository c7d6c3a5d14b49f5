"""`kiosk trust sync`: fetch the trust bundle and status lists from the city's URLs.

Conditional requests (ETag / If-Modified-Since) so a daily timer costs a few hundred bytes
when nothing changed; a size cap per URL and one deadline for each URL's whole exchange
(connection, redirects, headers and body together: a server that trickles bytes cannot
stretch it); everything downloaded goes through the same verification as `kiosk trust
import` before anything is stored, so a forged, truncated or rolled-back file leaves the last
good data in place. Validators are remembered in `sync.json` in the state folder (URLs and
ETags only). The kiosk itself never waits for this: it runs from the timer, and the loop
picks up new data from disk.

Mirrors (`[trust] mirrors`): folders on several hosts serving the same signed files. Each
file is asked of the mirror that last served well, then of the others in their configured
order, until one serves a file that verifies; a dead host so costs one deadline per run,
not one per file. Being signed, the files need no trust in the mirror that served them.

Redirects are followed by hand, at most `MAX_REDIRECTS`, and only to http(s): once an
exchange is on https it stays on https, so a redirect can never take the kiosk to plain HTTP,
to ftp or file URLs, or round in a loop. The connection is direct (proxy variables in the
environment are not used).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import SplitResult, urljoin, urlsplit

from kiosk.core.errors import KioskError, TrustError
from kiosk.core.trust_state import TrustState, atomic_write, read_limited

USER_AGENT = "CityCard-Kiosk trust-sync"
CACHE_FILE = "sync.json"
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class SyncResult:
    url: str
    status: str  # "installed" | "unchanged" | "not-modified" | "failed"
    detail: str

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@dataclass(frozen=True)
class Fetched:
    status: int  # 200 or 304
    body: bytes
    headers: Message


def _checked_url(url: str, previous: str | None = None) -> SplitResult:
    """An http(s) URL with a host; after an https hop, an https URL only."""
    parts = urlsplit(url)
    parts.port  # noqa: B018 (raises ValueError on a bad port)
    scheme = parts.scheme.lower()
    if previous is None:
        if scheme not in ("http", "https") or not parts.hostname:
            raise TrustError(f"{url!r} is not an http(s) URL")
        return parts
    if scheme not in ("http", "https") or not parts.hostname:
        raise TrustError(f"refused a redirect from {previous} to {url}: only http(s) is fetched")
    if scheme == "http" and urlsplit(previous).scheme.lower() == "https":
        raise TrustError(
            f"refused a redirect from {previous} to {url}: https never downgrades to http"
        )
    return parts


class _Exchange:
    """One URL's exchange, redirects included, run on a worker thread so that the caller can
    give up at the deadline whatever the worker is blocked in (a name lookup, a TLS
    handshake, a header trickled a byte at a time); giving up shuts the socket down."""

    def __init__(
        self, url: str, validators: dict[str, str], max_bytes: int, timeout_s: float
    ) -> None:
        self.url, self.validators = url, validators
        self.max_bytes, self.timeout_s = max_bytes, timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.result: Fetched | None = None
        self.error: Exception | None = None
        self._connection: http.client.HTTPConnection | None = None
        self._cut = False
        self._lock = threading.Lock()

    def run(self) -> None:
        try:
            self.result = self._fetch()
        except Exception as exc:  # handed to the caller, who reports it in one line
            self.error = exc
        finally:
            with self._lock:
                self._close()

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            connection = self._connection
        sock = connection.sock if connection is not None else None
        if sock is not None:
            # the plain socket's shutdown, also under TLS: wakes a blocked read at once
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def too_late(self) -> TrustError:
        return TrustError(f"took longer than {self.timeout_s:g} s (the whole exchange)")

    def _remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.too_late()
        return left

    def _connect(self, parts: SplitResult) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        if parts.scheme.lower() == "https":
            connection = http.client.HTTPSConnection(
                parts.hostname or "",
                parts.port,
                timeout=self._remaining(),
                context=ssl.create_default_context(),
            )
        else:
            connection = http.client.HTTPConnection(
                parts.hostname or "", parts.port, timeout=self._remaining()
            )
        with self._lock:
            if self._cut:
                raise self.too_late()
            self._close()
            self._connection = connection
        return connection

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _fetch(self) -> Fetched:
        url, previous, visited = self.url, None, set()
        for _hop in range(MAX_REDIRECTS + 1):
            parts = _checked_url(url, previous)
            if url in visited:
                raise TrustError(f"redirect loop at {url}")
            visited.add(url)
            connection = self._connect(parts)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("GET", target, headers={"User-Agent": USER_AGENT, **self.validators})
            response = connection.getresponse()
            if response.status in REDIRECTS:
                location = response.getheader("Location")
                if not location:
                    raise TrustError(f"HTTP {response.status} redirect without a Location")
                previous, url = url, urljoin(url, location.strip())
                continue
            if response.status == 304:
                if not self.validators:
                    raise TrustError(
                        "HTTP 304 Not Modified to a request that carried no validators "
                        "(the server answers wrongly; nothing to keep)"
                    )
                return Fetched(304, b"", response.msg)
            if response.status != 200:
                raise TrustError(f"HTTP {response.status} {response.reason}".strip())
            return Fetched(200, self._body(response), response.msg)
        raise TrustError(f"more than {MAX_REDIRECTS} redirects from {self.url}")

    def _body(self, response: http.client.HTTPResponse) -> bytes:
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise TrustError(f"{declared} bytes is over the {self.max_bytes}-byte limit")
        chunks: list[bytes] = []
        size = 0
        while True:
            self._remaining()
            chunk = response.read1(65536)  # whatever arrived: a trickle can't outlast the limit
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_bytes:
                raise TrustError(f"over the {self.max_bytes}-byte limit")
            chunks.append(chunk)


def _download(url: str, validators: dict[str, str], max_bytes: int, timeout_s: float) -> Fetched:
    exchange = _Exchange(url, validators, max_bytes, timeout_s)
    worker = threading.Thread(target=exchange.run, name="trust-sync", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        exchange.cut()
        raise exchange.too_late()
    if exchange.error is not None:
        raise exchange.error
    assert exchange.result is not None
    return exchange.result


def _why(exc: Exception) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the server's certificate is not trusted ({exc.verify_message})"
    return getattr(exc, "reason", None) or f"{type(exc).__name__} {exc}".strip()


def _has_data(state: TrustState) -> bool:
    """Validators are worth sending only while the data they stand for is still stored:
    a lost or damaged store is fetched in full."""
    try:
        return state.load() is not None
    except KioskError:
        return False


def _read_cache(path: Path) -> tuple[dict[str, dict[str, str]], str | None]:
    """The validators per URL and the last good mirror. A file of the older form (the URL
    map alone) still reads; anything odd reads as nothing: files are then fetched in full."""
    try:  # a regular file only (no FIFO to hang on, no symlink), parsed defensively
        loaded = json.loads(read_limited(path, 1024 * 1024))
    except (KioskError, ValueError, RecursionError):
        loaded = {}
    if not isinstance(loaded, dict):
        loaded = {}
    urls = loaded.get("urls", loaded)
    validators = {
        url: {k: v for k, v in entry.items() if isinstance(v, str)}
        for url, entry in (urls.items() if isinstance(urls, dict) else ())
        if isinstance(url, str) and isinstance(entry, dict)
    }
    mirror = loaded.get("last_good_mirror")
    return validators, mirror if isinstance(mirror, str) else None


def _fetch_one(
    state: TrustState,
    url: str,
    cache: dict[str, dict[str, str]],
    conditional: bool,
    timeout_s: float,
    max_bytes: int,
) -> SyncResult:
    known = cache.get(url, {}) if conditional else {}
    validators = {}
    if known.get("etag"):
        validators["If-None-Match"] = known["etag"]
    if known.get("last_modified"):
        validators["If-Modified-Since"] = known["last_modified"]
    try:
        fetched = _download(url, validators, max_bytes, timeout_s)
        if fetched.status == 304:
            return SyncResult(url, "not-modified", "unchanged on the server")
        installed = state.import_bytes(fetched.body)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return SyncResult(url, "failed", f"cannot fetch: {_why(exc)}")
    except KioskError as exc:
        return SyncResult(url, "failed", f"{exc} (the last good data stays)")
    new = any(r.installed for r in installed)
    cache[url] = {
        k: v
        for k, v in (
            ("etag", fetched.headers.get("ETag")),
            ("last_modified", fetched.headers.get("Last-Modified")),
        )
        if v
    }
    summary = "; ".join(r.summary for r in installed)
    return SyncResult(url, "installed" if new else "unchanged", summary)


def _folder(mirror: str) -> str:
    """A mirror names a folder: without its trailing slash, urljoin would drop the last
    segment of its path."""
    return mirror if mirror.endswith("/") else mirror + "/"


def sync(
    state: TrustState,
    urls: list[str],
    *,
    mirrors: Sequence[str] = (),
    timeout_s: float = 20.0,
    max_bytes: int = 16 * 1024 * 1024,
) -> list[SyncResult]:
    """The bundle URL first, then status list URLs; one result per URL. With `mirrors`, the
    URLs are paths inside each mirror, and each is asked of the mirrors in turn."""
    cache_path = state.dir / CACHE_FILE
    cache, last_good = _read_cache(cache_path)
    order = [_folder(m) for m in mirrors]
    if last_good in order:
        order.remove(last_good)
        order.insert(0, last_good)
    conditional = _has_data(state)
    results = []
    for url in urls:
        if not order:
            results.append(_fetch_one(state, url, cache, conditional, timeout_s, max_bytes))
            continue
        failures: list[str] = []
        for mirror in order:
            full = urljoin(mirror, url)
            result = _fetch_one(state, full, cache, conditional, timeout_s, max_bytes)
            if result.ok:
                order.remove(mirror)
                order.insert(0, mirror)
                last_good = mirror
                if failures:
                    note = "; ".join(failures)
                    result = SyncResult(full, result.status, f"{result.detail} (after {note})")
                break
            failures.append(f"{full}: {result.detail}")
        else:
            result = SyncResult(url, "failed", "every mirror failed: " + "; ".join(failures))
        results.append(result)
    state.dir.mkdir(parents=True, exist_ok=True)
    kept: dict[str, object] = {"urls": cache}
    if last_good in order:
        kept["last_good_mirror"] = last_good
    atomic_write(cache_path, json.dumps(kept, indent=1, sort_keys=True).encode())
    return results


def sync_config(config_path: Path) -> list[SyncResult]:
    from kiosk.app.config import load_config

    config = load_config(config_path)
    urls = [u for u in (config.trust.bundle_url, *config.trust.status_urls) if u]
    if not urls:
        raise TrustError(f"{config_path}: [trust] has no bundle_url or status_urls to sync from")
    state = TrustState(
        Path(config.trust.state_dir), config.root_keys(), skew_s=config.policy().skew_s
    )
    return sync(
        state,
        urls,
        mirrors=config.trust.mirrors,
        timeout_s=config.sync.timeout_s,
        max_bytes=config.sync.max_bytes,
    )
