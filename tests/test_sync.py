"""`kiosk trust sync` against a real HTTP server on loopback: conditional requests, limits,
and verification before anything is stored."""

from __future__ import annotations

import hashlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kiosk.app.sync import sync
from kiosk.cli import main
from kiosk.core.trust_state import TrustState
from kiosk.issuer.city import DAY_S, City
from tests.conftest import ISSUER, NOW, STATUS_BASE


class CityServer:
    """Serves files by path; answers 304 to a matching If-None-Match; redirects the paths in
    `redirects` to their Location; counts requests. Over TLS when given a server context."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.delay_s = 0.0
        self.always_304 = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("If-None-Match")))
                if self.path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if server.always_304:
                    self.send_response(304)
                    self.end_headers()
                    return
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
        scheme = "http"
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
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
    return TrustState(tmp_path / "state", [city.root.public_key], clock=lambda: NOW)


@pytest.fixture
def live_city(tmp_path: Path) -> City:
    """A city whose data is fresh by the real clock: `kiosk trust sync` imports by it."""
    return City.init(tmp_path / "live-city", ISSUER, STATUS_BASE, int(time.time()) - 365 * DAY_S)


def test_fetch_then_not_modified(server: CityServer, state: TrustState, city: City) -> None:
    server.files["/bundle.cose"] = city.bundle(NOW)
    url = server.url + "/bundle.cose"
    first = sync(state, [url])
    assert [r.status for r in first] == ["installed"]
    assert state.load() is not None
    second = sync(state, [url])
    assert [r.status for r in second] == ["not-modified"]
    assert server.requests[-1][1] is not None  # the ETag went back as If-None-Match
    server.files["/bundle.cose"] = city.bundle(NOW + 60)
    assert [r.status for r in sync(state, [url])] == ["installed"]


def test_a_bad_download_keeps_the_last_good_data(
    server: CityServer, state: TrustState, city: City
) -> None:
    good = city.bundle(NOW)
    server.files["/bundle.cose"] = good
    url = server.url + "/bundle.cose"
    sync(state, [url])
    version = state.bundle().version  # type: ignore[union-attr]
    tampered = bytearray(city.bundle(NOW + 60))
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
    server: CityServer, tmp_path: Path, live_city: City, capsys: pytest.CaptureFixture[str]
) -> None:
    server.files["/bundle.cose"] = live_city.bundle(int(time.time()))
    config = sync_config_file(tmp_path, live_city, server.url + "/bundle.cose")
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


# -- where the exchange may go, and how long it may take ----------------------------------


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A test CA (its PEM file, for SSL_CERT_FILE) and a server context for 127.0.0.1."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Kiosk test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(leaf.public_bytes(pem))
    (folder / "server.key").write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return folder / "ca.pem", context


@pytest.fixture
def secure(
    tls: tuple[Path, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> Iterator[CityServer]:
    """An HTTPS city server whose CA the kiosk trusts (as a system CA, through SSL_CERT_FILE)."""
    ca, context = tls
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    s = CityServer(context)
    yield s
    s.close()


def sync_config_file(tmp_path: Path, city: City, url: str, timeout_s: float = 20) -> Path:
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'[site]\nname = "x"\nmode = "counter"\n'
        f'[trust]\nroot_keys = ["{city.root.public_key.hex()}"]\n'
        f'state_dir = "{tmp_path / "state"}"\nbundle_url = "{url}"\n'
        f"[sync]\ntimeout_s = {timeout_s}\n"
    )
    return config


def test_https_never_redirects_down_to_http(
    secure: CityServer,
    server: CityServer,
    tmp_path: Path,
    live_city: City,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bundle = live_city.bundle(int(time.time()))
    server.files["/bundle.cose"] = secure.files["/bundle.cose"] = bundle
    # https -> https is followed (the CA is trusted: this is what makes the refusal below
    # a refusal of the downgrade, not a certificate failure)
    secure.redirects["/moved"] = secure.url + "/bundle.cose"
    config = sync_config_file(tmp_path, live_city, secure.url + "/moved")
    assert main(["trust", "sync", "--config", str(config)]) == 0, capsys.readouterr().out
    assert "installed" in capsys.readouterr().out
    secure.redirects["/moved"] = server.url + "/bundle.cose"
    assert main(["trust", "sync", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "failed" in out and "https" in out and "http://" in out and "downgrade" in out
    assert len(out.splitlines()) == 1 and "Traceback" not in out
    assert server.requests == []  # the plain-HTTP server never heard from the kiosk


def test_http_may_be_redirected_up_to_https(
    secure: CityServer, server: CityServer, state: TrustState, city: City
) -> None:
    secure.files["/bundle.cose"] = city.bundle(NOW)
    server.redirects["/bundle.cose"] = secure.url + "/bundle.cose"
    assert [r.status for r in sync(state, [server.url + "/bundle.cose"])] == ["installed"]


@pytest.mark.parametrize("scheme", ["ftp", "file", "gopher"])
def test_redirects_to_other_schemes_are_refused(
    server: CityServer,
    tmp_path: Path,
    live_city: City,
    scheme: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    target = {
        "ftp": f"ftp://127.0.0.1:{port}/bundle.cose",
        "file": f"file://{tmp_path}/bundle.cose",
        "gopher": f"gopher://127.0.0.1:{port}/bundle.cose",
    }[scheme]
    (tmp_path / "bundle.cose").write_bytes(live_city.bundle(int(time.time())))
    server.redirects["/bundle.cose"] = target
    config = sync_config_file(tmp_path, live_city, server.url + "/bundle.cose", timeout_s=2)
    try:
        assert main(["trust", "sync", "--config", str(config)]) == 1
        time.sleep(0.1)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected to the other listener
    finally:
        listener.close()
    out = capsys.readouterr().out
    assert f"{scheme}:" in out and "http(s)" in out and "Traceback" not in out
    assert len(out.splitlines()) == 1
    assert TrustState(tmp_path / "state", [live_city.root.public_key]).load() is None


def test_redirect_loops_and_long_chains_are_refused(
    server: CityServer, state: TrustState, city: City
) -> None:
    server.files["/bundle.cose"] = city.bundle(NOW)
    server.redirects.update({"/a": "/b", "/b": server.url + "/a"})
    loop = sync(state, [server.url + "/a"])[0]
    assert loop.status == "failed" and "loop" in loop.detail
    chain = {f"/r{i}": f"/r{i + 1}" for i in range(6)}
    chain["/r6"] = "/bundle.cose"
    server.redirects.update(chain)
    server.requests.clear()
    long = sync(state, [server.url + "/r0"])[0]
    assert long.status == "failed" and "redirects" in long.detail
    assert "/bundle.cose" not in [path for path, _ in server.requests]
    assert state.load() is None
    assert sync(state, [server.url + "/r4"])[0].status == "installed"  # three hops are fine


def test_headers_trickled_a_byte_at_a_time_are_cut_at_the_deadline(
    tmp_path: Path, live_city: City, capsys: pytest.CaptureFixture[str]
) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        conn.recv(4096)
        head = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 400 + b"\r\n\r\n"
        try:
            for byte in head:  # each byte well inside the per-read timeout
                if stop.is_set():
                    break
                conn.sendall(bytes([byte]))
                time.sleep(0.25)
        except OSError:
            pass  # the kiosk hung up: what we want
        finally:
            conn.close()

    worker = threading.Thread(target=trickle, daemon=True)
    worker.start()
    config = sync_config_file(tmp_path, live_city, f"http://127.0.0.1:{port}/b", timeout_s=1)
    started = time.monotonic()
    try:
        code = main(["trust", "sync", "--config", str(config)])
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        listener.close()
    out = capsys.readouterr().out
    assert code == 1 and "longer than 1 s" in out, out
    assert elapsed < 3.0  # the whole exchange, not each read (the headers alone take 100 s)


def test_304_to_a_request_without_validators_is_an_error(
    server: CityServer, state: TrustState, city: City
) -> None:
    server.always_304 = True
    result = sync(state, [server.url + "/bundle.cose"])[0]
    assert result.status == "failed"
    assert "304" in result.detail and "validators" in result.detail
    assert server.requests == [("/bundle.cose", None)]


def test_a_lost_store_is_fetched_in_full_again(
    server: CityServer, state: TrustState, city: City
) -> None:
    server.files["/bundle.cose"] = city.bundle(NOW)
    url = server.url + "/bundle.cose"
    assert sync(state, [url])[0].status == "installed"
    for path in state.dir.rglob("*"):  # the store is lost; sync.json with its ETag stays
        if path.is_file() and path.name != "sync.json":
            path.unlink()
    assert state.load() is None
    assert sync(state, [url])[0].status == "installed"
    assert server.requests[-1] == ("/bundle.cose", None)  # no If-None-Match this time
    assert state.load() is not None


def test_an_untrusted_certificate_is_refused(
    tls: tuple[Path, ssl.SSLContext], state: TrustState, city: City
) -> None:
    untrusted = CityServer(tls[1])  # no SSL_CERT_FILE: its CA is not among the system's
    try:
        untrusted.files["/bundle.cose"] = city.bundle(NOW)
        result = sync(state, [untrusted.url + "/bundle.cose"], timeout_s=5)[0]
    finally:
        untrusted.close()
    assert result.status == "failed" and "certificate" in result.detail.lower(), result
    assert "\n" not in result.detail and state.load() is None


@pytest.mark.parametrize("kind", ["fifo", "deep", "nan", "symlink"])
def test_a_hostile_sync_json_is_ignored(
    server: CityServer, state: TrustState, city: City, tmp_path: Path, kind: str
) -> None:
    import json
    import os

    server.files["/bundle.cose"] = city.bundle(NOW)
    url = server.url + "/bundle.cose"
    state.dir.mkdir(parents=True, exist_ok=True)
    cache = state.dir / "sync.json"
    if kind == "fifo":
        os.mkfifo(cache)  # reading it would block the sync for ever
    elif kind == "deep":
        cache.write_text("[" * 100_000 + "]" * 100_000)
    elif kind == "nan":
        cache.write_text('{"x": {"etag": NaN}, "y": [Infinity]}')
    else:
        secret = tmp_path / "secret"
        secret.write_text(json.dumps({url: {"etag": "planted"}}))
        cache.symlink_to(secret)
    results = sync(state, [url], timeout_s=5)
    assert [r.status for r in results] == ["installed"]


# -- mirrors: the same files on several hosts, tried in turn --------------------------------


@pytest.fixture
def mirrors() -> Iterator[tuple[CityServer, CityServer]]:
    first, second = CityServer(), CityServer()
    yield first, second
    first.close()
    second.close()


def test_a_mirror_that_is_down_fails_over_to_the_next(
    server: CityServer, state: TrustState, city: City
) -> None:
    server.files["/kiosk/bundle.cose"] = city.bundle(NOW)
    down = "http://127.0.0.1:9/kiosk/"  # nothing listens there
    results = sync(state, ["bundle.cose"], mirrors=[down, server.url + "/kiosk"], timeout_s=5)
    assert [r.status for r in results] == ["installed"], results
    assert results[0].url == server.url + "/kiosk/bundle.cose"
    assert "http://127.0.0.1:9/kiosk/bundle.cose" in results[0].detail  # the bad one is named
    assert "\n" not in results[0].detail
    assert state.load() is not None


def test_a_mirror_serving_bad_data_fails_over_to_the_next(
    mirrors: tuple[CityServer, CityServer], state: TrustState, city: City
) -> None:
    bad, good = mirrors
    tampered = bytearray(city.bundle(NOW))
    tampered[-1] ^= 1
    bad.files["/bundle.cose"] = bytes(tampered)
    good.files["/bundle.cose"] = city.bundle(NOW + 60)
    result = sync(state, ["bundle.cose"], mirrors=[bad.url, good.url])[0]
    assert result.status == "installed" and result.url == good.url + "/bundle.cose"
    assert bad.url in result.detail
    assert state.bundle().version == 2  # type: ignore[union-attr]


def test_the_last_good_mirror_is_asked_first_next_time(
    mirrors: tuple[CityServer, CityServer], state: TrustState, city: City
) -> None:
    first, second = mirrors
    second.files["/b"] = city.bundle(NOW)  # the first has nothing yet: 404
    urls = [first.url + "/", second.url + "/"]
    assert sync(state, ["b"], mirrors=urls)[0].url == second.url + "/b"
    first.files["/b"] = second.files["/b"] = city.bundle(NOW + 60)
    first.requests.clear()
    result = sync(state, ["b"], mirrors=urls)[0]
    assert result.status == "installed" and result.url == second.url + "/b"
    assert first.requests == []  # remembered: the mirror that failed last time waits its turn
    # when the remembered mirror fails, the others are asked in their configured order
    second.files.clear()
    first.files["/b"] = city.bundle(NOW + 120)
    result = sync(state, ["b"], mirrors=urls)[0]
    assert result.status == "installed" and result.url == first.url + "/b"
    assert state.bundle().version == 3  # type: ignore[union-attr]


def test_every_mirror_failing_is_one_failed_line(
    mirrors: tuple[CityServer, CityServer], state: TrustState, city: City
) -> None:
    first, second = mirrors
    results = sync(state, ["bundle.cose", "status/1"], mirrors=[first.url, second.url])
    assert [r.status for r in results] == ["failed", "failed"]
    assert [r.url for r in results] == ["bundle.cose", "status/1"]
    detail = results[0].detail
    assert "every mirror failed" in detail and detail.count("HTTP 404") == 2
    assert first.url in detail and second.url in detail and "\n" not in detail
    assert state.load() is None


def test_sync_command_with_mirrors(
    server: CityServer, tmp_path: Path, live_city: City, capsys: pytest.CaptureFixture[str]
) -> None:
    server.files["/trust/bundle.cose"] = live_city.bundle(int(time.time()))
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'[site]\nname = "x"\nmode = "counter"\n'
        f'[trust]\nroot_keys = ["{live_city.root.public_key.hex()}"]\n'
        f'state_dir = "{tmp_path / "state"}"\n'
        f'mirrors = ["http://127.0.0.1:9/trust/", "{server.url}/trust/"]\n'
        'bundle_url = "bundle.cose"\n'
        "[sync]\ntimeout_s = 5\n"
    )
    assert main(["trust", "sync", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert (
        out.startswith(f"{server.url}/trust/bundle.cose: installed") and len(out.splitlines()) == 1
    )
