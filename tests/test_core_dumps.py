"""A crashing kiosk leaves no core file: holder data in freed memory never reaches disk."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiosk.app.doctor import check_swap
from kiosk.core.trust_state import TrustState
from kiosk.issuer.city import DAY_S, City, Holder
from kiosk.issuer.images import qr_image

BIN = Path(sys.executable).parent
MARKER = "Qzxv Coremarker"


def _unlimited_cores() -> None:
    # What a careless unit or shell would give the process: the kiosk must lower it itself.
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _cores(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith("core")]


@pytest.fixture
def cores_possible(tmp_path: Path) -> Path:
    """This machine writes core files to the crashing process's folder (the test's control)."""
    if Path("/proc/sys/kernel/core_pattern").read_text().strip() not in ("core", "core.%p"):
        pytest.skip("core files are piped elsewhere on this machine")
    control = tmp_path / "control"
    control.mkdir()
    subprocess.run(
        [sys.executable, "-c", "import os; os.abort()"], cwd=control, preexec_fn=_unlimited_cores
    )
    if not _cores(control):
        pytest.skip("this machine writes no core files at all")
    return tmp_path


def test_an_aborted_kiosk_run_leaves_no_core_file(cores_possible: Path) -> None:
    tmp = cores_possible
    now = int(time.time())
    city = City.init(tmp / "city", "us-il-chicago", "https://x.example/s/", now - DAY_S)
    card = city.issue(Holder(MARKER, "1971-02-03", lang="es"), now)
    TrustState(tmp / "state", [city.root.public_key]).import_bytes(city.bundle(now))
    frames = tmp / "frames"
    frames.mkdir()
    qr_image(card.text).save(frames / "card.png")
    config = tmp / "kiosk.toml"
    config.write_text(
        f'[site]\nname = "Core Test"\nmode = "counter"\n'
        f'[trust]\nroot_keys = ["{city.root.public_key.hex()}"]\nstate_dir = "{tmp / "state"}"\n'
        f'[camera]\ntype = "replay"\npath = "{frames}"\nfps = 10\n'
        f'[display]\ndriver = "dummy"\n[metrics]\nlisten = ""\n'
    )
    run_dir = tmp / "run"
    run_dir.mkdir()
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    kiosk = subprocess.Popen(
        [BIN / "kiosk", "run", "--headless", "--config", config],
        cwd=run_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=_unlimited_cores,
    )
    try:
        assert kiosk.stdout is not None
        deadline = time.monotonic() + 60
        for line in kiosk.stdout:  # audit lines: wait until the marker card was decided
            if '"event":"scan"' in line or time.monotonic() > deadline:
                break
        assert '"event":"scan"' in line and '"outcome":"accepted"' in line
        limits = Path(f"/proc/{kiosk.pid}/limits").read_text()
        core_line = next(x for x in limits.splitlines() if x.startswith("Max core file size"))
        assert core_line.split()[4:6] == ["0", "0"], core_line
        kiosk.send_signal(signal.SIGABRT)
        assert kiosk.wait(timeout=30) == -signal.SIGABRT
    finally:
        kiosk.kill()
        kiosk.wait()
    assert _cores(run_dir) == []


def test_doctor_warns_about_swap_on_disk(tmp_path: Path) -> None:
    swaps = tmp_path / "swaps"
    header = "Filename\tType\tSize\tUsed\tPriority\n"
    swaps.write_text(header + "/var/swap                               file\t102396\t0\t-2\n")
    check = check_swap(str(swaps))
    assert check.ok and check.warn and "/var/swap" in check.detail and "zram" in check.fix
    swaps.write_text(header + "/dev/zram0                              partition\t1\t0\t100\n")
    assert not check_swap(str(swaps)).warn
    swaps.write_text(header)
    assert not check_swap(str(swaps)).warn
