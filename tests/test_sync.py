"""`kiosk trust sync` against a real HTTP server on loopback: conditional requests, limits,
and verification before anything is stored."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kiosk.cli import main
from kiosk.issuer.city import City
from kiosk.sync import sync
from kiosk.trust_state import TrustState
from tests.conftest import NOW


class CityServer:
    """Serves files by path; answers 304 to a matching If-None-Match; counts requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.delay_s = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("If-None-Match")))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for i in range(0, len(body), 1024):
                    time.sleep(server.delay_s)
                    self.wfile.write(body[i : i + 1024])

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[CityServer]:
    s = CityServer()
    yield s
    s.close()


@pytest.fixture
def state(tmp_path: Path, city: City) -> TrustState:
    return TrustState(tmp_path / "state", [city.root.public_key])


def test_fetch_then_not_modified(server: CityServer, state: TrustState, city: City) -> None:
    server.files["/bundle.cose"] = city.bundle(NOW)
    url = server.url + "/bundle.cose"
    first = sync(state, [url])
    assert [r.status for r in first] == ["installed"]
    assert state.load() is not None
    second = sync(state, [url])
    assert [r.status for r in second] == ["not-modified"]
    assert server.requests[-1][1] is not None  # the ETag went back as If-None-Match
    server.files["/bundle.cose"] = city.bundle(NOW + 3600)
    assert [r.status for r in sync(state, [url])] == ["installed"]


def test_a_bad_download_keeps_the_last_good_data(
    server: CityServer, state: TrustState, city: City
) -> None:
    good = city.bundle(NOW)
    server.files["/bundle.cose"] = good
    url = server.url + "/bundle.cose"
    sync(state, [url])
    version = state.bundle().version  # type: ignore[union-attr]
    tampered = bytearray(city.bundle(NOW + 7200))
    tampered[-1] ^= 1
    server.files["/bundle.cose"] = bytes(tampered)
    result = sync(state, [url])[0]
    assert result.status == "failed" and "last good" in result.detail
    server.files["/bundle.cose"] = good[:100]
    assert sync(state, [url])[0].status == "failed"
    assert state.bundle().version == version  # type: ignore[union-attr]
    assert state.load() is not None


def test_rollback_is_refused(server: CityServer, state: TrustState, city: City) -> None:
    old = city.bundle(NOW)
    new = city.bundle(NOW + 60)
    server.files["/b"] = new
    sync(state, [server.url + "/b"])
    server.files["/b"] = old
    result = sync(state, [server.url + "/b"])[0]
    assert result.status == "failed" and "rollback" in result.detail


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("missing", "HTTP 404"),
        ("huge", "limit"),
        ("slow", "longer than"),
        ("closed", "cannot fetch"),
    ],
)
def test_failures_are_reported_not_raised(
    server: CityServer, state: TrustState, city: City, setup: str, expected: str
) -> None:
    url = server.url + "/bundle.cose"
    if setup == "huge":
        server.files["/bundle.cose"] = city.bundle(NOW) + b"\0" * 5000
    if setup == "slow":
        server.files["/bundle.cose"] = city.bundle(NOW) * 4
        server.delay_s = 0.2
    if setup == "closed":
        url = "http://127.0.0.1:9/bundle.cose"
    result = sync(state, [url], timeout_s=0.5, max_bytes=4096)[0]
    assert result.status == "failed" and expected in result.detail
    assert state.load() is None


def test_sync_command_from_the_config(
    server: CityServer, tmp_path: Path, city: City, capsys: pytest.CaptureFixture[str]
) -> None:
    server.files["/bundle.cose"] = city.bundle(NOW)
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'[site]\nname = "x"\n[trust]\nroot_keys = ["{city.root.public_key.hex()}"]\n'
        f'state_dir = "{tmp_path / "state"}"\nbundle_url = "{server.url}/bundle.cose"\n'
    )
    assert main(["trust", "sync", "--config", str(config)]) == 0
    assert "installed" in capsys.readouterr().out
    capsys.readouterr()
    main(["trust", "status", "--config", str(config)])
    assert "version 1" in capsys.readouterr().out  # what sync installed
    server.files.clear()
    assert main(["trust", "sync", "--config", str(config)]) == 1
    assert "HTTP 404" in capsys.readouterr().out


def test_a_trickling_server_cannot_outlast_the_limit(
    server: CityServer, state: TrustState, city: City
) -> None:
    server.files["/b"] = city.bundle(NOW) * 5
    server.delay_s = 0.3  # one 1 KB piece every 0.3 s
    started = time.monotonic()
    result = sync(state, [server.url + "/b"], timeout_s=0.5)[0]
    assert result.status == "failed" and "longer than" in result.detail
    assert time.monotonic() - started < 2.0


def test_a_server_that_does_not_speak_http(state: TrustState) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def answer() -> None:
        conn, _ = listener.accept()
        conn.recv(1024)
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    try:
        results = sync(state, [f"http://127.0.0.1:{port}/b", "http://[::1/x"], timeout_s=2)
    finally:
        listener.close()
    assert [r.status for r in results] == ["failed", "failed"]
    assert all("cannot fetch" in r.detail for r in results)
