"""Fleet monitoring: the alert rules under promtool, the Grafana dashboard's queries against
the metrics the kiosk really exports, the gauges the alerts need, and the metrics endpoint
served off the box (TLS, a password, an allow-list; never plain text)."""

from __future__ import annotations

import base64
import datetime
import http.client
import ipaddress
import json
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from prometheus_client.registry import CollectorRegistry

from kiosk.app.audit import Metrics
from kiosk.app.config import load_config
from kiosk.core.errors import ConfigError
from kiosk.issuer.city import City
from tests.conftest import NOW
from tests.test_app import card, make_rig

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "kiosk.json"
PROMTOOL = shutil.which("promtool") or "promtool"
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (Debian package `prometheus`)"
)
KEY = "ab" * 32

# -- the metric names a PromQL expression reads ---------------------------------------------

# Words of PromQL that look like names but are not series.
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or"}
_KEYWORDS |= {"unless", "offset", "bool", "inf", "nan", "atan2"}
# Series Prometheus makes itself for every target.
_PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def metric_names(expr: str) -> set[str]:
    """Every series name in a PromQL expression: strings, label matchers, ranges, grouping
    clauses, Grafana variables and function names taken out first."""
    text = re.sub(r"#[^\n]*", " ", expr)  # comments
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', text)
    text = re.sub(r"\$\{?\w+\}?", "1", text)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    grouping = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
    text = re.sub(grouping, " ", text)
    names = re.findall(r"(?<![\w:.])([A-Za-z_:][\w:]*)\b(?!\s*\()", text)
    return {n for n in names if n.lower() not in _KEYWORDS}


def exported_names(registry: CollectorRegistry) -> set[str]:
    """The series names the registry exposes, suffixes included (a labelled metric has no
    sample until first used, so names come from each family's type)."""
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("_sum", "_count", ""),
        "info": ("_info",),
    }
    names = set()
    for family in registry.collect():
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def dashboard_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, expr) for every panel query and every template variable's query."""
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((f"panel {panel['title']!r}", target["expr"]))
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if variable["type"] == "query":
            # label_values(series, label): only the series is a metric
            match = re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", query)
            assert match, query
            found.append((f"variable {variable['name']!r}", match.group(1)))
    return found


def unknown_names(exprs: list[tuple[str, str]], known: set[str]) -> list[str]:
    return [
        f"{where}: {name}"
        for where, expr in exprs
        for name in sorted(metric_names(expr))
        if name not in known
    ]


def rules(path: Path) -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


RULE_FILES = (PROMETHEUS / "kiosk-alerts.yml", PROMETHEUS / "kiosk-opening-hours.yml")


def recorded() -> set[str]:
    return {r["record"] for path in RULE_FILES for r in rules(path) if "record" in r}


# -- promtool -------------------------------------------------------------------------------


@needs_promtool
def test_alert_rules_pass_their_unit_tests() -> None:
    done = subprocess.run(
        [PROMTOOL, "test", "rules", "kiosk-alerts.test.yml", "kiosk-opening-hours.test.yml"],
        cwd=PROMETHEUS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == 2


@needs_promtool
def test_rules_and_the_example_prometheus_config_check() -> None:
    for command in (
        ["check", "rules", "kiosk-alerts.yml", "kiosk-opening-hours.yml"],
        ["check", "config", "prometheus.yml"],
    ):
        done = subprocess.run(
            [PROMTOOL, *command],
            cwd=PROMETHEUS,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "FAILED" not in done.stdout + done.stderr


@needs_promtool
def test_a_broken_rule_fails_its_unit_test(tmp_path: Path) -> None:
    """The unit tests can fail: the same tests against a gate alert that waits 10 minutes."""
    for name in ("kiosk-alerts.yml", "kiosk-opening-hours.yml", "kiosk-alerts.test.yml"):
        shutil.copy(PROMETHEUS / name, tmp_path / name)
    alerts = tmp_path / "kiosk-alerts.yml"
    text = alerts.read_text()
    assert text.count("for: 2m") == 1
    alerts.write_text(text.replace("for: 2m", "for: 10m"))
    done = subprocess.run(
        [PROMTOOL, "test", "rules", "kiosk-alerts.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "KioskDeviceDown" in done.stdout + done.stderr


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    alerts = {r["alert"] for r in rules(PROMETHEUS / "kiosk-alerts.yml") if "alert" in r}
    assert {
        "KioskTrustStaleSoon",
        "KioskTrustStale",
        "KioskClockBehindTrustData",
        "KioskDeviceDown",
        "KioskCameraStalled",
        "KioskRestarting",
        "KioskNoScansWhileOpen",
    } <= alerts
    fired = set()
    for name in ("kiosk-alerts.test.yml", "kiosk-opening-hours.test.yml"):
        for test in yaml.safe_load((PROMETHEUS / name).read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                if case["exp_alerts"]:
                    fired.add(case["alertname"])
    assert alerts - fired == set()
    for rule in rules(PROMETHEUS / "kiosk-alerts.yml"):
        if "alert" in rule:
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_rules_read_only_what_the_kiosk_exports() -> None:
    known = exported_names(Metrics().registry) | _PROMETHEUS_SERIES | recorded()
    exprs = [
        (f"{path.name} {rule.get('alert') or rule.get('record')}", rule["expr"])
        for path in RULE_FILES
        for rule in rules(path)
    ]
    assert len(exprs) >= 10
    assert unknown_names(exprs, known) == []


def test_the_example_targets_name_known_opening_hours() -> None:
    profiles = set(
        re.findall(r'hours="(\w+)"', (PROMETHEUS / "kiosk-opening-hours.yml").read_text())
    )
    groups = yaml.safe_load((PROMETHEUS / "kiosks.example.yml").read_text())
    assert groups and all(g["targets"] and g["labels"]["site"] for g in groups)
    assert {g["labels"]["hours"] for g in groups} <= profiles


# -- the dashboard --------------------------------------------------------------------------


def test_dashboard_queries_read_only_what_the_kiosk_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = dashboard_exprs(dashboard)
    assert len(exprs) >= 15
    assert unknown_names(exprs, exported_names(Metrics().registry) | _PROMETHEUS_SERIES) == []
    used = set().union(*(metric_names(e) for _, e in exprs))
    # per site: outcomes, reasons, decode and decision latency, trust age, device state
    assert {
        "kiosk_scans_total",
        "kiosk_decode_seconds_bucket",
        "kiosk_decision_seconds_bucket",
        "kiosk_trust_age_seconds",
        "kiosk_trust_expires_in_seconds",
        "kiosk_device_up",
    } <= used
    rows = [p for p in dashboard["panels"] if p["type"] == "row"]
    assert any(row.get("repeat") == "site" for row in rows)
    assert all('site=~"$site"' in e for where, e in exprs if where.startswith("panel"))


def test_a_misspelt_metric_in_the_dashboard_is_caught() -> None:
    text = DASHBOARD.read_text()
    assert "kiosk_decision_seconds_bucket" in text
    dashboard = json.loads(
        text.replace("kiosk_decision_seconds_bucket", "kiosk_decison_seconds_bucket", 1)
    )
    known = exported_names(Metrics().registry) | _PROMETHEUS_SERIES
    assert [m.split(": ")[1] for m in unknown_names(dashboard_exprs(dashboard), known)] == [
        "kiosk_decison_seconds_bucket"
    ]


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(a_bucket{x="y", z=~"$site"}[$__rate_interval]))', {"a_bucket"}),
        ("b == 0 and on(instance, job) c:open == 1", {"b", "c:open"}),
        ("histogram_quantile(0.9, d) > 1e3 unless e offset 1h # f g\n", {"d", "e"}),
        ("time() + h", {"h"}),
    ],
)
def test_metric_names_of_an_expression(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


# -- the gauges the alerts need --------------------------------------------------------------


def test_the_clock_gauge_follows_the_verifiers_rule(tmp_path: Path, city: City) -> None:
    rig = make_rig(tmp_path, city)
    rig.show(card(city))
    page = rig.kiosk.parts.metrics.page().decode()
    assert "kiosk_clock_ok 1.0" in page and rig.scans()[-1]["reason"] == "ACCEPTED"
    rig.clock.wall = NOW - 3600  # an hour behind the bundle it holds (skew is 5 minutes)
    rig.clock.mono += 20
    rig.show(card(city))
    assert rig.scans()[-1]["reason"] == "TRUST_STALE"
    assert "kiosk_clock_ok 0.0" in rig.kiosk.parts.metrics.page().decode()


def test_start_time_and_site_offset_come_from_the_running_kiosk(tmp_path: Path) -> None:
    from kiosk.app.wiring import build_kiosk

    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'[site]\nname = "Test"\nmode = "counter"\ntimezone = "America/Chicago"\n'
        f'[trust]\nroot_keys = ["{KEY}"]\nstate_dir = "{tmp_path / "state"}"\n'
        '[camera]\ntype = "synthetic"\n[display]\ndriver = "dummy"\n[metrics]\nlisten = ""\n'
    )
    before = time.time()
    kiosk = build_kiosk(load_config(config), sys.stdout, headless=True)
    try:
        kiosk.start()
        page = kiosk.parts.metrics.page().decode()
    finally:
        kiosk.close()
    started = re.search(r"^kiosk_start_time_seconds (\S+)$", page, re.M)
    assert started is not None and before - 1 <= float(started.group(1)) <= time.time()
    offset = datetime.datetime.now(ZoneInfo("America/Chicago")).utcoffset()
    assert offset is not None and offset.total_seconds() in (-6 * 3600, -5 * 3600)
    assert f"kiosk_site_utc_offset_seconds {offset.total_seconds()}" in page


# -- the endpoint off the box ------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("metrics-tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kiosk metrics")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "cert.pem").write_bytes(cert.public_bytes(pem))
    (folder / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder / "cert.pem", folder / "key.pem"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PASSWORD = "correct horse battery staple"


def remote_config(tmp_path: Path, certificate: tuple[Path, Path], allow: str) -> Path:
    from kiosk.app.audit import hash_password

    cert, key = certificate
    path = tmp_path / "kiosk.toml"
    path.write_text(
        f'[site]\nname = "Test"\nmode = "counter"\n[trust]\nroot_keys = ["{KEY}"]\n'
        f'[metrics]\nlisten = "0.0.0.0:{free_port()}"\nallow_remote = true\n'
        f'tls_cert = "{cert}"\ntls_key = "{key}"\n'
        f'basic_auth_user = "prometheus"\n'
        f'basic_auth_hash = "{hash_password(PASSWORD, iterations=100_000)}"\n'
        f'allow_from = ["{allow}"]\n'
    )
    return path


@pytest.fixture
def served(
    tmp_path: Path, certificate: tuple[Path, Path], request: pytest.FixtureRequest
) -> Iterator[tuple[int, Metrics]]:
    """The kiosk's metrics server as `kiosk run` starts it from the config file."""
    config = load_config(remote_config(tmp_path, certificate, request.param))
    metrics = Metrics()
    metrics.scans.labels("accepted", "ACCEPTED").inc()
    server = metrics.serve(config.metrics.listen, config.metrics)
    try:
        yield int(config.metrics.listen.rpartition(":")[2]), metrics
    finally:
        server.shutdown()


def answer(connection: socket.socket) -> bytes:
    """What the server says before it hangs up (a reset says nothing either)."""
    try:
        return connection.recv(65536)
    except ConnectionResetError:
        return b""


def scrape(port: int, cafile: Path, auth: tuple[str, str] | None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"https://127.0.0.1:{port}/metrics")
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = ssl.create_default_context(cafile=str(cafile))
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            return int(answer.status), bytes(answer.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())


@pytest.mark.parametrize("served", ["127.0.0.0/8"], indirect=True)
def test_remote_scrape_needs_tls_and_the_password(
    served: tuple[int, Metrics], certificate: tuple[Path, Path]
) -> None:
    port, _ = served
    cert = certificate[0]
    status, page = scrape(port, cert, ("prometheus", PASSWORD))
    assert status == 200
    assert b'kiosk_scans_total{outcome="accepted",reason="ACCEPTED"} 1.0' in page
    assert scrape(port, cert, ("prometheus", PASSWORD))[0] == 200  # again (remembered)
    for auth in (("prometheus", "wrong"), ("grafana", PASSWORD), None):
        status, body = scrape(port, cert, auth)
        assert status == 401 and b"kiosk_" not in body, auth
    # plain HTTP: the connection is closed without a byte of answer
    with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
        plain.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert answer(plain) == b""


@pytest.mark.parametrize("served", ["10.0.0.0/8"], indirect=True)
def test_an_address_outside_the_allow_list_gets_nothing(
    served: tuple[int, Metrics], certificate: tuple[Path, Path]
) -> None:
    port, _ = served
    with pytest.raises((OSError, http.client.HTTPException)):
        scrape(port, certificate[0], ("prometheus", PASSWORD))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        assert answer(raw) == b""  # closed at once: not even a TLS handshake


def test_plain_text_never_leaves_the_box(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    path = remote_config(tmp_path, certificate, "127.0.0.0/8")
    text = path.read_text()
    path.write_text(re.sub(r"^tls_(cert|key) = .*\n", "", text, flags=re.M))
    with pytest.raises(ConfigError, match=r"\[metrics\] listen .* needs tls_cert and tls_key"):
        load_config(path)
    # and the server itself refuses a non-loopback address without TLS, whatever called it
    with pytest.raises(ConfigError, match="not loopback"):
        Metrics().serve(f"0.0.0.0:{free_port()}")


def test_a_certificate_that_cannot_be_loaded_is_one_line(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    path = remote_config(tmp_path, certificate, "127.0.0.0/8")
    path.write_text(path.read_text().replace(str(certificate[1]), str(tmp_path / "missing.pem")))
    config = load_config(path)
    with pytest.raises(ConfigError, match=r"\[metrics\] tls_cert/tls_key: cannot load") as error:
        Metrics().serve(config.metrics.listen, config.metrics)
    assert "\n" not in str(error.value)


def test_the_documented_hash_recipe_makes_a_hash_the_kiosk_accepts() -> None:
    from kiosk.app.audit import PasswordHash

    docs = (ROOT / "docs" / "fleet.md").read_text()
    recipe = re.search(r"^\s*python3 -c '(.*)'$", docs, re.M)
    assert recipe is not None
    done = subprocess.run(
        [sys.executable, "-c", recipe.group(1)],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    made = PasswordHash.parse(done.stdout.strip())
    assert made.iterations == 600_000
    assert made.matches(PASSWORD) and not made.matches("wrong")


def test_kiosk_run_wiring_serves_the_remote_endpoint_with_tls(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    """The kiosk that `kiosk run` builds (kiosk.app.wiring) passes the [metrics] options to the
    server: off the box it answers only over TLS with the password."""
    from kiosk.app.wiring import build_kiosk

    path = remote_config(tmp_path, certificate, "127.0.0.0/8")
    text = path.read_text().replace(
        "[trust]\n", f'[trust]\nstate_dir = "{tmp_path / "state"}"\n', 1
    )
    path.write_text(text + '[camera]\ntype = "synthetic"\n[display]\ndriver = "dummy"\n')
    config = load_config(path)
    kiosk = build_kiosk(config, sys.stdout, headless=True)
    try:
        port = int(config.metrics.listen.rpartition(":")[2])
        status, page = scrape(port, certificate[0], ("prometheus", PASSWORD))
        assert status == 200 and b"kiosk_scans_total" in page
        assert scrape(port, certificate[0], None)[0] == 401
    finally:
        kiosk.close()
