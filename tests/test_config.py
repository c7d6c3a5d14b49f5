"""The kiosk's TOML file: examples valid, every mistake named by file, section and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.cli import main
from kiosk.config import load_config
from kiosk.errors import ConfigError
from kiosk.policy import Mode, Stale

EXAMPLES = sorted(Path(__file__).resolve().parent.parent.glob("config/*-*.toml"))
KEY = "ab" * 32
MINIMAL = f'[site]\nname = "Test"\n[trust]\nroot_keys = ["{KEY}"]\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "validate", str(example)]) == 0
    assert "valid" in capsys.readouterr().out


def test_counter_example_builds_its_policy() -> None:
    config = load_config(next(p for p in EXAMPLES if "counter" in p.name))
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
        ("[display]\ndriver = 'fbcon'\n", "display.driver must be one of"),
        ("[display]\nsize = [100, 100]\n", "[display] size"),
        ("[camera]\ntype = 'webcam'\n", "[camera] type must be one of"),
        ("[camera]\nfps = true\n", "[camera] fps must be a number"),
        ("[metrics]\nlisten = '0.0.0.0:9108'\n", "is not loopback"),
        ("[metrics]\nlisten = 'nowhere'\n", "[metrics] listen must be host:port"),
        ("[policy]\nshow = ['name', 'serial']\n", "unknown holder field(s) ['serial']"),
        ("[policy]\nstale = 'sometimes'\n", "[policy]"),
        ("[policy]\nmin_age = '18'\n", "[policy] min_age must be a whole number"),
        ("[gate]\ntype = 'magic'\n", "[gate] type must be one of"),
        ("[site]\ntechnician_pin = '12'\n", "technician_pin must be 4 to 12 digits"),
        ("[display]\nfps = 0\n", "[display] fps must be positive"),
        ("[display]\nidle_cycle_s = 0\n", "[display] idle_cycle_s must be positive"),
        ("[camera]\nfps = -5\n", "[camera] fps must be positive"),
        ("[site]\ntechnician_pin = 1234\n", "[site] technician_pin must be a string"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, extra: str, message: str) -> None:
    text = MINIMAL + extra
    if extra.startswith("[site]"):
        text = f'[trust]\nroot_keys = ["{KEY}"]\n' + extra
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
        ('[site]\nmode = "turnstile"\n[trust]\nroot_keys = ["' + KEY + '"]\n', "[site] mode"),
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
        load_config(write(tmp_path, text))
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
    assert main(["config", "show", "--config", str(museum)]) == 0
    shown = capsys.readouterr().out
    assert "stale_grace_h = 72.0" in shown and "[reader]" in shown
    assert "00112233445566778899aabbccddeeff" not in shown  # the secure-channel key stays out


def test_site_options_reach_the_app(tmp_path: Path) -> None:
    from kiosk.wiring import settings_of

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
