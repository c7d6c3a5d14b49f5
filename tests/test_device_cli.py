"""`kiosk device test|list` against the simulators, healthy and faulty; device config."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk import cli
from kiosk.config import load_device_config
from kiosk.errors import ConfigError
from tests.test_cli import run

EXAMPLE = Path(__file__).parents[1] / "config" / "devices.example.toml"
OSDP = """
[gate]
type = "osdp"
[reader]
port = "/dev/null"
scbk = "5f3b0c1d2e4a69788796a5b4c3d2e1f0"
site_credential = "c17c4a2d00000001"
"""


@pytest.mark.parametrize(
    ("device", "fault", "code", "says"),
    [
        ("gate", "none", 0, "someone passed"),
        ("gate", "no-passage", 1, "nobody passed"),
        ("gate", "silent", 3, "did not answer"),
        ("gate", "garbled", 3, "did not answer"),
        ("printer", "none", 0, "test pass was sent"),
        ("printer", "paper-out", 3, "out of paper"),
        ("printer", "cover-open", 3, "cover is open"),
        ("printer", "silent", 3, "not answering"),
    ],
)
def test_device_test_with_simulators(device, fault, code, says, capsys) -> None:
    result, out, _ = run(
        cli.main,
        ["device", "test", device, "--config", EXAMPLE, "--simulate", fault, "--timeout", "2"],
        capsys,
    )
    assert (result, says in out) == (code, True), out


def test_reader_test_with_the_panel_simulator(tmp_path: Path, capsys) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(OSDP)
    code, out, _ = run(
        cli.main, ["device", "test", "reader", "--config", config, "--simulate"], capsys
    )
    assert code == 0
    assert "panel sent led (granted)" in out and "granted the test read" in out


def test_real_gate_missing_fails_clearly(capsys) -> None:
    code, out, _ = run(
        cli.main, ["device", "test", "gate", "--config", EXAMPLE, "--timeout", "0.5"], capsys
    )
    assert code == 3 and "did not answer" in out


def test_device_list(capsys) -> None:
    code, _, _ = run(cli.main, ["device", "list"], capsys)
    assert code == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[gate]\ntype = "modbus"\nport = "x"\ncoil = 3\n', "[gate] 'coil' is not a known option"),
        ('[gate]\ntype = "relay"\n', "[gate] type must be one of"),
        ('[gate]\ntype = "osdp"\n', "needs a [reader] section"),
        ('[gate]\ntype = "osdp"\n[reader]\nport = "x"\nscbk = "zz"\n', "scbk must be hex"),
        ('[gate]\ntype = "modbus"\n', "[gate]"),  # no port
        ("[gate\n", "not valid TOML"),
    ],
)
def test_config_errors_name_file_section_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_device_config(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_example_config_loads() -> None:
    config = load_device_config(EXAMPLE)
    assert config.gate_type == "modbus" and config.gate.pulse_ms == 300
    assert config.printer.baudrate == 19200 and config.reader is None


@pytest.mark.parametrize("device", ["gate", "printer", "reader"])
def test_testing_a_device_the_config_lacks_is_one_line(
    tmp_path: Path, device: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "kiosk.toml"
    other = "printer" if device == "gate" else "gate"
    path.write_text(
        f'[{other}]\ntype = "{"escpos" if other == "printer" else "modbus"}"\nport = "/dev/null"\n'
    )
    code, _, err = run(cli.main, ["device", "test", device, "--simulate", "--config", path], capsys)
    assert code == 2 and f"no {device} configured" in err and err.count("\n") == 1
