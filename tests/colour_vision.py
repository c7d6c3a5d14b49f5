"""Colour-vision deficiency simulation (Machado, Oliveira & Fernandes 2009, severity 1.0)
and CIELAB distance, for checking that outcome colours stay apart for everyone."""

from __future__ import annotations

import numpy as np

MACHADO = {
    "protanopia": np.array(
        [
            [0.152286, 1.052583, -0.204868],
            [0.114503, 0.786281, 0.099216],
            [-0.003882, -0.048116, 1.051998],
        ]
    ),
    "deuteranopia": np.array(
        [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.011820, 0.042940, 0.968881],
        ]
    ),
    "tritanopia": np.array(
        [
            [1.255528, -0.076749, -0.178779],
            [-0.078411, 0.930809, 0.147602],
            [0.004733, 0.691367, 0.303900],
        ]
    ),
}


def _linear(rgb: tuple[int, int, int]) -> np.ndarray:
    c = np.array(rgb, dtype=float) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def simulate(rgb: tuple[int, int, int], vision: str) -> np.ndarray:
    """Linear RGB as seen with the given deficiency ("normal" for none)."""
    linear = _linear(rgb)
    return linear if vision == "normal" else np.clip(MACHADO[vision] @ linear, 0, 1)


def lab(linear: np.ndarray) -> np.ndarray:
    xyz = (
        np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
        @ linear
    )
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def distance(a: tuple[int, int, int], b: tuple[int, int, int], vision: str) -> float:
    return float(np.linalg.norm(lab(simulate(a, vision)) - lab(simulate(b, vision))))
