"""Process hardening for the processes that see holder data (`kiosk run`, `kiosk demo`).

Python cannot wipe a string: a holder's name stays in freed memory until it is reused. A
core dump would carry it to disk, so the process turns core dumps off for itself (RLIMIT_CORE
0) and marks itself non-dumpable (prctl PR_SET_DUMPABLE 0), which also closes /proc/PID/mem
to other processes of the same user. Swap is the other way to disk: docs/install-raspberry-pi.md
turns disk swap off and `kiosk doctor` warns while it is on.
"""

from __future__ import annotations

import ctypes
import logging
import resource
import sys

log = logging.getLogger(__name__)

PR_SET_DUMPABLE = 4


def forbid_core_dumps() -> bool:
    """No core file, no ptrace-style reads of this process. True when both took effect."""
    ok = True
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError) as exc:
        log.warning("could not turn core dumps off (RLIMIT_CORE): %s", exc)
        ok = False
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            log.warning("could not make the process non-dumpable (errno %d)", ctypes.get_errno())
            ok = False
    return ok


def swap_on_disk(proc_swaps: str = "/proc/swaps") -> list[str]:
    """Swap areas that are not zram (RAM-backed): where freed holder data could reach disk."""
    try:
        with open(proc_swaps) as swaps:
            lines = swaps.read().splitlines()[1:]
    except OSError:
        return []
    areas = [line.split()[0] for line in lines if line.strip()]
    return [a for a in areas if not a.startswith("/dev/zram")]
