"""`kiosk doctor` on a healthy configuration and on each kind of trouble."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kiosk.cli import main
from kiosk.doctor import run_doctor
from kiosk.issuer.city import City
from kiosk.trust_state import TrustState
from tests.conftest import NOW


def write_config(
    tmp_path: Path, city: City, camera: str = 'type = "synthetic"\nfps = 30', extra: str = ""
) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(
        f'[site]\nname = "Doctor Test"\n[trust]\nroot_keys = ["{city.root.public_key.hex()}"]\n'
        f'state_dir = "{tmp_path / "state"}"\n[camera]\n{camera}\n{extra}'
    )
    return path


def doctor(path: Path, now: int = NOW) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = run_doctor(path, out, now=now, camera_wait_s=10)
    return code, out.getvalue().splitlines()


def test_healthy_kiosk(tmp_path: Path, city: City) -> None:
    TrustState(tmp_path / "state", [city.root.public_key]).import_bytes(city.bundle(NOW))
    code, lines = doctor(write_config(tmp_path, city))
    assert code == 0, lines
    assert all(line.startswith("✓") for line in lines[:-1])
    names = {line.split(":")[0][2:] for line in lines[:-1]}
    assert {"config", "trust data", "clock", "camera", "decoder", "fonts", "disk"} <= names
    assert lines[-1] == "all checks passed"


def test_missing_trust_and_wrong_clock(tmp_path: Path, city: City) -> None:
    code, lines = doctor(write_config(tmp_path, city))
    assert code == 1
    assert any(line.startswith("✗ trust data") and "kiosk trust sync" in line for line in lines)
    TrustState(tmp_path / "state", [city.root.public_key]).import_bytes(city.bundle(NOW))
    code, lines = doctor(write_config(tmp_path, city), now=NOW - 86400 * 30)
    assert code == 1
    assert any(line.startswith("✗ clock") and "timedatectl" in line for line in lines)


def test_missing_camera_and_serial_port(tmp_path: Path, city: City) -> None:
    TrustState(tmp_path / "state", [city.root.public_key]).import_bytes(city.bundle(NOW))
    path = write_config(
        tmp_path,
        city,
        camera=f'type = "replay"\npath = "{tmp_path / "no-such-folder"}"',
        extra=f'[gate]\ntype = "modbus"\nport = "{tmp_path / "ttyUSB9"}"\n',
    )
    code, lines = doctor(path)
    assert code == 1
    assert any(line.startswith("✗ camera") for line in lines)
    assert any(line.startswith("✗ gate") and "kiosk device list" in line for line in lines)


def test_bad_config_is_one_line(
    tmp_path: Path, city: City, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, city, extra="[oops]\n")
    assert main(["doctor", "--config", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("✗ config") and "[oops]" in out
