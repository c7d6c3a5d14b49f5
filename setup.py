"""The build's one step beyond pyproject.toml: the translation catalogs under assets/locale
are compiled from .po to .mo when the kiosk is built, so an installed kiosk never compiles
them at start. assets/ is installed as the package `kiosk.assets`."""

from __future__ import annotations

from pathlib import Path

from setuptools import find_namespace_packages, find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def compile_catalogs(locale: Path, out: Path) -> list[Path]:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(locale.glob("*/LC_MESSAGES/*.po")):
        mo = out / po.relative_to(locale).with_suffix(".mo")
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parts[-3])
        mo.parent.mkdir(parents=True, exist_ok=True)
        with mo.open("wb") as f:
            write_mo(f, catalog, use_fuzzy=False)
        written.append(mo)
    return written


class BuildWithCatalogs(build_py):
    def run(self) -> None:
        super().run()
        locale = ROOT / "assets" / "locale"
        if self.editable_mode:  # an editable install reads assets/ in the checkout itself
            compile_catalogs(locale, locale)
        else:
            compile_catalogs(locale, Path(self.build_lib) / "kiosk" / "assets" / "locale")


CODE = find_packages(include=["kiosk", "kiosk.*", "firmware_bridge", "firmware_bridge.*"])
# assets/ and its folders (data only: setuptools counts each folder as a package)
ASSETS = ["kiosk.assets", *(f"kiosk.assets.{p}" for p in find_namespace_packages("assets"))]

setup(
    packages=CODE + ASSETS,
    package_dir={"kiosk.assets": "assets"},
    cmdclass={"build_py": BuildWithCatalogs},
)
