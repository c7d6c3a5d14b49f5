"""The built kiosk carries its assets: assets/ becomes the package `kiosk.assets`, the
catalogs are compiled to .mo by the build (setup.py), and an installed kiosk reads the same
words as a checkout without compiling anything at start."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kiosk.ui.i18n import LANGUAGES

ROOT = Path(__file__).resolve().parent.parent
TRANSLATED = [lang for lang in LANGUAGES if lang.code != "en"]
# The test environment has the build's requirements (setuptools, babel): no download.
PIP_WHEEL = (sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the source tree, without any compiled catalog in it."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("kiosk", "firmware_bridge", "assets"):
        shutil.copytree(
            ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo")
        )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [*PIP_WHEEL, "--wheel-dir", str(out), str(src)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("citycard_kiosk-*.whl")
    return found


def test_the_wheel_carries_compiled_catalogs_and_the_voice_folder(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for lang in TRANSLATED:
        assert f"kiosk/assets/locale/{lang.catalog}/LC_MESSAGES/kiosk.mo" in names, lang.code
    assert "kiosk/assets/voice/README.md" in names
    # the translators' sources stay in the repository
    assert not [n for n in names if n.endswith((".po", ".pot", ".tsv"))]


def test_the_wheel_carries_every_module(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {
        path.relative_to(ROOT).as_posix()
        for package in ("kiosk", "firmware_bridge")
        for path in (ROOT / package).rglob("*.py")
    }
    assert modules <= names
    assert "kiosk/assets/__init__.py" in names


def test_an_installed_kiosk_reads_the_same_words_without_compiling(
    wheel: Path, tmp_path: Path
) -> None:
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    probe = """
import json, sys
from kiosk.ui import strings as S
from kiosk.ui.i18n import LANGUAGES, LOCALE_DIR, Texts
words = {lang.code: [Texts(lang)(S.CANT_CHECK), Texts(lang).plural(S.BENEFITS, 3)]
         for lang in LANGUAGES}
print(json.dumps({"locale": str(LOCALE_DIR), "words": words,
                  "compiled_at_start": "babel.messages.pofile" in sys.modules}))
"""
    env = {**os.environ, "PYTHONPATH": str(installed)}
    ran = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        cwd=tmp_path,  # not the checkout, which `python -c` would put first on sys.path
        capture_output=True,
        text=True,
        check=True,
    )
    there = json.loads(ran.stdout)
    env["PYTHONPATH"] = ""
    here = json.loads(
        subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        ).stdout
    )
    assert Path(there["locale"]) == installed / "kiosk" / "assets" / "locale"
    assert Path(here["locale"]) == ROOT / "assets" / "locale"
    assert there["words"] == here["words"]
    assert there["words"]["es"][0] != there["words"]["en"][0]  # translated, not English
    assert not there["compiled_at_start"] and not here["compiled_at_start"]
