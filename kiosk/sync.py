"""`kiosk trust sync`: fetch the trust bundle and status lists from the city's URLs.

Conditional requests (ETag / If-Modified-Since) so a daily timer costs a few hundred bytes
when nothing changed; a size cap and a time limit per URL; everything downloaded goes
through the same verification as `kiosk trust import` before anything is stored, so a
forged, truncated or rolled-back file leaves the last good data in place. Validators are
remembered in `sync.json` in the state folder (URLs and ETags only). The kiosk itself never
waits for this: it runs from the timer, and the loop picks up new data from disk.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.errors import KioskError, TrustError
from kiosk.trust_state import TrustState, atomic_write

USER_AGENT = "CityCard-Kiosk trust-sync"
CACHE_FILE = "sync.json"


@dataclass(frozen=True)
class SyncResult:
    url: str
    status: str  # "installed" | "unchanged" | "not-modified" | "failed"
    detail: str

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def _download(
    url: str, headers: dict[str, str], max_bytes: int, timeout_s: float
) -> tuple[int, bytes, Any]:
    if not url.startswith(("https://", "http://")):
        raise TrustError(f"{url!r} is not an http(s) URL")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})  # noqa: S310
    deadline = time.monotonic() + timeout_s
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)  # noqa: S310 (checked above)
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return 304, b"", exc.headers
        raise TrustError(f"HTTP {exc.code} {exc.reason}") from None
    with response:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise TrustError(f"{declared} bytes is over the {max_bytes}-byte limit")
        chunks, size = [], 0
        while True:
            if time.monotonic() > deadline:
                raise TrustError(f"download took longer than {timeout_s:g} s")
            chunk = response.read1(65536)  # whatever arrived: a trickle can't outlast the limit
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise TrustError(f"over the {max_bytes}-byte limit")
            chunks.append(chunk)
        return int(response.status), b"".join(chunks), response.headers


def sync(
    state: TrustState,
    urls: list[str],
    *,
    timeout_s: float = 20.0,
    max_bytes: int = 16 * 1024 * 1024,
) -> list[SyncResult]:
    """The bundle URL first, then status list URLs; one result per URL."""
    cache_path = state.dir / CACHE_FILE
    try:
        cache: dict[str, dict[str, str]] = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    results = []
    for url in urls:
        known = cache.get(url, {})
        headers = {}
        if known.get("etag"):
            headers["If-None-Match"] = known["etag"]
        if known.get("last_modified"):
            headers["If-Modified-Since"] = known["last_modified"]
        try:
            status, body, response_headers = _download(url, headers, max_bytes, timeout_s)
            if status == 304:
                results.append(SyncResult(url, "not-modified", "unchanged on the server"))
                continue
            installed = state.import_bytes(body)
        except (OSError, urllib.error.URLError, http.client.HTTPException, ValueError) as exc:
            reason = getattr(exc, "reason", None) or f"{type(exc).__name__} {exc}".strip()
            results.append(SyncResult(url, "failed", f"cannot fetch: {reason}"))
            continue
        except KioskError as exc:
            results.append(SyncResult(url, "failed", f"{exc} (the last good data stays)"))
            continue
        new = any(r.installed for r in installed)
        summary = "; ".join(r.summary for r in installed)
        results.append(SyncResult(url, "installed" if new else "unchanged", summary))
        cache[url] = {
            k: v
            for k, v in (
                ("etag", response_headers.get("ETag")),
                ("last_modified", response_headers.get("Last-Modified")),
            )
            if v
        }
    state.dir.mkdir(parents=True, exist_ok=True)
    atomic_write(cache_path, json.dumps(cache, indent=1, sort_keys=True).encode())
    return results


def sync_config(config_path: Path) -> list[SyncResult]:
    from kiosk.config import load_config

    config = load_config(config_path)
    urls = [u for u in (config.trust.bundle_url, *config.trust.status_urls) if u]
    if not urls:
        raise TrustError(f"{config_path}: [trust] has no bundle_url or status_urls to sync from")
    state = TrustState(Path(config.trust.state_dir), config.root_keys())
    return sync(state, urls, timeout_s=config.sync.timeout_s, max_bytes=config.sync.max_bytes)
