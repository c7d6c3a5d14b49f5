"""The app's view of the trust store: reloaded when a file in the state folder changes."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from kiosk.core.errors import KioskError
from kiosk.core.trust import TrustStore
from kiosk.core.trust_state import BUNDLES_DIR, LISTS_DIR, TrustState

log = logging.getLogger(__name__)

Stamp = tuple[tuple[str, int, int], ...]


def folder_stamp(state_dir: Path) -> Stamp:
    """Names, sizes and change times of every trust file: a new list is noticed even when
    it lands after the file that announced it."""
    found = []
    for path in (state_dir, state_dir / BUNDLES_DIR, state_dir / LISTS_DIR):
        try:
            entries = list(os.scandir(path))
        except OSError:
            continue
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                info = entry.stat(follow_symlinks=False)
                found.append((entry.path, info.st_size, info.st_mtime_ns))
    return tuple(sorted(found))


class TrustWatcher:
    """Holds the verified store the pins vouch for, or why there is none (`trouble`)."""

    def __init__(self, state: TrustState, every_s: float) -> None:
        self.state = state
        self.every_s = every_s
        self.store: TrustStore | None = None
        self.trouble: str | None = "no trust data installed"
        self._checked = -1e18
        self._stamp: Stamp | None = None

    def check(self, mono_now: float, force: bool = False) -> bool:
        """Reload if the folder changed (at most every `every_s`); True when reloaded."""
        if not force and mono_now - self._checked < self.every_s:
            return False
        self._checked = mono_now
        stamp = folder_stamp(self.state.dir)
        if not force and stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            self.store = self.state.load()
        except KioskError as exc:  # damaged, or signed by a root that is not pinned
            self.store = None
            self.trouble = str(exc)
            log.warning("trust data unusable: %s", exc)
        except Exception as exc:  # never keep trusting an old store we could not re-check
            self.store = None
            self.trouble = f"trust data could not be read ({type(exc).__name__})"
            log.exception("trust data unreadable")
        else:
            self.trouble = None if self.store else "no trust data installed"
        return True
