"""The systemd units: what the issue requires of them, and systemd's own verifier."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "systemd"


def settings(name: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_kiosk_service() -> None:
    s = settings("kiosk.service")
    assert s["Type"] == ["notify"] and s["Restart"] == ["on-failure"]
    assert int(s["WatchdogSec"][0]) > 0
    assert s["User"] == ["kiosk"]
    assert set(s["SupplementaryGroups"][0].split()) >= {"video", "dialout", "render", "input"}
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert s[key] == ["yes"], key
    assert s["ProtectSystem"] == ["strict"] and s["StateDirectory"] == ["kiosk"]
    assert "kiosk run --config /etc/kiosk/kiosk.toml" in s["ExecStart"][0]
    assert s["LimitCORE"] == ["0"]  # no core files with holder data in them
    assert s["RestartPreventExitStatus"] == ["2"]  # a config error does not restart-loop


def test_trust_sync_timer_runs_the_sync_service() -> None:
    service, timer = settings("kiosk-trust-sync.service"), settings("kiosk-trust-sync.timer")
    assert "kiosk trust sync" in service["ExecStart"][0]
    assert service["Type"] == ["oneshot"] and service["User"] == ["kiosk"]
    assert timer["OnUnitActiveSec"] and timer["Persistent"] == ["true"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
@pytest.mark.parametrize(
    "unit", ["kiosk.service", "kiosk-trust-sync.service", "kiosk-trust-sync.timer"]
)
def test_systemd_accepts_the_units(unit: str) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", str(UNITS / unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "is not executable" not in line and "/opt/kiosk" not in line
    ]
    assert problems == []
