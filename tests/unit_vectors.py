"""Unit vectors whose distances are known by construction, shared by the matching and gallery tests."""

import math

import numpy as np


def at(degrees: float) -> np.ndarray:
    """A unit vector in the plane at this angle; two of them at angle t lie 2 sin(t/2) apart."""
    return np.array([math.cos(math.radians(degrees)), math.sin(math.radians(degrees))], np.float32)


def chord(degrees: float) -> float:
    """The distance between two unit vectors ``degrees`` apart."""
    return 2 * math.sin(math.radians(degrees) / 2)


def random_unit(n: int, d: int, seed: int) -> np.ndarray:
    """(n, d) random unit rows, float32."""
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)
