"""CityCard Kiosk: offline verification of city municipal ID cards."""

from importlib.resources import files
from pathlib import Path

__version__ = "0.1.0"


def asset(*parts: str) -> Path:
    """A file or folder of the kiosk's assets: the package `kiosk.assets`, which is assets/
    in a checkout and kiosk/assets/ in an installed kiosk (setup.py maps one to the other)."""
    return Path(str(files("kiosk.assets"))).joinpath(*parts)
