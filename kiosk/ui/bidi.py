"""Unicode bidirectional levels from GNU FriBidi (the library raqm itself uses).

Pillow's raqm orders one string in one font; a line that needs several fonts (an Arabic
sentence with a Latin site name, a Gujarati date with ASCII digits) is shaped run by run, so
the kiosk needs the paragraph's embedding levels to place those runs. libfribidi0 is already
on the system for Pillow; this binds the three calls that compute levels (UAX #9, with
bracket pairs).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

_PAR_LTR = 0x110
_PAR_RTL = 0x111
_PAR_ON = 0x40  # let the first strong character decide


@cache
def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("fribidi") or "libfribidi.so.0"
    lib = ctypes.CDLL(name)
    u32p = ctypes.POINTER(ctypes.c_uint32)
    lib.fribidi_get_bidi_types.argtypes = [u32p, ctypes.c_int, u32p]
    lib.fribidi_get_bidi_types.restype = None
    lib.fribidi_get_bracket_types.argtypes = [u32p, ctypes.c_int, u32p, u32p]
    lib.fribidi_get_bracket_types.restype = None
    lib.fribidi_get_par_embedding_levels_ex.argtypes = [
        u32p,
        u32p,
        ctypes.c_int,
        u32p,
        ctypes.POINTER(ctypes.c_int8),
    ]
    lib.fribidi_get_par_embedding_levels_ex.restype = ctypes.c_int8
    return lib


def embedding_levels(text: str, rtl: bool | None = None) -> tuple[list[int], bool]:
    """Per-character levels (odd = right to left) and whether the paragraph is RTL.

    `rtl` None lets the first strong character decide (holder names); True/False force the
    paragraph direction (the screen's language).
    """
    n = len(text)
    if n == 0:
        return [], bool(rtl)
    lib = _lib()
    chars = (ctypes.c_uint32 * n)(*map(ord, text))
    types = (ctypes.c_uint32 * n)()
    brackets = (ctypes.c_uint32 * n)()
    levels = (ctypes.c_int8 * n)()
    lib.fribidi_get_bidi_types(chars, n, types)
    lib.fribidi_get_bracket_types(chars, n, types, brackets)
    base = ctypes.c_uint32(_PAR_ON if rtl is None else _PAR_RTL if rtl else _PAR_LTR)
    if lib.fribidi_get_par_embedding_levels_ex(types, brackets, n, ctypes.byref(base), levels) == 0:
        raise ValueError("fribidi could not resolve the text's levels")
    return list(levels), base.value == _PAR_RTL


def visual_order(levels: list[int]) -> list[int]:
    """Indexes of runs (given their levels) in left-to-right display order (UAX #9 L2)."""
    order = list(range(len(levels)))
    if not levels:
        return order
    lowest_odd = min(level for level in levels if level % 2) if any(x % 2 for x in levels) else 1
    for level in range(max(levels), lowest_odd - 1, -1):
        i = 0
        while i < len(order):
            if levels[order[i]] >= level:
                j = i
                while j < len(order) and levels[order[j]] >= level:
                    j += 1
                order[i:j] = reversed(order[i:j])
                i = j
            else:
                i += 1
    return order
