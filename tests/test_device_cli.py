"""`kiosk device test|list` against the simulators, healthy and faulty; device config.

Each failure has its own true sentence and what to do, on one ✗ line; the driver's own words
(pyserial, pymodbus) never reach that line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import serial

from kiosk import cli
from kiosk.app.config import load_device_config
from kiosk.core.errors import ConfigError
from tests.test_cli import run

EXAMPLE = Path(__file__).parents[1] / "config" / "devices.example.toml"
GATE_PORT = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0"
PRINTER_PORT = "/dev/serial/by-id/usb-EPSON_TM-T88V-if00"
OSDP = """
[gate]
type = "osdp"
[reader]
port = "/dev/null"
scbk = "5f3b0c1d2e4a69788796a5b4c3d2e1f0"
site_credential = "c17c4a2d00000001"
"""
DRIVER_WORDS = ("Errno", "Modbus Error", "Input/Output", "No response received", "Exception")


def failure(out: str) -> str:
    """The one ✗ line a failed test prints (a second, indented "detail:" line may follow)."""
    failed = [line for line in out.splitlines() if line.startswith("✗")]
    assert len(failed) == 1, out
    assert not any(word in failed[0] for word in DRIVER_WORDS), failed[0]
    return failed[0]


def device_config(tmp_path: Path, device: str, port: object, **replace: str) -> Path:
    """A config with `device` on `port` (the example's, or the OSDP reader's)."""
    if device == "reader":
        text = OSDP.replace("/dev/null", str(port))
    else:
        text = EXAMPLE.read_text().replace(
            GATE_PORT if device == "gate" else PRINTER_PORT, str(port)
        )
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "kiosk.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("device", "fault", "code", "says"),
    [
        ("gate", "none", 0, ["someone passed"]),
        ("gate", "no-passage", 1, ["nobody passed"]),
        (
            "gate",
            "silent",
            3,
            ["no answer from the relay module (unit 1)", "wiring", "power", "[gate] unit", "baud"],
        ),
        ("gate", "garbled", 3, ["answers arrive garbled", "baudrate", "parity", "termination"]),
        ("gate", "slow", 3, ["later than [gate] timeout_s (0.3 s)", "raise [gate] timeout_s"]),
        ("printer", "none", 0, ["test pass was sent"]),
        (
            "printer",
            "silent",
            3,
            ["printer: not answering", "switched on", "[printer] baudrate"],
        ),
        ("printer", "garbled", 3, ["status answer is garbled", "[printer] baudrate"]),
        ("printer", "slow", 3, ["later than [printer] status_timeout_s", "raise"]),
    ],
)
def test_device_test_with_simulators(device, fault, code, says, capsys) -> None:
    result, out, _ = run(
        cli.main,
        ["device", "test", device, "--config", EXAMPLE, "--simulate", fault, "--timeout", "2"],
        capsys,
    )
    assert result == code, out
    line = failure(out) if code else out
    assert all(phrase in line for phrase in says), out
    assert "dialout" not in out


@pytest.mark.parametrize(
    ("fault", "says"),
    [("paper-out", "✗ printer: out of paper — load a new roll"), ("cover-open", "cover is open")],
)
def test_a_printer_that_answers_no_paper_is_not_unreachable(fault: str, says: str, capsys) -> None:
    """It answered: exit 5 (needs a person), not 3 (could not be reached)."""
    code, out, _ = run(
        cli.main, ["device", "test", "printer", "--config", EXAMPLE, "--simulate", fault], capsys
    )
    assert code == 5, out
    assert out.startswith("✓ the printer answers") and says in failure(out)


@pytest.mark.parametrize(
    ("device", "section"), [("gate", "gate"), ("printer", "printer"), ("reader", "reader")]
)
def test_a_port_that_does_not_exist_fails_at_once(
    tmp_path: Path, device: str, section: str, capsys
) -> None:
    missing = tmp_path / "ttyNOPE"
    config = device_config(tmp_path, device, missing)
    code, out, err = run(
        cli.main, ["device", "test", device, "--config", config, "--timeout", "3"], capsys
    )
    assert code == 3
    # one line, and no gate was started: no "starting" line, no relock warning at its close
    assert out.splitlines() == [
        f"✗ {device}: no such port {missing} — plug the adapter in, or check the port name in "
        f"[{section}] port (`ls /dev/serial/by-id` lists the adapters plugged in)"
    ]
    assert "relock" not in err and "Traceback" not in err


def test_a_port_another_program_holds(tmp_path: Path, capsys) -> None:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    holder = serial.Serial(path, exclusive=True)  # like a running kiosk (pymodbus locks it)
    try:
        config = device_config(tmp_path, "gate", path)
        code, out, _ = run(
            cli.main, ["device", "test", "gate", "--config", config, "--timeout", "3"], capsys
        )
    finally:
        holder.close()
        os.close(master)
        os.close(slave)
    assert code == 3
    line = failure(out)
    assert f"{path} is in use by another program" in line and "systemctl stop kiosk" in line


def test_no_permission_says_which_group() -> None:
    """Only a permission error suggests a group, and the port's own group at that."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    # outside pytest's private tmp_path: the unprivileged user must reach the config
    folder = Path(tempfile.mkdtemp(prefix="kiosk-permission-"))
    folder.chmod(0o755)
    config = device_config(folder, "gate", path)
    config.chmod(0o644)
    kiosk = Path(sys.executable).parent / "kiosk"
    command = [str(kiosk), "device", "test", "gate", "--config", str(config), "--timeout", "3"]
    root = os.geteuid() == 0
    if root:  # root opens anything: run as nobody, on a port of group dialout, like a real one
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop root")
        os.chown(path, 0, 20)  # dialout's usual gid on Debian
        os.chmod(path, 0o660)
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    else:
        os.chmod(path, 0)
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=folder, timeout=60)
    finally:
        os.close(master)
        os.close(slave)
        shutil.rmtree(folder)
    assert done.returncode == 3, done
    line = failure(done.stdout)
    assert f"no permission to open {path}" in line, line
    if root:
        assert "is not in the port's group dialout" in line and "usermod -aG dialout" in line
    else:
        assert "dialout" not in line


def test_a_coil_the_module_does_not_have(tmp_path: Path, capsys) -> None:
    """A Modbus exception answer: the module is there and says no; the test says which."""
    config = device_config(tmp_path, "gate", GATE_PORT, **{"unlock_coil = 0": "unlock_coil = 99"})
    code, out, _ = run(
        cli.main,
        ["device", "test", "gate", "--config", config, "--simulate", "--timeout", "3"],
        capsys,
    )
    assert code == 3
    line = failure(out)
    assert "refused coil 99: it has no such coil" in line and "[gate] unlock_coil" in line
    assert "did not answer" not in out


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("silent", "nothing arrives from the panel"),
        ("garbled", "bytes arrive from the panel, but no secure session"),
    ],
)
def test_reader_faults_say_what_arrived(tmp_path: Path, fault: str, says: str, capsys) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(OSDP)
    code, out, _ = run(
        cli.main,
        ["device", "test", "reader", "--config", config, "--simulate", fault, "--timeout", "1.5"],
        capsys,
    )
    assert code == 3 and says in failure(out), out


def test_reader_test_with_the_panel_simulator(tmp_path: Path, capsys) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(OSDP)
    code, out, _ = run(
        cli.main, ["device", "test", "reader", "--config", config, "--simulate"], capsys
    )
    assert code == 0
    assert "panel sent led (granted)" in out and "granted the test read" in out


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


class OddModule:
    """A Modbus "module" on a raw pty that answers every request well-formed but wrongly:
    `unit_offset` answers as another unit, `coil_offset` echoes another coil."""

    def __init__(self, unit_offset: int = 0, coil_offset: int = 0) -> None:
        import threading
        import tty

        self.master, slave = os.openpty()
        tty.setraw(slave)
        self._slave = slave
        self.path = os.ttyname(slave)
        self.unit_offset, self.coil_offset = unit_offset, coil_offset
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        from firmware_bridge.modbus_faults import crc16

        buffered = b""
        while True:
            try:
                buffered += os.read(self.master, 256)
            except OSError:  # closed: the test is over
                return
            while len(buffered) >= 8:  # FC05 and FC02 requests are 8 bytes each
                request, buffered = buffered[:8], buffered[8:]
                unit = request[0] + self.unit_offset
                if request[1] == 5:
                    coil = int.from_bytes(request[2:4], "big") + self.coil_offset
                    body = bytes([unit, 5, *coil.to_bytes(2, "big"), *request[4:6]])
                else:
                    body = bytes([unit, 2, 1, 0])
                os.write(self.master, body + crc16(body))

    def close(self) -> None:
        os.close(self.master)
        os.close(self._slave)


@pytest.mark.parametrize(
    ("odd", "says"),
    [
        ({"unit_offset": 1}, "unit 2 answered a request for unit 1"),
        ({"coil_offset": 1}, "an answer that does not fit the request came back"),
    ],
)
def test_an_answer_to_another_request_is_said_in_bytes_not_python(
    tmp_path: Path, odd: dict[str, int], says: str, capsys
) -> None:
    module = OddModule(**odd)
    try:
        config = device_config(tmp_path, "gate", module.path)
        code, out, err = run(
            cli.main, ["device", "test", "gate", "--config", config, "--timeout", "2"], capsys
        )
    finally:
        module.close()
    assert code == 3, out
    assert says in failure(out)
    assert "object at 0x" not in out + err and "Response(" not in out + err
    assert "detail: heard 0" in out  # the bytes that came back, as hex
