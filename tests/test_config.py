"""The kiosk's TOML file: examples valid, every mistake named by file, section and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.app.config import load_config
from kiosk.cli import main
from kiosk.core.errors import ConfigError
from kiosk.core.policy import Mode, Stale

EXAMPLES = sorted(Path(__file__).resolve().parent.parent.glob("config/*-*.toml"))
KEY = "ab" * 32
GATE = '[gate]\ntype = "modbus"\nport = "/dev/ttyUSB0"\n'
MINIMAL = f'[site]\nname = "Test"\n[trust]\nroot_keys = ["{KEY}"]\n' + GATE


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "validate", "--example", str(example)]) == 0
    assert "valid" in capsys.readouterr().out
    # without --example, the placeholder root key (and SCBK) is what a kiosk must not run with
    assert main(["config", "validate", str(example)]) == 2
    assert "placeholder" in capsys.readouterr().err


def test_counter_example_builds_its_policy() -> None:
    config = load_config(next(p for p in EXAMPLES if "counter" in p.name), example=True)
    policy = config.policy()
    assert policy.mode is Mode.COUNTER and policy.stale is Stale.GRACE
    assert policy.stale_grace_s == 72 * 3600
    assert config.devices.printer_type == "escpos"


def test_defaults_fill_a_minimal_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.site.languages == ("en",)
    assert config.camera.type == "v4l2"
    assert config.metrics.listen == "127.0.0.1:9108"
    assert config.policy().mode is Mode.GATE
    assert config.root_keys() == [bytes.fromhex(KEY)]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[site]\ncolour = 1\n", "[site] 'colour' is not a known option"),
        ("[camara]\ntype = 'v4l2'\n", "[camara] is not a known section"),
        ("[display]\nvolume = 'loud'\n", "[display] volume must be a number"),
        ("[display]\nvolume = 3\n", "[display] volume must be between 0 and 1"),
        ("[display]\ndriver = 'fbcon'\n", "[display] driver must be one of"),
        ("[display]\nsize = [100, 100]\n", "[display] size"),
        ("[camera]\ntype = 'webcam'\n", "[camera] type must be one of"),
        ("[camera]\nfps = true\n", "[camera] fps must be a number"),
        ("[metrics]\nlisten = '0.0.0.0:9108'\n", "is not loopback"),
        ("[metrics]\nlisten = 'nowhere'\n", "[metrics] listen must be host:port"),
        ("[policy]\nshow = ['name', 'serial']\n", "[policy] show[1] must be one of"),
        ("[policy]\nstale = 'sometimes'\n", "[policy]"),
        ("[policy]\nmin_age = '18'\n", "[policy] min_age must be a whole number"),
        ("[site]\ntechnician_pin = '12'\n", "technician_pin must be 4 to 12 digits"),
        ("[display]\nfps = 0\n", "[display] fps must be between 1 and 120"),
        ("[display]\nidle_cycle_s = 0\n", "[display] idle_cycle_s must be between 1 and 600"),
        ("[camera]\nfps = -5\n", "[camera] fps must be between 1 and 120"),
        ("[site]\ntechnician_pin = 1234\n", "[site] technician_pin must be a string"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, extra: str, message: str) -> None:
    text = MINIMAL + extra
    if extra.startswith("[site]"):
        text = f'[trust]\nroot_keys = ["{KEY}"]\n' + GATE + extra
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(path) in str(error.value)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[site]\nname = "x"\nlanguages = ["en", "de"]\n[trust]\nroot_keys = ["' + KEY + '"]\n',
            "unknown language 'de'",
        ),
        (
            '[site]\nmode = "counter"\nstaff_language = "fr"\n[trust]\nroot_keys = ["'
            + KEY
            + '"]\n',
            "[site] staff_language: unknown language 'fr'",
        ),
        ('[site]\nmode = "turnstile"\n[trust]\nroot_keys = ["' + KEY + '"]\n', "[site] mode"),
        ('[site]\nmode = "counter"\n', "[trust] root_keys needs"),
        ('[site]\nname = "x"\n', "[trust] root_keys needs"),
        ('[site]\nname = "x"\n[trust]\nroot_keys = ["abcd"]\n', "root_keys[0] must be 64 hex"),
        (
            '[site]\nname = "x"\n[trust]\nroot_keys = ["' + KEY + '"]\nbundle_url = "ftp://x"\n',
            "not an http(s) URL",
        ),
        ("[site\n", "not valid TOML"),
    ],
)
def test_site_and_trust_mistakes(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as error:
        load_config(write(tmp_path, text if text.startswith("[site\n") else text + GATE))
    assert message in str(error.value)


def test_validate_exit_code_and_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, MINIMAL + "[camera]\nzoom = 2\n")
    assert main(["config", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[camera] 'zoom'" in err


def test_show_prints_defaults_without_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    museum = next(p for p in EXAMPLES if "museum" in p.name)
    assert main(["config", "show", "--example", "--config", str(museum)]) == 0
    shown = capsys.readouterr().out
    assert "stale_grace_h = 72.0" in shown and "[reader]" in shown
    assert "00112233445566778899aabbccddeeff" not in shown  # the secure-channel key stays out


def test_site_options_reach_the_app(tmp_path: Path) -> None:
    from kiosk.app.wiring import settings_of

    text = MINIMAL.replace(
        'name = "Test"',
        'name = "Test"\nhold_during_result = false\ntechnician_pin = "1234"\nmode = "counter"',
    )
    settings = settings_of(load_config(write(tmp_path, text + "[policy]\nmin_age = 21\n")))
    assert settings.hold_during_result is False and settings.technician_pin == "1234"
    assert settings.mode is Mode.COUNTER
    assert {m: p.min_age for m, p in settings.policies.items()} == {Mode.GATE: 21, Mode.COUNTER: 21}


def test_show_fills_the_modes_defaults(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, MINIMAL.replace('name = "Test"', 'name = "Test"\nmode = "counter"'))
    assert main(["config", "show", "--config", str(path)]) == 0
    shown = capsys.readouterr().out
    assert 'show = ["age_flags", "benefits", "name"]  # the counter mode\'s default' in shown
    assert 'stale = "grace"  # the counter mode\'s default' in shown


# -- one schema: every number finite and bounded, every enum closed (issue 11) ---------------

READER = '[gate]\ntype = "osdp"\n[reader]\nport = "/dev/ttyUSB1"\nscbk = "' + "ab" * 16 + '"\n'
READER += 'site_credential = "c17c4a2d"\n'
BASE = f'[site]\nname = "Test"\n[trust]\nroot_keys = ["{KEY}"]\n'


@pytest.mark.parametrize(
    ("devices", "message"),
    [
        (GATE + 'pulse_ms = "300"\n', "[gate] pulse_ms must be a whole number"),
        (GATE + "pulse_ms = 5\n", "[gate] pulse_ms must be between 100 and 10000"),
        (GATE + 'baudrate = "fast"\n', "[gate] baudrate must be a whole number"),
        (GATE + "baudrate = 9601\n", "[gate] baudrate must be one of"),
        (GATE + 'mode = "blink"\n', "[gate] mode must be one of 'pulse', 'level'"),
        (GATE + "unit = 300\n", "[gate] unit must be between 1 and 247"),
        (GATE + "passage_window_s = nan\n", "[gate] passage_window_s must be a finite number"),
        (GATE + "grant_max_age_s = nan\n", "[gate] grant_max_age_s must be a finite number"),
        (GATE + 'grant_max_age_s = "1"\n', "[gate] grant_max_age_s must be a number"),
        (GATE + "timeout_s = inf\n", "[gate] timeout_s must be a finite number"),
        (GATE + 'parity = "X"\n', "[gate] parity must be one of"),
        (READER.replace("ab" * 16, "ab"), "[reader] scbk must be 16 bytes"),
        (READER + 'credential = "bogus"\n', "[reader] credential must be one of"),
        (READER + "address = 999\n", "[reader] address must be between 0 and 126"),
        ('[gate]\nport = "/dev/ttyUSB0"\nunit = 1\nunlock_coil = 0\n', "[gate] needs type ="),
        ("", "[site] mode = 'gate' needs a [gate]"),
        ('[gate]\ntype = "none"\n', "[site] mode = 'gate' needs a [gate]"),
        (READER.replace('"osdp"\n', '"osdp"\nport = "x"\n', 1), "(port) go in [reader]"),
        (GATE + '[reader]\nport = "x"\n', "[reader] is only read when [gate] type = 'osdp'"),
        (GATE + "[display]\nresult_s = nan\n", "[display] result_s must be a finite number"),
        (GATE + "[sync]\ntimeout_s = inf\n", "[sync] timeout_s must be a finite number"),
        (GATE + "[policy]\nage_flags = []\n", "[policy] age_flags needs 1 to 6 item(s)"),
        (GATE + "[policy]\nstale_grace_h = -1\n", "[policy] stale_grace_h must be between"),
        (GATE + '[printer]\ntype = "escpos"\nport = "p"\nbaudrate = 7\n', "[printer] baudrate"),
        (GATE + '[printer]\nport = "p"\n', "[printer] needs type ="),
    ],
)
def test_validate_refuses_what_run_could_not_run_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], devices: str, message: str
) -> None:
    path = write(tmp_path, BASE + devices)
    assert main(["config", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err and err.count("\n") == 1, err
    with pytest.raises(ConfigError):  # the very same checks at start-up
        load_config(path)


def test_the_osdp_example_section_is_valid(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE + READER))
    assert config.devices.gate_type == "osdp" and config.devices.reader.address == 101


def test_every_option_has_a_rule() -> None:
    """No number without bounds, no text without a length or a closed set of values."""
    import dataclasses
    import typing

    from firmware_bridge.escpos_printer import PrinterConfig
    from firmware_bridge.modbus_gate import ModbusGateConfig
    from firmware_bridge.osdp_reader import OsdpReaderConfig
    from kiosk.app.config import _INTERNAL, _SECTIONS, RULES

    sections = {**_SECTIONS, "gate": ModbusGateConfig, "reader": OsdpReaderConfig}
    sections["printer"] = PrinterConfig
    missing = []
    for name, cls in sections.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in _INTERNAL.get(name, set()) or (f.name == "path" and name == "trust"):
                continue
            text = str(hints[f.name])
            needs = any(t in text for t in ("int", "float", "str", "bytes"))
            if needs and text != "bool" and f.name not in RULES.get(name, {}):
                missing.append(f"[{name}] {f.name}")
    assert missing == []


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_show_loads_back_to_the_same_configuration(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "show", "--example", "--secrets", "--config", str(example)]) == 0
    shown = capsys.readouterr().out
    again = write(tmp_path, shown)
    first, second = load_config(example, example=True), load_config(again, example=True)
    for part in ("site", "trust", "camera", "display", "sync", "metrics"):
        assert getattr(first, part) == getattr(second, part), part
    assert first.policy() == second.policy()
    assert first.devices.gate == second.devices.gate
    assert first.devices.reader == second.devices.reader
    assert first.devices.printer == second.devices.printer
    assert (first.devices.gate_type, first.devices.printer_type) == (
        second.devices.gate_type,
        second.devices.printer_type,
    )
    assert "type = " in shown.split("[gate]")[1]
    # without --secrets the keys stay out, and what is shown still loads
    assert main(["config", "show", "--example", "--config", str(again)]) == 0
    assert "00112233445566778899aabbccddeeff" not in capsys.readouterr().out


def test_kiosk_run_refuses_the_same_file_at_start_with_exit_2(tmp_path: Path) -> None:
    """Exit 2 (the unit's RestartPreventExitStatus): systemd does not loop on it."""
    import subprocess
    import sys

    path = write(tmp_path, BASE + GATE + "passage_window_s = nan\n")
    kiosk = Path(sys.executable).parent / "kiosk"
    done = subprocess.run(
        [kiosk, "run", "--headless", "--config", path], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert f"{path}: [gate] passage_window_s must be a finite number" in done.stderr
    assert "Traceback" not in done.stderr


# -- found by the review ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("devices", "message"),
    [
        (GATE + "[display]\nresult_s = " + "9" * 400 + "\n", "result_s must be a finite number"),
        (GATE + '[metrics]\nlisten = "127.0.0.1:²"\n', "[metrics] listen must be host:port"),
        (GATE.replace('"/dev/ttyUSB0"', '"/dev/tty\\u0000USB0"'), "[gate] port must not hold"),
        (GATE + '[site]\nname = "Lib\\nrary"\n', "[site] name must not hold control"),
        (GATE + '[site]\nname = "\\u001b[1;32mOK"\n', "[site] name must not hold control"),
    ],
)
def test_odd_values_are_one_line_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], devices: str, message: str
) -> None:
    text = BASE + devices
    if "[site]\n" in devices:  # one [site] table only
        text = BASE.replace('[site]\nname = "Test"\n', "") + devices
    path = write(tmp_path, text)
    assert main(["config", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err


@pytest.mark.parametrize(
    "spelling", [str.upper, lambda k: " ".join(k[i : i + 2] for i in range(0, 64, 2))]
)
def test_the_placeholder_root_key_in_any_spelling_is_refused(tmp_path: Path, spelling) -> None:  # type: ignore[no-untyped-def]
    from kiosk.app.config import PLACEHOLDER_ROOT_KEY

    path = write(tmp_path, BASE.replace(KEY, spelling(PLACEHOLDER_ROOT_KEY)) + GATE)
    with pytest.raises(ConfigError, match="placeholder"):
        load_config(path)


def test_a_fifo_as_config_file_does_not_hang(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "kiosk.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(fifo)


def test_show_without_secrets_never_loads_as_a_weaker_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path, MINIMAL.replace('name = "Test"', 'name = "Test"\ntechnician_pin = "4711"')
    )
    assert main(["config", "show", "--config", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "4711" not in shown
    with pytest.raises(ConfigError, match="technician_pin"):
        load_config(write(tmp_path, shown))  # redeployed as is, it fails loudly


def test_a_metrics_address_that_cannot_be_bound_is_one_line_at_start(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    listen = f"127.0.0.1:{taken.getsockname()[1]}"
    text = BASE.replace('name = "Test"', 'name = "Test"\nmode = "counter"')
    text += f'state_dir = "{tmp_path / "state"}"\n'
    text += '[camera]\ntype = "synthetic"\n[display]\ndriver = "dummy"\n'
    text += f'[metrics]\nlisten = "{listen}"\n'
    path = write(tmp_path, text)
    kiosk = Path(sys.executable).parent / "kiosk"
    try:
        done = subprocess.run(
            [kiosk, "run", "--headless", "--config", path],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        taken.close()
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"[metrics] listen '{listen}': cannot listen" in done.stderr


def test_language_codes_are_case_insensitive(tmp_path: Path) -> None:
    """BCP 47 tags are case-insensitive: zh-hans is zh-Hans (issue 13)."""
    from kiosk.app.wiring import settings_of

    text = MINIMAL.replace('name = "Test"', 'name = "Test"\nlanguages = ["en", "zh-hans"]')
    settings = settings_of(load_config(write(tmp_path, text)))
    assert [x.code for x in settings.languages] == ["en", "zh-Hans"]


def test_staff_language_reaches_the_counter_settings(tmp_path: Path) -> None:
    """The staff panel's language comes from [site] staff_language, default English."""
    from kiosk.app.wiring import settings_of

    assert settings_of(load_config(write(tmp_path, MINIMAL))).staff_language.code == "en"
    text = MINIMAL.replace('name = "Test"', 'name = "Test"\nstaff_language = "ES"')
    assert settings_of(load_config(write(tmp_path, text))).staff_language.code == "es"


# -- issue 14: the metrics endpoint off the box, trust mirrors --------------------------------

REMOTE = (
    '[metrics]\nlisten = "0.0.0.0:9108"\nallow_remote = true\n'
    'tls_cert = "/etc/kiosk/metrics.pem"\ntls_key = "/etc/kiosk/metrics.key"\n'
    'basic_auth_user = "prometheus"\n'
    'basic_auth_hash = "pbkdf2_sha256$600000$c2FsdHNhbHQ$'
    + "A" * 43
    + '="\nallow_from = ["10.20.0.0/16", "2001:db8::/32"]\n'
)


def test_a_remote_metrics_endpoint_with_tls_a_password_and_an_allow_list_loads(
    tmp_path: Path,
) -> None:
    config = load_config(write(tmp_path, MINIMAL + REMOTE))
    assert config.metrics.allow_from == ("10.20.0.0/16", "2001:db8::/32")
    assert config.metrics.tls_cert == "/etc/kiosk/metrics.pem"
    assert "A" * 43 not in repr(config.metrics)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("allow_remote = true\n", ""), "is not loopback"),
        (('basic_auth_user = "prometheus"\n', ""), "basic_auth_user and basic_auth_hash"),
        (('allow_from = ["10.20.0.0/16", "2001:db8::/32"]\n', ""), "needs allow_from"),
        (("10.20.0.0/16", "10.20.0.1/16"), "allow_from[0] '10.20.0.1/16' is not a network"),
        (("10.20.0.0/16", "city hall"), "allow_from[0] 'city hall' is not a network"),
        (("pbkdf2_sha256$600000", "md5$600000"), "basic_auth_hash must be"),
        (("pbkdf2_sha256$600000", "pbkdf2_sha256$1000"), "basic_auth_hash must be"),
        (('"prometheus"', '"prom:etheus"'), "basic_auth_user must not contain ':'"),
        (('tls_key = "/etc/kiosk/metrics.key"\n', ""), "needs tls_cert and tls_key"),
    ],
)
def test_remote_metrics_mistakes_are_named(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    assert change[0] in REMOTE
    path = write(tmp_path, MINIMAL + REMOTE.replace(*change))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "[metrics]" in str(error.value) and message in str(error.value), str(error.value)


def test_loopback_metrics_may_use_tls_and_a_password_too(tmp_path: Path) -> None:
    text = MINIMAL + REMOTE.replace("0.0.0.0:9108", "127.0.0.1:9108").replace(
        "allow_remote = true\n", ""
    )
    assert load_config(write(tmp_path, text)).metrics.basic_auth_user == "prometheus"
    half = MINIMAL + '[metrics]\ntls_cert = "/etc/kiosk/metrics.pem"\n'
    with pytest.raises(ConfigError, match="needs tls_cert and tls_key"):
        load_config(write(tmp_path, half))


def test_config_show_hides_the_password_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, MINIMAL + REMOTE)
    assert main(["config", "show", "--config", str(path)]) == 0
    assert "A" * 43 not in capsys.readouterr().out
    assert main(["config", "show", "--secrets", "--config", str(path)]) == 0
    again = write(tmp_path, capsys.readouterr().out)
    assert load_config(again).metrics == load_config(path).metrics


MIRRORS = (
    'mirrors = ["https://trust.city.example/kiosk/", "https://cdn.example/city/kiosk/"]\n'
    'bundle_url = "bundle.cose"\nstatus_urls = ["status/1", "status/2"]\n'
)


def test_trust_mirrors_take_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL.replace("[trust]\n", "[trust]\n" + MIRRORS)))
    assert config.trust.mirrors[1] == "https://cdn.example/city/kiosk/"
    assert config.trust.status_urls == ("status/1", "status/2")


@pytest.mark.parametrize(
    ("trust", "message"),
    [
        ('bundle_url = "bundle.cose"\n', "'bundle.cose' is not an http(s) URL"),  # no mirrors
        (
            MIRRORS.replace('"bundle.cose"', '"https://id.example.gov/b"'),
            "paths inside each mirror",
        ),
        (MIRRORS.replace('"status/1"', '"/status/1"'), "paths inside each mirror"),
        (MIRRORS.replace("https://trust", "ftp://trust"), "[trust] mirrors[0]"),
    ],
)
def test_trust_mirror_mistakes_are_named(tmp_path: Path, trust: str, message: str) -> None:
    path = write(tmp_path, MINIMAL.replace("[trust]\n", "[trust]\n" + trust))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "[trust]" in str(error.value) and message in str(error.value), str(error.value)
